# Fixtures on the real servers (Kafka, PostgreSQL) for every test in the repository.
import pytest

pytest_plugins = ["supportdesk_devstack.testing"]


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/chaos/conftest.py: pytest reads options only from conftests it loads first.
    parser.addoption(
        "--chaos",
        choices=("quick", "bounded", "full"),
        default="quick",
        help="chaos scenarios (tests/chaos): quick = the chaos_quick subset at bounded scale (what `make test` "
        "runs), bounded = every scenario at bounded scale, full = every scenario at full scale (`make chaos`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # `sla-clock preview` keeps validated policies in the user's cache directory; the suite's
    # command-line runs (and the services it starts, which inherit this) keep theirs in .data.
    import os
    from pathlib import Path

    os.environ.setdefault("SLA_CLOCK_POLICY_CACHE", str(Path(__file__).parent / ".data" / "policy-cache"))
    # The suite opens hundreds of tickets from 127.0.0.1: the apps it builds in process are not
    # rate limited (the processes it starts are not either: Sandbox.env). The rate-limit tests turn
    # them on in their own settings.
    os.environ["SUPPORTDESK_RATE_LIMITS"] = "off"
