"""A service is a folder under services/ and a handful of registrations; this test is the
checklist (docs/recipes.md, "A new service"): it names every place a new service still lacks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from supportdesk_contract.topics import SERVICE_NAMES
from supportdesk_devstack.config import SERVICES

REPO = Path(__file__).resolve().parents[2]
FOLDERS = sorted(p.parent for p in (REPO / "services").glob("*/pyproject.toml"))


def package_of(folder: Path) -> str:
    return folder.name.replace("-", "_")


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_every_service_is_registered_everywhere(folder: Path) -> None:
    name, package = folder.name, package_of(folder)
    tools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]
    makefile = (REPO / "Makefile").read_text()
    helm_values = yaml.safe_load((REPO / "deploy/helm/supportdesk/values.yaml").read_text())
    compose = yaml.safe_load((REPO / "deploy/compose.yaml").read_text())
    readme = (REPO / "README.md").read_text()
    architecture = (REPO / "docs/architecture/index.md").read_text()
    contracts = tools["importlinter"]["contracts"]

    def in_contract(name_part: str, key: str, module: str) -> bool:
        """The import contract whose name contains `name_part` lists `module` under `key`."""
        return any(name_part in c["name"] and module in c.get(key, []) for c in contracts)

    missing = [
        where
        for where, present in [
            ("its package folder services/<name>/<package>", (folder / package / "__init__.py").exists()),
            (
                "the same shape: domain/, service_layer/ (with views and workers), adapters/tables.py, "
                "entrypoints/app.py, migrations/",
                all(
                    any((folder / package / alt).exists() for alt in part.split("|"))
                    for part in (
                        "domain",
                        "service_layer",
                        "service_layer/views.py",
                        "service_layer/workers.py|service_layer/workers/__init__.py",
                        "adapters/tables.py",
                        "entrypoints/app.py",
                        "migrations",
                    )
                ),
            ),
            ("Makefile PACKAGES", f"services/{name}" in makefile),
            ("pyproject.toml [tool.mypy] files", f"services/{name}/{package}" in tools["mypy"]["files"]),
            ("pyproject.toml [tool.mypy] mypy_path", f"services/{name}" in tools["mypy"]["mypy_path"]),
            ("pyproject.toml isort known-first-party", package in tools["ruff"]["lint"]["isort"]["known-first-party"]),
            ("devstack config SERVICES (port, make run)", any(s.name == name for s in SERVICES)),
            ("supportdesk_contract.topics.SERVICE_NAMES (its dead-letter topic)", name in SERVICE_NAMES),
            ("the Helm chart's values.yaml services", name in helm_values["services"]),
            ("deploy/compose.yaml services", name in compose["services"]),
            ("the README's service table", re.search(rf"^\| {re.escape(name)} \| \d+ \|", readme, re.MULTILINE)),
            (
                "the service table in docs/architecture/index.md",
                re.search(rf"^\| \[{re.escape(name)}\]\(", architecture, re.M),
            ),
            (
                "import contract: services never import each other",
                in_contract("never import each other", "modules", package),
            ),
            ("import contract: the layers within a service", in_contract("Within a service", "containers", package)),
            ("import contract: a pure domain", in_contract("domain is pure", "source_modules", f"{package}.domain")),
            (
                "import contract: routes do not touch the database",
                in_contract("Routes do not touch", "source_modules", f"{package}.entrypoints.routes"),
            ),
        ]
        if not present
    ]
    assert not missing, f"service {name} is missing from: " + "; ".join(missing)
