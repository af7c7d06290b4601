"""Configuration files in YAML, validated by a pydantic model, with errors that name the file,
the line and the field (`rules.yaml:12: priority.3.set.priority: Input should be ...`).

Read as YAML 1.2 (ruamel.yaml), as people write it: under YAML 1.1 (PyYAML) the key `on` of a
one-off holiday is the boolean true, `yes`/`no`/`off` are booleans and `9:00` is the number 540.
A key given twice is an error rather than the last one silently winning."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    pass


class _NoAliasComposer(Composer):
    """Refuses `*alias`: a few kilobytes of nested aliases expand to billions of nodes for whatever
    walks the data next (the billion laughs)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            raise ComposerError(None, None, "aliases (*name) are not accepted here", event.start_mark)
        return super().compose_node(parent, index)


def _yaml(aliases: bool = True) -> YAML:
    loader = YAML(typ="safe", pure=True)  # pure: the one loader that implements YAML 1.2
    loader.version = (1, 2)
    if not aliases:
        loader.Composer = _NoAliasComposer
        loader.max_depth = 64
    return loader


def load_text(text: str, aliases: bool = True) -> Any:
    """The data of a YAML 1.2 document (mappings, lists, strings, numbers, booleans, dates);
    `aliases=False` for text from outside (a draft sent over HTTP): an alias is an error."""
    return _yaml(aliases).load(text)


def _line_of(root: Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest YAML node on the error's path."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, MappingNode):
            match = next((v for k, v in node.value if str(k.value) == str(part)), None)
            if match is None:
                key = next((k for k, _ in node.value if str(k.value) == str(part)), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def parse_yaml(text: str, source: str, model: type[M], aliases: bool = True) -> M:
    try:
        data = load_text(text, aliases)
    except YAMLError as e:
        mark = e.problem_mark if isinstance(e, MarkedYAMLError) else None
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = e.problem if isinstance(e, MarkedYAMLError) and e.problem else str(e)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        # The nodes, for the lines to name, only when there is something to name: composing the
        # document again costs as much as loading it (ruamel.yaml is pure Python).
        root = _yaml().compose(text)
        problems = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            field = ".".join(str(p) for p in loc) or "(top)"
            problems.append(f"{source}:{_line_of(root, loc)}: {field}: {err['msg']}")
        raise ConfigError("\n".join(problems)) from None


def load_yaml(path: str | Path, model: type[M]) -> M:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    return parse_yaml(text, str(p), model)
