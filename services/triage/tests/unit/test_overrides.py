"""An agent's override of triage, without a database: one event per changed field, none for a
field set to what it already is."""

from supportdesk_contract.catalogue import Priority, PriorityChanged, RequestType, TriageOverridden
from triage.domain.overrides import CurrentTriage, Override, override

NOW = CurrentTriage(Priority.NORMAL, RequestType.QUESTION, "first-level")


def test_each_changed_field_is_one_event_with_who_and_why() -> None:
    done = override(NOW, Override("customer is down", Priority.URGENT, RequestType.PROBLEM, "technical"), "ann")
    assert done.events == [
        PriorityChanged(priority=Priority.URGENT, previous=Priority.NORMAL, by="ann", reason="customer is down"),
        TriageOverridden(
            field="request_type", value="problem", previous="question", by="ann", reason="customer is down"
        ),
        TriageOverridden(field="queue", value="technical", previous="first-level", by="ann", reason="customer is down"),
    ]
    assert done.changes == {
        "priority": "urgent",
        "priority_set_by": "ann",
        "rule": "override by ann",
        "request_type": "problem",
        "queue": "technical",
    }


def test_setting_what_is_already_there_decides_nothing() -> None:
    done = override(NOW, Override("same", Priority.NORMAL, RequestType.QUESTION, "first-level"), "ann")
    assert (done.events, done.changes) == ([], {})


def test_only_the_fields_given_change() -> None:
    done = override(NOW, Override("wrong team", queue="billing"), "bob")
    assert [type(e) for e in done.events] == [TriageOverridden]
    assert done.changes == {"queue": "billing"}
