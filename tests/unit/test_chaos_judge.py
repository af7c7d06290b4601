"""The chaos suite's judge forgives a second copy of a notification only when a notifier was
killed in the moment after the first copy arrived (sent, not yet recorded), not for any kill at
any time between the copies (that excuse would be too broad)."""

from supportdesk_devstack.chaos.judge import MID_SEND_WINDOW, unexplained_copies


def test_a_notifier_killed_just_after_the_first_copy_explains_the_second() -> None:
    assert unexplained_copies([("notifier", 100.5)], {"m1": [100.0, 190.0]}) == (set(), 1)


def test_a_notifier_killed_long_after_the_first_copy_does_not() -> None:
    assert unexplained_copies([("notifier", 100.0 + MID_SEND_WINDOW + 5)], {"m1": [100.0, 190.0]}) == ({"m1"}, 0)


def test_another_service_killed_does_not() -> None:
    assert unexplained_copies([("escalation", 100.5)], {"m1": [100.0, 190.0]}) == ({"m1"}, 0)


def test_a_kill_before_the_first_copy_does_not() -> None:
    assert unexplained_copies([("notifier", 99.0)], {"m1": [100.0, 190.0]}) == ({"m1"}, 0)
