"""Our US federal rules checked against the `holidays` package's US set (the package is only the
oracle here: the library itself needs nothing but the standard library)."""

from datetime import date, timedelta

import holidays

from supportdesk_calendar.holidays import US_FEDERAL, HolidaySet


def test_our_us_federal_rules_agree_with_the_holidays_package_on_every_date_2020_to_2035() -> None:
    ours = HolidaySet(list(US_FEDERAL))
    theirs = holidays.country_holidays("US", years=range(2019, 2037))
    day, disagreements = date(2020, 1, 1), []
    while day <= date(2035, 12, 31):
        if (ours.on(day) is None) != (day not in theirs):
            disagreements.append((day, ours.on(day), theirs.get(day)))
        day += timedelta(days=1)
    assert disagreements == []
