"""The README is read on GitHub, where `make docs` never runs: its relative links must resolve on
their own. Every `docs/...md#anchor` named anywhere in the code must too, so a comment pointing at a
design rule or a seed's policy cannot rot. And no page names an issue or a session by number: the
docs are a guide, not a lab notebook. (`make docs` checks the links between the pages themselves.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
EXPLICIT_ID = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']|\{\s*#([\w-]+)[^}]*\}""")
NUMBERED = re.compile(r"(?i)\b(issue|session)\s*#?\d+")
# A docs page named in code or configuration, e.g. `docs/architecture/rules.md#rule-7`.
DOCS_REFERENCE = re.compile(r"\bdocs/(?:[\w-]+/)*[\w-]+\.md(?:#[\w-]+)?")
SOURCE_DIRS = ("libs", "services", "deploy", "bench", "tests")
SOURCE_SUFFIXES = {".py", ".yaml", ".yml", ".toml", ".j2", ".sh", ".js", ".html"}


def slug(heading: str) -> str:
    """The anchor of a heading, as both GitHub and MkDocs' toc make it for our headings."""
    text = re.sub(r"\{\s*#[\w-]+[^}]*\}", "", heading)  # an explicit id is not part of the text
    text = re.sub(r"[`*_]{1,2}(.+?)[`*_]{1,2}", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    found = {slug(h) for h in HEADING.findall(text)}
    found |= {a or b for a, b in EXPLICIT_ID.findall(text)}
    return found


def broken(source: Path, target: str) -> str | None:
    """Why `target`, linked from `source`, does not resolve; None when it does."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
        return None  # an external URL: not ours to check offline
    path_part, _, anchor = target.partition("#")
    page = (source.parent / path_part).resolve() if path_part else source
    if not page.exists():
        return f"{target}: no such file {shown(page)}"
    if anchor and page.suffix == ".md" and anchor not in anchors(page):
        return f"{target}: {shown(page)} has no anchor #{anchor}"
    return None


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def links(page: Path) -> list[str]:
    return MARKDOWN_LINK.findall(FENCE.sub("", page.read_text()))


def test_every_relative_link_of_the_readme_resolves() -> None:
    readme = REPO / "README.md"
    targets = links(readme)
    assert any(t.startswith("docs/") for t in targets), "the README should point into docs/"
    problems = [p for t in targets if (p := broken(readme, t))]
    assert not problems, "README.md: " + "; ".join(problems)


def test_every_docs_page_named_in_the_code_exists_with_its_anchor() -> None:
    problems = []
    for top in SOURCE_DIRS:
        for source in sorted((REPO / top).rglob("*")):
            if source.suffix not in SOURCE_SUFFIXES or ".venv" in source.parts or not source.is_file():
                continue
            for ref in DOCS_REFERENCE.findall(source.read_text(errors="replace")):
                if problem := broken(REPO / "README.md", ref):
                    problems.append(f"{source.relative_to(REPO)}: {problem}")
    assert not problems, "; ".join(problems)


PAGES = sorted([REPO / "README.md", *DOCS.rglob("*.md")])


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_no_page_names_an_issue_or_a_session_by_number(page: Path) -> None:
    hits = [
        f"line {n}: {m.group(0)!r}"
        for n, line in enumerate(page.read_text().splitlines(), 1)
        for m in NUMBERED.finditer(line)
    ]
    assert not hits, f"{page.relative_to(REPO)} names issues or sessions: " + "; ".join(hits)


def source_files() -> list[Path]:
    return [
        source
        for top in SOURCE_DIRS
        for source in sorted((REPO / top).rglob("*"))
        if source.suffix in SOURCE_SUFFIXES and ".venv" not in source.parts and source.is_file()
    ]


# "rule 7" or "seed 000" said in passing, not as the docs reference that holds it.
BARE_RULE_OR_SEED = re.compile(r"(?i)(?<![#\w/-])(?:design rule|rule|seed)[ -](\d+)\b")
THIS_FILE = Path(__file__).resolve()


def code_matching(pattern: re.Pattern[str]) -> list[str]:
    """`file:line: match` for each match in the code, configuration and tests (not this file)."""
    return [
        f"{source.relative_to(REPO)}:{n}: {m.group(0)!r}"
        for source in source_files()
        if source.resolve() != THIS_FILE
        for n, line in enumerate(source.read_text(errors="replace").splitlines(), 1)
        for m in pattern.finditer(line)
    ]


def test_no_code_or_comment_names_an_issue_or_a_session_by_number() -> None:
    hits = code_matching(NUMBERED)
    assert not hits, "; ".join(hits)


def test_a_design_rule_or_a_policy_is_cited_by_its_docs_page() -> None:
    """`docs/architecture/rules.md#rule-7`, `docs/policies.md#seed-000`: a reader can follow them
    (and the test above checks they exist); a bare "rule 7" or "seed 000" points nowhere."""
    hits = code_matching(BARE_RULE_OR_SEED)
    assert not hits, "; ".join(hits)


def test_the_checks_themselves_see_what_they_look_for(tmp_path: Path) -> None:
    """The link and anchor checks are only worth something if they can fail."""
    page = tmp_path / "page.md"
    page.write_text('# A title\n\n<a id="rule-1"></a>\n\n## Second `part`: here {#custom}\n')
    assert anchors(page) >= {"a-title", "rule-1", "custom"}
    assert broken(page, "page.md#rule-1") is None
    assert broken(page, "page.md#rule-2") is not None
    assert broken(page, "missing.md") is not None
    assert broken(page, "https://example.com/x.md#nowhere") is None
    assert links(page) == []
    assert NUMBERED.search("as Session 6 measured") and NUMBERED.search("see issue #11")
    assert not NUMBERED.search("seed 000, rule 7, the session ends")
    assert BARE_RULE_OR_SEED.search("(seed 000)") and BARE_RULE_OR_SEED.search("DESIGN rule 11")
    assert BARE_RULE_OR_SEED.search("Rule 7: errors")
    assert not BARE_RULE_OR_SEED.search("docs/policies.md#seed-000 and docs/architecture/rules.md#rule-7")
