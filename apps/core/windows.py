"""Time windows that reads cover, and the buckets a time series cuts them into: one
interval grammar, one alignment, one bucket bound and one way to fill empty buckets."""

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db.models import DateTimeField, F, Func, Value
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

T = TypeVar("T")


def floor(moment: datetime, unit: str) -> datetime:
    """The start of the minute ("m"), hour ("h") or day ("d") holding `moment`."""
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    if unit == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def window_start(hours: int, *, now: datetime | None = None) -> datetime:
    """The start of the window of `hours` ending now (or at `now`)."""
    return (now or timezone.now()) - timedelta(hours=hours)


def longest_retention_days() -> int:
    """No kind keeps data longer: a window reaching further back finds nothing more."""
    return max([settings.ANALYTICS_RETENTION_DAYS, *settings.ANALYTICS_RETENTION_BY_KIND.values()])


# --- Bucketed reads: one interval grammar, one alignment, one way to fill empty buckets ---

INTERVAL_GRAMMAR = (
    "<n>m, <n>h, <n>d or <n>w: a whole number n > 0 of minutes, hours, days or weeks, "
    "at most 7 days (10080m) in all; e.g. 1m, 15m, 2h, 6h, 1d, 1w"
)
MAX_INTERVAL = timedelta(days=7)
_INTERVAL = re.compile(r"([0-9]{1,6})([mhdw])")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}
# Buckets are counted from this moment, a Monday 00:00 UTC: any interval dividing a day
# starts at midnight UTC and on its multiples within the day; whole weeks start on Monday.
BUCKET_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
FILLS = ("none", "zero", "null")
# Buckets per series: 1m over 7 days. Bounds the work and the answer of a fine interval
# over a long window (1m over 30 days would be 43,200 buckets).
MAX_BUCKETS = 10_080


class IntervalError(ValueError):
    """Not an interval of the grammar; the message says why and gives the grammar."""


@dataclass(frozen=True)
class Interval:
    """A bucket width: `text` as the client gave it, `minutes` the whole width."""

    text: str
    minutes: int

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    def whole(self, unit: timedelta) -> bool:
        """Whether buckets are made of whole `unit`s (then `unit` rollups fit in them)."""
        return self.step % unit == timedelta(0)

    def date_bin_sql(self, column: str) -> str:
        """SQL: the start of the bucket holding `column` (a timestamptz expression).

        Safe to inline: `minutes` is an int the parser checked.
        """
        return (
            f"date_bin(interval '{int(self.minutes)} minutes', {column}, "
            f"timestamptz '{BUCKET_ORIGIN.isoformat()}')"
        )

    def date_bin(self, field: str) -> Func:
        """ORM: the start of the bucket holding the `field` column (date_bin_sql's answer)."""
        return Func(
            Value(self.step),
            F(field),
            Value(BUCKET_ORIGIN),
            function="date_bin",
            output_field=DateTimeField(),
        )

    def bucket_of(self, moment: datetime) -> datetime:
        """The start of the bucket holding `moment` (date_bin_sql's answer, in Python)."""
        return moment - (moment - BUCKET_ORIGIN) % self.step

    def starts(self, start: datetime, end: datetime) -> list[datetime]:
        """The start of every bucket touching [start, end), the first one holding `start`."""
        first, step = self.bucket_of(start), self.step
        return [first + i * step for i in range(self.count(start, end))]

    def count(self, start: datetime, end: datetime) -> int:
        """How many buckets touch [start, end)."""
        if end <= start:
            return 0
        return (end - self.bucket_of(start) - timedelta(microseconds=1)) // self.step + 1


def parse_interval(text: str) -> Interval:
    """`15m`, `2h`, `1d`, `1w` ... as an Interval; IntervalError (naming the grammar) else."""
    match = _INTERVAL.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise IntervalError(f"{text!r} is not an interval: expected {INTERVAL_GRAMMAR}.")
    minutes = int(match[1]) * _UNIT_MINUTES[match[2]]
    if minutes <= 0 or timedelta(minutes=minutes) > MAX_INTERVAL:
        raise IntervalError(f"{text!r} is out of range: expected {INTERVAL_GRAMMAR}.")
    return Interval(text=text, minutes=minutes)


def too_many_buckets(
    length: timedelta, interval: Interval, limit: int = MAX_BUCKETS, *, what: str = ""
) -> str | None:
    """The message refusing a window of `length` cut in more than `limit` intervals, or
    None if it fits (an unaligned window may answer one bucket more: its ragged ends)."""
    count = math.ceil(length / interval.step)
    if count <= limit:
        return None
    return (
        f"This window and interval make {count} buckets{what}; at most {limit} are "
        "answered: widen the interval or shorten the window."
    )


def filled(
    rows: Iterable[T],
    *,
    start: datetime,
    end: datetime,
    interval: Interval,
    fill: str,
    key: Callable[[T], datetime],
    empty: Callable[[datetime, str], T],
) -> list[T]:
    """`rows` (one per bucket that has data, `key` giving its start) in time order, with
    fill `zero` or `null` also one `empty(start, fill)` row for every other bucket
    touching [start, end); fill `none` leaves the rows as they are."""
    rows = list(rows)
    if fill == "none":
        return rows
    have = {key(row): row for row in rows}
    return [
        have[moment] if moment in have else empty(moment, fill)
        for moment in interval.starts(start, end)
    ]


@extend_schema_field({"type": "string", "pattern": f"^{_INTERVAL.pattern}$", "example": "15m"})
class IntervalField(serializers.CharField):
    """`?interval=` of the grammar; anything else is a 400 naming the parameter."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "help_text",
            f"Bucket width: {INTERVAL_GRAMMAR}. Buckets are aligned to multiples of the width "
            "counted from Monday 2000-01-03 00:00 UTC (so 15m, 2h, 6h, 1d start at midnight "
            "UTC and its multiples, 1w on Monday 00:00 UTC).",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Interval:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return parse_interval(data)
        except IntervalError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value) -> str:
        return value.text if isinstance(value, Interval) else str(value)


def fill_field(
    default: str,
    *,
    zero: str = "count 0 and value 0",
    null: str = "count 0 and value null",
) -> serializers.ChoiceField:
    """`?fill=none|zero|null`: what an empty bucket of the window becomes."""
    return serializers.ChoiceField(
        choices=FILLS,
        default=default,
        help_text=f"Empty buckets (no data in them): `none` leaves them out, `zero` answers "
        f"them with {zero}, `null` with {null} (a chart draws a gap). Default `{default}`.",
    )
