"""Loading SLA policies from YAML, validated, with errors that name the file, line and field."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_calendar.holidays import (
    US_FEDERAL,
    DaysAfter,
    FixedDate,
    Holiday,
    HolidaySet,
    NthWeekday,
    Observance,
    OneOff,
)
from supportdesk_calendar.spelling import DAYS, days_of, minutes_of
from supportdesk_contract.vocabulary import Priority, RequestType
from supportdesk_service.yaml_config import ConfigError, parse_yaml

from ..domain.policy import Policy, PolicyVersions, ResolutionStart, TargetBasis, TargetTable, parse_duration
from .holiday_packages import PackagedHolidays

HOLIDAY_SETS = {"us-federal": US_FEDERAL}


class PolicyError(ConfigError):
    pass


def _check_duration(v: str) -> str:
    parse_duration(v, 86400)
    return v


def _check_time(v: str) -> str:
    minutes_of(v)
    return v


def _check_day_key(v: str) -> str:
    days_of(v)
    return v


# Checked where they stand, so an error's path names the exact field that is wrong.
Duration = Annotated[str, AfterValidator(_check_duration)]
TimeOfDay = Annotated[str, AfterValidator(_check_time)]
DayKey = Annotated[str, AfterValidator(_check_day_key)]
Hours = list[tuple[TimeOfDay, TimeOfDay]]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HolidaySpec(_Spec):
    name: str
    month: int | None = Field(None, ge=1, le=12)
    day: int | None = Field(None, ge=1, le=31)
    weekday: str | None = None
    nth: int | Literal["last"] | None = None
    after: str | None = None
    days: int = Field(1, ge=1, le=31)
    on: date | None = None
    observed: Observance = Observance.ACTUAL
    since: int | None = Field(None, ge=1, le=9999)  # fixed dates: the first year it is a holiday
    hours: Hours | None = None  # open only these hours that day; absent = closed all day

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in DAYS:
            raise ValueError(f"{v!r} is not a weekday (mon..sun)")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> HolidaySpec:
        forms = {
            "a fixed date (month, day)": self.month is not None and self.day is not None,
            "an nth weekday (month, weekday, nth)": self.weekday is not None,
            "days after another holiday (after)": self.after is not None,
            "a one-off date (on)": self.on is not None,
        }
        if sum(forms.values()) != 1:
            raise ValueError("a holiday is exactly one of: " + "; ".join(forms))
        if self.weekday is not None and (self.month is None or self.nth is None or self.day is not None):
            raise ValueError("an nth-weekday holiday needs month, weekday and nth (1-5 or last), and no day")
        if self.observed is Observance.FEDERAL and self.day is None:
            raise ValueError("observed: federal applies to fixed-date holidays only")
        if self.since is not None and self.day is None:
            raise ValueError("since applies to fixed-date holidays only")
        if self.month is not None and self.day is not None:
            date(2024, self.month, self.day)  # a leap year accepts Feb 29; refuses Apr 31
        return self

    def to_domain(self) -> Holiday:
        rule: FixedDate | NthWeekday | DaysAfter | OneOff
        if self.after is not None:
            rule = DaysAfter(self.name, self.after, self.days)
        elif self.on is not None:
            rule = OneOff(self.name, self.on)
        elif self.weekday is not None:
            assert self.month is not None and self.nth is not None
            rule = NthWeekday(
                self.name, self.month, DAYS.index(self.weekday.lower()), -1 if self.nth == "last" else self.nth
            )
        else:
            assert self.month is not None and self.day is not None
            rule = FixedDate(self.name, self.month, self.day, self.observed, self.since)
        hours = tuple((minutes_of(s), minutes_of(e)) for s, e in self.hours) if self.hours is not None else None
        return Holiday(rule, hours)


def _check_set_name(v: str) -> str:
    if v not in HOLIDAY_SETS:
        raise ValueError(
            f"{v!r} is not a holiday set; known: {', '.join(HOLIDAY_SETS)}, "
            "or one of the holidays package's: {country: DE, subdiv: BY}, {financial: NYSE}"
        )
    return v


class PackagedSetSpec(_Spec):
    """A public-holiday set from the `holidays` package: `{country: DE, subdiv: BY}`,
    `{country: GB, subdiv: ENG}`, `{financial: NYSE}`."""

    country: str | None = None
    subdiv: str | None = None
    financial: str | None = None

    @model_validator(mode="after")
    def _known(self) -> PackagedSetSpec:
        self.to_domain()  # unknown country, subdivision or market: refused here, naming the entry
        return self

    def to_domain(self) -> PackagedHolidays:
        return PackagedHolidays(self.country, self.subdiv, self.financial)


# A name is ours, a mapping is the package's: one error per entry, not one per alternative.
HolidaySetEntry = Annotated[
    Annotated[str, AfterValidator(_check_set_name), Tag("named")] | Annotated[PackagedSetSpec, Tag("package")],
    Discriminator(lambda v: "named" if isinstance(v, str) else "package"),
]


class CalendarSpec(_Spec):
    name: str
    zone: str
    hours: dict[DayKey, Hours]
    business_day: Duration | None = None
    # Our named rule sets (`us-federal`) and the `holidays` package's sets, in any mix.
    holiday_sets: list[HolidaySetEntry] = []
    holidays: list[HolidaySpec] = []

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. America/Los_Angeles)") from None
        return v

    @model_validator(mode="after")
    def _holidays_resolve(self) -> CalendarSpec:
        self.holiday_set()  # unknown 'after' names, duplicates, circles
        return self

    def holiday_set(self) -> HolidaySet:
        listed = [h.to_domain() for h in self.holidays]
        names = {h.rule.name for h in listed}
        named = [s for s in self.holiday_sets if isinstance(s, str)]
        preset = [h for s in named for h in HOLIDAY_SETS[s] if h.rule.name not in names]
        packaged = [s.to_domain() for s in self.holiday_sets if isinstance(s, PackagedSetSpec)]
        return HolidaySet(preset + listed, packaged)

    def to_domain(self) -> BusinessCalendar:
        windows = [
            WeeklyWindow(day, minutes_of(s), minutes_of(e))
            for key, spans in self.hours.items()
            for day in days_of(key)
            for s, e in spans
        ]
        business_day = parse_duration(self.business_day, 86400).seconds if self.business_day else None
        return BusinessCalendar(self.name, self.zone, windows, self.holiday_set(), business_day)


class TargetsSpec(_Spec):
    by_plan_and_priority: dict[str, dict[Priority, Duration]] | None = None
    by_priority: dict[Priority, Duration] | None = None
    by_severity: dict[int, Duration] | None = None
    fixed: Duration | None = None

    @model_validator(mode="after")
    def _one_basis(self) -> TargetsSpec:
        given = [k for k in ("by_plan_and_priority", "by_priority", "by_severity", "fixed") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of by_plan_and_priority, by_priority, by_severity, fixed")
        if any(s not in (1, 2, 3, 4) for s in self.by_severity or {}):
            raise ValueError("severities are 1 to 4")
        return self

    def to_domain(self, day: int) -> TargetTable:
        def d(text: str) -> Any:
            return parse_duration(text, day)

        if self.by_plan_and_priority:
            return TargetTable(
                TargetBasis.PLAN_AND_PRIORITY,
                by_plan_and_priority={
                    plan: {p: d(t) for p, t in row.items()} for plan, row in self.by_plan_and_priority.items()
                },
            )
        if self.by_priority:
            return TargetTable(TargetBasis.PRIORITY, by_priority={p: d(t) for p, t in self.by_priority.items()})
        if self.by_severity:
            return TargetTable(TargetBasis.SEVERITY, by_severity={s: d(t) for s, t in self.by_severity.items()})
        assert self.fixed is not None
        return TargetTable(TargetBasis.FIXED, fixed=d(self.fixed))


class AutoCloseSpec(_Spec):
    monitor: Duration | None = None
    awaiting_customer: Duration | None = None


def _check_warnings(v: list[int]) -> list[int]:
    if any(not 0 < p < 100 for p in v) or v != sorted(set(v)):
        raise ValueError("warnings are ascending percentages between 0 and 100 (exclusive)")
    return v


def _effective_from(v: Any) -> str:
    """A date (midnight in the version's calendar zone) or an instant with its UTC offset."""
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError("an instant needs its UTC offset (2027-01-01T00:00:00+01:00), or give a date")
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if not isinstance(v, str):
        raise ValueError("a date (2027-01-01) or an instant with its offset (2027-01-01T00:00:00+01:00)")
    text = v.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return _effective_from(datetime.fromisoformat(text))
    except ValueError as e:
        if "UTC offset" in str(e):
            raise
        raise ValueError(
            f"{v!r} is not a date (2027-01-01) or an instant with its offset (2027-01-01T00:00:00+01:00)"
        ) from None


Warnings = Annotated[list[int], AfterValidator(_check_warnings)]


class VersionSpec(_Spec):
    """A later version: its name, the date it takes effect, and what changes from the version
    before it (whole top-level sections: a `first_response` given here replaces the one before)."""

    version: str
    effective_from: Annotated[str, BeforeValidator(_effective_from)]
    description: str | None = None
    calendar: CalendarSpec | None = None
    plans: list[str] | None = None
    first_response: TargetsSpec | None = None
    resolution: TargetsSpec | None = None
    resolution_starts: ResolutionStart | None = None
    exempt_request_types: list[RequestType] | None = None
    auto_close: AutoCloseSpec | None = None
    warnings: Warnings | None = None

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set if k not in ("version", "effective_from")}

    def instant(self, zone: str) -> datetime:
        if len(self.effective_from) == 10:
            return datetime.combine(date.fromisoformat(self.effective_from), time(0), ZoneInfo(zone)).astimezone(UTC)
        return datetime.fromisoformat(self.effective_from).astimezone(UTC)


