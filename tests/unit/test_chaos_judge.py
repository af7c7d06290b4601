"""The chaos suite's judge forgives a second copy of a notification only when a notifier was
killed in the moment after the first copy arrived (sent, not yet recorded), not for any kill at
any time between the copies (session 3's review: that excuse was too broad)."""

from pathlib import Path
from typing import Any

from supportdesk_devstack.chaos import MID_SEND_WINDOW, Desk
from supportdesk_devstack.testing import Sandbox, SmtpSink


def desk(kills: list[tuple[str, float]]) -> Desk:
    servers: Any = None
    d = Desk(servers, Sandbox(servers, prefix="judge."), Path("."), SmtpSink())
    d.kills = kills
    return d


def test_a_notifier_killed_just_after_the_first_copy_explains_the_second() -> None:
    judge = desk([("notifier", 100.5)])
    assert judge.unexplained_copies({"m1": [100.0, 190.0]}) == (set(), 1)


def test_a_notifier_killed_long_after_the_first_copy_does_not() -> None:
    judge = desk([("notifier", 100.0 + MID_SEND_WINDOW + 5)])
    assert judge.unexplained_copies({"m1": [100.0, 190.0]}) == ({"m1"}, 0)


def test_another_service_killed_does_not() -> None:
    judge = desk([("escalation", 100.5)])
    assert judge.unexplained_copies({"m1": [100.0, 190.0]}) == ({"m1"}, 0)


def test_a_kill_before_the_first_copy_does_not() -> None:
    judge = desk([("notifier", 99.0)])
    assert judge.unexplained_copies({"m1": [100.0, 190.0]}) == ({"m1"}, 0)
