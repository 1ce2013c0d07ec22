"""Tiered retention: raw points go with their kind's retention (ANALYTICS_RETENTION_DAYS,
or that of the kind a source reads); minute, hour and day rollups each have their own
(METRICS_ROLLUP_RETENTION_DAYS: 30 days, 2 years and 5 years by default), so old windows
keep answering from the coarser buckets.

What a read may use now (`retained`, a `Kept`): raw points from `raw` on, minute rollups from
`m`, hour rollups from `h`, day rollups from `d` (apps.metrics.selectors.plan). A level is
kept from the start of the bucket one level coarser holding its cutoff (`rollup_cutoff`:
minutes from the hour, hours and days from the day), so a window reaching back exactly as
far as a level reads its partial first hour (or day) from that level, not from raw points.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import checks
from django.utils import timezone

from apps.core.windows import floor
from apps.ingest.retention import retention_days

from .sources import source_of, sources

RESOLUTIONS = ("m", "h", "d")
# Each level is kept from the start of the coarser bucket holding its cutoff.
_KEPT_FROM = {"m": "h", "h": "d", "d": "d"}


def rollup_cutoff(res: str, *, now: datetime) -> datetime:
    """Rollups of resolution `res` starting before this are deleted (and not read): its
    retention counted back from `now`, then to the start of the hour (minutes) or day.
    Every purge's cutoff is at or before a later read's, so what a read takes is there."""
    days = settings.METRICS_ROLLUP_RETENTION_DAYS[res]
    return floor(now - timedelta(days=days), _KEPT_FROM[res])


@dataclass(frozen=True)
class Kept:
    raw: datetime
    m: datetime
    h: datetime
    d: datetime


def raw_retention_days(name: str) -> int:
    """How long the raw points of metric `name` are kept: the metric kind's retention,
    or that of the kind whose rows a source reads."""
    source = source_of(name)
    return retention_days(source.kind if source is not None else "metric")


def retained(name: str, *, now: datetime | None = None) -> Kept:
    now = now or timezone.now()
    return Kept(
        raw=now - timedelta(days=raw_retention_days(name)),
        **{res: rollup_cutoff(res, now=now) for res in RESOLUTIONS},
    )


def longest_kept_days() -> int:
    """No metric reaches further back: a window older than this finds nothing more."""
    longest_raw = max(
        [settings.ANALYTICS_RETENTION_DAYS, *settings.ANALYTICS_RETENTION_BY_KIND.values()]
    )
    return max(longest_raw, *settings.METRICS_ROLLUP_RETENTION_DAYS.values())


def rollup_retention_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Hours must be kept at least as long as raw points (a late point re-rolls its hour,
    from its points when its minutes are gone), and days at least as long as hours."""
    days = settings.METRICS_ROLLUP_RETENTION_DAYS
    raw = max([retention_days("metric"), *(retention_days(source.kind) for source in sources())])
    errors = []
    if days["h"] < raw:
        errors.append(
            f"METRICS_HOUR_ROLLUP_RETENTION_DAYS ({days['h']}) is shorter than the raw "
            f"points' retention ({raw} days): a late point could not re-roll its hour."
        )
    if days["d"] < days["h"]:
        errors.append(
            f"METRICS_DAY_ROLLUP_RETENTION_DAYS ({days['d']}) is shorter than "
            f"METRICS_HOUR_ROLLUP_RETENTION_DAYS ({days['h']})."
        )
    return [checks.Error(text, id="metrics.E001") for text in errors]