class PolicySpec(_Spec):
    name: str
    version: str
    description: str = ""
    calendar: CalendarSpec
    plans: list[str] = ["standard"]
    first_response: TargetsSpec | None = None
    resolution: TargetsSpec | None = None
    resolution_starts: ResolutionStart = ResolutionStart.REPLICATED
    exempt_request_types: list[RequestType] = [RequestType.FEATURE_REQUEST]
    auto_close: AutoCloseSpec = AutoCloseSpec()
    warnings: Warnings = Field([75, 90], description="percent of the target at which to warn")
    # Later versions, oldest first, each in force from its effective_from (the top level is the first).
    versions: list[VersionSpec] = []

    @model_validator(mode="after")
    def _plans_match(self) -> PolicySpec:
        self._check_plans()
        self._versions_in_order()
        return self

    def _check_plans(self) -> None:
        for targets in (self.first_response, self.resolution):
            if targets and targets.by_plan_and_priority and set(targets.by_plan_and_priority) != set(self.plans):
                raise ValueError(f"the target tables must name exactly the plans {self.plans}")

    def _version_specs(self) -> list[tuple[PolicySpec, datetime | None]]:
        """Each version as a whole policy (the one before it with its changes), with its date."""
        out: list[tuple[PolicySpec, datetime | None]] = [(self.model_copy(update={"versions": []}), None)]
        for i, v in enumerate(self.versions):
            spec = out[-1][0].model_copy(update={**v.changes(), "version": v.version})
            try:
                spec._check_plans()
            except ValueError as e:
                raise ValueError(f"versions.{i} ({v.version}): {e}") from None
            out.append((spec, v.instant(spec.calendar.zone)))
        return out

    def _versions_in_order(self) -> None:
        seen = {self.version: "version"}
        previous: tuple[str, datetime] | None = None
        for i, (spec, at) in enumerate(self._version_specs()[1:]):
            assert at is not None
            if spec.version in seen:
                raise ValueError(f"versions.{i}.version: {spec.version!r} is already the name of {seen[spec.version]}")
            seen[spec.version] = f"versions.{i}.version"
            if previous is not None and at <= previous[1]:
                raise ValueError(
                    f"versions.{i}.effective_from: {self.versions[i].effective_from} is not after "
                    f"{previous[0]} ({self.versions[i - 1].effective_from}); list versions oldest first, one date each"
                )
            previous = (f"versions.{i - 1 if i else 0}.effective_from", at)

    def to_versions(self) -> PolicyVersions:
        return PolicyVersions(self.name, tuple(spec.to_domain(effective_from=at) for spec, at in self._version_specs()))

    def to_domain(self, effective_from: datetime | None = None) -> Policy:
        calendar = self.calendar.to_domain()
        day = calendar.business_day_seconds
        return Policy(
            name=self.name,
            version=self.version,
            calendar=calendar,
            plans=tuple(self.plans),
            first_response=self.first_response.to_domain(day) if self.first_response else None,
            resolution=self.resolution.to_domain(day) if self.resolution else None,
            resolution_starts=self.resolution_starts,
            exempt_request_types=frozenset(self.exempt_request_types),
            monitor_auto_close=parse_duration(self.auto_close.monitor, day) if self.auto_close.monitor else None,
            awaiting_customer_auto_close=(
                parse_duration(self.auto_close.awaiting_customer, day) if self.auto_close.awaiting_customer else None
            ),
            warning_percents=tuple(self.warnings),
            effective_from=effective_from,
        )


