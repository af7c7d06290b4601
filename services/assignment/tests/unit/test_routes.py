"""What the routes parse themselves: the version an If-Match names, and who a caller is."""

from types import SimpleNamespace
from typing import Any

import pytest

from assignment.entrypoints.routes.tickets import _version
from assignment.service_layer.desk import agents_by_name
from supportdesk_service.problems import Problem


@pytest.mark.parametrize(("header", "version"), [(None, None), ("*", None), ('"3"', 3), ('W/"12"', 12), ("7", 7)])
def test_if_match_names_a_version_or_any(header: str | None, version: int | None) -> None:
    assert _version(header) == version


def test_an_if_match_that_is_no_version_is_refused_naming_the_header() -> None:
    with pytest.raises(Problem) as refused:
        _version('"abc"')
    assert refused.value.status == 422 and refused.value.extra == {"field": "If-Match"}


def _row(agent_id: str, **profile: Any) -> Any:
    return SimpleNamespace(agent_id=agent_id, profile=profile)


def test_a_caller_is_the_agent_whose_id_email_or_subject_is_their_name() -> None:
    rows = [_row("anna", email="Anna@X.example", subject="idp|123"), _row("jonas", email="jonas@x.example")]
    assert agents_by_name(rows, "anna").agent_id == "anna"
    assert agents_by_name(rows, "anna@x.example").agent_id == "anna"  # emails ignore case
    assert agents_by_name(rows, "idp|123").agent_id == "anna"
    assert agents_by_name(rows, "jonas@x.example").agent_id == "jonas"
    assert agents_by_name(rows, "stranger") is None
