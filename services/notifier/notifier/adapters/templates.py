"""Rendering notifications with Jinja2. Each template's first line is `Subject: ...`; the rest is
the body. NOTIFIER_TEMPLATE_DIR overrides any shipped template by file name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class Templates:
    def __init__(self, override_dir: str = "") -> None:
        loaders = [FileSystemLoader(override_dir)] if override_dir else []
        self.env = Environment(
            loader=ChoiceLoader([*loaders, PackageLoader("notifier", "templates")]),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )

    def check(self, name: str) -> None:
        """Raises TemplateNotFound (naming it) unless the template exists."""
        self.env.get_template(f"{name}.txt.j2")

    def render(self, name: str, **context: Any) -> Rendered:
        text = self.env.get_template(f"{name}.txt.j2").render(**context)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject: "):
            raise ValueError(f"template {name} must start with a 'Subject: ' line")
        return Rendered(first.removeprefix("Subject: ").strip(), body.strip() + "\n")
