"""The Japanese calendar of the project: the days of a month and Japan's public holidays.

Public holidays are those of the ``holidays`` library for Japan (祝日, 振替休日 and 国民の休日 included), known for
the years :data:`MIN_YEAR` .. :data:`MAX_YEAR`. Dates are :class:`datetime.date` in the Japanese calendar
(Asia/Tokyo, UTC+9, no daylight saving time).
"""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
import functools

MIN_YEAR, MAX_YEAR = 2000, 2099  # the holidays library knows Japan's calendar up to 2099


def month_days(year: int, month: int) -> list[dt.date]:
    """Every day of ``year``-``month``, the 1st first."""
    return [dt.date(year, month, d) for d in range(1, stdlib_calendar.monthrange(year, month)[1] + 1)]


@functools.lru_cache(maxsize=64)
def _holidays(year: int) -> tuple[tuple[dt.date, str], ...]:
    import holidays

    jp = holidays.country_holidays("JP", years=year, language="ja")
    return tuple(sorted((d, str(n)) for d, n in jp.items()))


def public_holidays(year: int) -> dict[dt.date, str]:
    """Japan's public holidays of ``year`` (祝日, 振替休日, 国民の休日): ``{date: Japanese name}``."""
    return dict(_holidays(year))


def holidays_source() -> str:
    """Which holiday calendar generated a schedule, e.g. ``holidays 0.109 (JP)``."""
    from importlib import metadata

    return f"holidays {metadata.version('holidays')} (JP)"
