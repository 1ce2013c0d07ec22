"""Tiered retention: raw points go with their kind's retention (ANALYTICS_RETENTION_DAYS,
or that of the kind a source reads); minute, hour and day rollups each have their own
(METRICS_ROLLUP_RETENTION_DAYS: 30 days, 2 years and 5 years by default), so old windows
keep answering from the coarser buckets.

What a read may use now (`retained`, a `Kept`): raw points from `raw` on, minute rollups from
`m`, hour rollups from `h`, day rollups from `d` (apps.metrics.selectors.plan).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import checks
from django.utils import timezone

from apps.ingest.retention import retention_days

from .sources import source_of, sources

RESOLUTIONS = ("m", "h", "d")


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
    days = settings.METRICS_ROLLUP_RETENTION_DAYS
    return Kept(
        raw=now - timedelta(days=raw_retention_days(name)),
        **{res: now - timedelta(days=days[res]) for res in RESOLUTIONS},
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
