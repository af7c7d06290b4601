"""`<service> rebuild`: the whole run (shadow, replay, comparison, optional swap) and its report."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from aiokafka import TopicPartition

from supportdesk_contract.clock import Clock, SystemClock
from supportdesk_messaging.db import connect, drop_database, service_url
from supportdesk_service.migrations import migrate
from supportdesk_service.rebuild.compare import DerivedEvents, TableComparison, compare, derived_events, report
from supportdesk_service.rebuild.kafka import group_offsets
from supportdesk_service.rebuild.replay import Replayed, replay
from supportdesk_service.rebuild.spec import RebuildSpec
from supportdesk_service.rebuild.swap import Swapped, SwapRefused, swap
from supportdesk_service.rebuild.tables import copy_configuration
from supportdesk_service.settings import ServiceSettings

SHADOW_SUFFIX = "__rebuild"


@dataclass
class Rebuilt:
    shadow: str
    replayed: Replayed
    comparisons: list[TableComparison]
    live_group: dict[TopicPartition, int]
    derived: DerivedEvents
    unreplayed: list[tuple[str, int]]
    swapped: Swapped | None = None

    @property
    def identical(self) -> bool:
        return all(t.same for t in self.comparisons)


async def unreplayed(settings: ServiceSettings, spec: RebuildSpec) -> list[tuple[str, int]]:
    if not spec.unreplayed:
        return []
    live = await connect(service_url(settings.database_url, settings.database_name))
    try:
        counted = [(u.what, int(await live.fetchval(u.count_sql))) for u in spec.unreplayed]
    finally:
        await live.close()
    return [(what, n) for what, n in counted if n]


def shadow_name(settings: ServiceSettings) -> str:
    return settings.database_name[: 63 - len(SHADOW_SUFFIX)] + SHADOW_SUFFIX


async def rebuild(
    spec: RebuildSpec,
    settings: ServiceSettings,
    *,
    swap_in: bool = False,
    keep: bool = False,
    force: bool = False,
    show: int = 5,
    out: TextIO = sys.stderr,
    stamp: Callable[[], str] = lambda: uuid.uuid4().hex[:8],
    clock: Clock | None = None,
) -> Rebuilt:
    clock = clock or SystemClock()
    shadow = shadow_name(settings)
    await drop_database(settings.database_url, shadow)  # a leftover of an earlier run
    shadow_settings = settings.model_copy(update={"database_name": shadow})
    await asyncio.to_thread(migrate, shadow_settings, spec.migrations)
    await copy_configuration(settings, spec, shadow)
    replayed = await replay(spec, settings, shadow, out=out)
    live_group = await group_offsets(settings.kafka_bootstrap_servers, settings.topic_prefix + spec.service)
    comparisons = await compare(settings, spec, shadow, show=show)
    derived = await derived_events(settings, shadow)
    result = Rebuilt(shadow, replayed, comparisons, live_group, derived, await unreplayed(settings, spec))
    if swap_in and result.unreplayed and not force:
        what = "; ".join(f"{n:,} {w}" for w, n in result.unreplayed)
        raise SwapRefused(f"a swap would lose what the rebuild cannot replay: {what} (--force to swap anyway)")
    if swap_in:
        result.swapped = await swap(settings, spec, shadow, replayed.applied, stamp(), clock)
    elif not keep:
        await drop_database(settings.database_url, shadow)
    return result


def offsets_note(rebuilt: Rebuilt) -> str:
    """Where the live group stands against what the shadow applied: a live group ahead explains
    differences (the live read model has events the shadow has not seen)."""
    applied = rebuilt.replayed.applied
    behind = sum(max(0, n - rebuilt.live_group.get(tp, 0)) for tp, n in applied.items())
    ahead = sum(max(0, rebuilt.live_group[tp] - n) for tp, n in applied.items() if tp in rebuilt.live_group)
    if not behind and not ahead:
        return "the live consumer group stands where the shadow does"
    return f"the live consumer group is {behind:,} messages behind and {ahead:,} ahead of the shadow"


def run_command(
    spec_for: Callable[[], RebuildSpec],
    settings: ServiceSettings,
    *,
    swap_in: bool,
    keep: bool,
    show: int,
    force: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """`<service> rebuild`: 0 when identical (or swapped), 1 when different, 2 when a swap was refused."""
    spec = spec_for()
    try:
        rebuilt = asyncio.run(rebuild(spec, settings, swap_in=swap_in, keep=keep, force=force, show=show, out=err))
    except SwapRefused as e:
        print(f"{spec.service} rebuild: swap refused: {e}", file=err)
        print(f"the shadow database {shadow_name(settings)} is left for inspection", file=err)
        return 2
    print(report(rebuilt.comparisons), file=out)
    print(offsets_note(rebuilt), file=out)
    d = rebuilt.derived
    print(
        f"outbox: the rebuild derived {d.derived:,} events (never published), {d.known:,} with the id of a live "
        f"outbox row, {d.new:,} new",
        file=out,
    )
    for what, n in rebuilt.unreplayed:
        print(f"not replayed (the live service decided them on commands; their rows differ): {n:,} {what}", file=out)
    for refused in rebuilt.replayed.refused:
        print(f"refused by the handlers (a dead letter of the live service too): {refused}", file=out)
    if rebuilt.swapped is not None:
        s = rebuilt.swapped
        print(
            f"swapped: {settings.database_name} is the rebuilt database; the old one is {s.replaced} "
            f"(drop it when satisfied). Outbox: {s.outbox_rows:,} live rows kept, {s.new_events:,} events "
            "only the rebuild derived, published when the service starts.",
            file=out,
        )
        if s.dead_letters_applied:
            print(
                f"{s.dead_letters_applied:,} dead letters the rebuild applied are marked redriven "
                "(by 'rebuild', outcome applied)",
                file=out,
            )
        return 0
    if keep:
        print(f"the shadow database {rebuilt.shadow} is kept for inspection", file=out)
    print("identical" if rebuilt.identical else "DIFFERENT", file=out)
    return 0 if rebuilt.identical else 1