def parse_policy(text: str, source: str, aliases: bool = True) -> Policy:
    """The file's newest version (what a new clock runs under once that version's date has come);
    `aliases=False` for a draft from outside (supportdesk_service.yaml_config.load_text)."""
    return parse_policy_versions(text, source, aliases).latest


def parse_policy_versions(text: str, source: str, aliases: bool = True) -> PolicyVersions:
    try:
        return parse_yaml(text, source, PolicySpec, aliases).to_versions()
    except ConfigError as e:
        raise PolicyError(str(e)) from None
    except ValueError as e:  # a rule that only the built domain can check
        raise PolicyError(f"{source}: {e}") from e


def load_policy_file(path: str | Path) -> Policy:
    return load_policy_versions(path).latest


def load_policy_versions(path: str | Path) -> PolicyVersions:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PolicyError(f"{p}: cannot read: {e.strerror}") from None
    return parse_policy_versions(text, str(p))


def shipped_policy_names() -> list[str]:
    return sorted(
        f.name.removesuffix(".yaml")
        for f in resources.files("sla_clock.policies").iterdir()
        if f.name.endswith(".yaml")
    )


@cache
def shipped_policy_versions(name: str) -> PolicyVersions:
    """The service's own copy of a shipped policy's versions, shared by its consumer and its reads."""
    return load_shipped_policy_versions(name)


def shipped_policy(name: str) -> Policy:
    """The newest version of a shipped policy (the service's shared copy)."""
    return shipped_policy_versions(name).latest


def load_shipped_policy(name: str) -> Policy:
    """A fresh copy (its own calendar) of the newest version, for a caller that must not share one."""
    return load_shipped_policy_versions(name).latest


def load_shipped_policy_versions(name: str) -> PolicyVersions:
    if name not in shipped_policy_names():
        raise PolicyError(f"no shipped policy {name!r}; shipped: {', '.join(shipped_policy_names())}")
    resource = resources.files("sla_clock.policies") / f"{name}.yaml"
    return parse_policy_versions(resource.read_text(), f"sla_clock/policies/{name}.yaml")
