"""Public-holiday sets kept by the `holidays` package (every country, its subdivisions, financial
markets), named in a policy's calendar beside our own rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import holidays


@dataclass(frozen=True)
class PackagedHolidays:
    """`country` (ISO 3166-1 alpha-2) with an optional `subdiv` (its ISO 3166-2 code, as the
    package spells it, e.g. DE + BY, GB + ENG), or a financial market (`financial`: NYSE, XETR)."""

    country: str | None = None
    subdiv: str | None = None
    financial: str | None = None

    def __post_init__(self) -> None:
        if (self.country is None) == (self.financial is None):
            raise ValueError("a holiday set names either a country (with an optional subdiv) or a financial market")
        if self.subdiv is not None and self.country is None:
            raise ValueError("subdiv applies to a country")
        self._build(2000)  # an unknown country, subdivision or market fails here, with what is known

    @property
    def name(self) -> str:
        if self.financial is not None:
            return f"financial:{self.financial}"
        return f"{self.country}-{self.subdiv}" if self.subdiv else f"{self.country}"

    def _build(self, year: int) -> holidays.HolidayBase:
        import holidays  # here: ~40 ms of start-up that only policies naming a packaged set need

        try:
            if self.financial is not None:
                return holidays.financial_holidays(self.financial, years=year)
            assert self.country is not None
            return holidays.country_holidays(self.country, subdiv=self.subdiv, years=year)
        except NotImplementedError as e:
            raise ValueError(f"{e} (in the holidays package)") from None

    def in_year(self, year: int) -> dict[date, str]:
        return dict(self._build(year).items())
