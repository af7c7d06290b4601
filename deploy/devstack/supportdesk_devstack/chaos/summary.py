"""A scenario's verdict (every broken invariant, with the counts of its summary row) and the table
of rows printed at the end of the session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .traffic import Sent


@dataclass
class Row:
    scenario: str
    sent: int
    acknowledged: int
    found: int
    duplicates: int
    republished: int
    recover_s: float | None
    verdict: str

    def markdown(self) -> str:
        recover = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        return (
            f"| {self.scenario} | {self.sent} | {self.acknowledged} | {self.found} | {self.duplicates} "
            f"| {self.republished} | {recover} | {self.verdict} |"
        )


HEADER = (
    "| scenario | tickets sent | acknowledged | found in every read model | duplicates | republished "
    "| time to recover (s) | verdict |\n|---|---|---|---|---|---|---|---|"
)
SUMMARY: list[Row] = []  # one row per scenario run in this session, printed at its end


def summary_markdown(rows: Sequence[Row]) -> str:
    return "\n".join([HEADER, *(r.markdown() for r in rows)]) + "\n"


@dataclass
class Verdict:
    scenario: str
    sent: list[Sent]
    failures: list[str] = field(default_factory=list)
    found: int = 0
    duplicates: int = 0  # effects twice: a ticket opened twice, a mail sent twice
    # Events a relay sent again because a crash or a database restart came between publishing them
    # and marking them published: delivery is at least once by design (consumers' inboxes drop
    # them). Two relays publishing at once is tested where it can be seen: the messaging library's
    # test_relay_liveness (one active relay, each event once, through a restart).
    republished: int = 0
    recover_s: float | None = None
    # Mails and webhooks sent again, with the same Message-ID / webhook-id, by a notifier replica
    # taking over a send that a SIGKILLed one had made but not yet recorded (SMTP and HTTP have no
    # transaction to share with PostgreSQL: that window is at least once). Only a copy with a
    # notifier kill between it and the previous copy counts here; any other second copy fails.
    resent: int = 0

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def row(self) -> Row:
        acked = sum(1 for s in self.sent if s.acknowledged)
        verdict = "ok" if not self.failures else f"FAIL ({len(self.failures)})"
        return Row(
            self.scenario, len(self.sent), acked, self.found, self.duplicates, self.republished, self.recover_s, verdict
        )

    def conclude(self) -> None:
        """Add the summary row, then fail the test with every broken invariant at once."""
        row = self.row()
        SUMMARY.append(row)
        print(f"\n{HEADER}\n{row.markdown()}")
        if self.failures:
            raise AssertionError(f"chaos scenario {self.scenario}:\n- " + "\n- ".join(self.failures))
