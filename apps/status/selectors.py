"""The public status page's content: only what staff made public, in public words.

Built from the monitoring's and the alerting's selectors (this app has no tables and
reads none): the services marked public, under their public names, with their status,
daily uptime and open incidents. Nothing else about the deployment leaves here: no
target, host, check type, error text, metric, threshold, rule name, actor or note; an
incident is told by its service's public name and the kinds of its timeline's lines.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from apps.alerts.selectors import unresolved_incidents_tagged
from apps.monitoring.alerting import FAILURES_METRIC
from apps.monitoring.selectors import (
    UPTIME_DAYS,
    UptimeDay,
    public_services,
    service_states,
    uptime_days,
    uptime_over_days,
)

# The service's state (as its checks last found it) in public words.
STATES = {
    "healthy": ("operational", "Operational"),
    "degraded": ("degraded", "Degraded performance"),
    "unhealthy": ("outage", "Outage"),
    "unknown": ("unknown", "Status unknown"),
}
OVERALL = {
    "operational": "All systems operational",
    "degraded": "Some systems are degraded",
    "outage": "Some systems are down",
    "unknown": "Some systems' status is unknown",
}
SEVERITY_ORDER = ["operational", "unknown", "degraded", "outage"]
# The timeline's lines a visitor is told (the rest, notifications and silences, are the
# staff's own business).
UPDATES = {
    "fired": "Investigating: we are looking into a problem with {name}.",
    "refired": "Investigating: the problem with {name} is back.",
    "acknowledged": "Identified: our team is working on it.",
    "resolved": "Resolved.",
}


@dataclass(frozen=True)
class PublicDay:
    date: date
    uptime_percentage: float | None
    level: str  # up, dip, partial, down, none: the bar's colour
    label: str  # the bar's hover text


@dataclass(frozen=True)
class PublicService:
    name: str
    state: str
    state_label: str
    uptime_percentage: float | None  # over the days shown, the days with data
    days: list[PublicDay]


@dataclass(frozen=True)
class PublicUpdate:
    at: datetime
    text: str


@dataclass(frozen=True)
class PublicIncident:
    title: str
    state_label: str
    started_at: datetime
    updates: list[PublicUpdate]  # newest first


@dataclass(frozen=True)
class StatusPage:
    overall: str
    overall_label: str
    services: list[PublicService]
    incidents: list[PublicIncident]
    days: int
    generated_at: datetime


def _level(uptime: float | None) -> str:
    if uptime is None:
        return "none"
    if uptime >= 100:
        return "up"
    if uptime >= 99:
        return "dip"
    if uptime >= 95:
        return "partial"
    return "down"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _day(day: UptimeDay) -> PublicDay:
    when = day.date.isoformat()
    if day.no_data:
        label = f"{when}: no data"
    elif day.downtime_count:
        down = "downtime" if day.downtime_count == 1 else "downtimes"
        label = (
            f"{when}: {day.uptime_percentage:.2f} % up, {day.downtime_count} {down} "
            f"({_duration(day.downtime_seconds)})"
        )
    else:
        label = f"{when}: {day.uptime_percentage:.2f} % up"
    return PublicDay(day.date, day.uptime_percentage, _level(day.uptime_percentage), label)


def status_page(*, days: int = UPTIME_DAYS, now: datetime | None = None) -> StatusPage:
    """The public status page's content now (see the module's docstring for what it
    holds and leaves out). A handful of queries whatever the number of days."""
    now = now or timezone.now()
    services = list(public_services())
    bars = uptime_days(services=services, days=days, now=now)
    states = service_states(services=services, now=now)
    shown: list[PublicService] = []
    for service in services:
        state, label = STATES.get(states[service.pk], STATES["unknown"])
        shown.append(
            PublicService(
                name=service.display_name,
                state=state,
                state_label=label,
                uptime_percentage=uptime_over_days(bars[service.pk]),
                days=[_day(day) for day in bars[service.pk]],
            )
        )
    overall = max((s.state for s in shown), key=SEVERITY_ORDER.index, default="operational")
    return StatusPage(
        overall=overall,
        overall_label=OVERALL[overall],
        services=shown,
        incidents=_incidents({s.name: s.display_name for s in services}),
        days=days,
        generated_at=now,
    )


def _incidents(names: dict[str, str]) -> list[PublicIncident]:
    """The open incidents of rules tagged with a public service, newest first."""
    if not names:
        return []
    incidents = []
    for incident in unresolved_incidents_tagged(tag="service", values=list(names)):
        name = names[incident.rule.tags["service"]]
        if incident.rule.metric_name == FAILURES_METRIC:
            title = f"{name} is unavailable"
        else:
            title = f"{name} is degraded"
        updates = [
            PublicUpdate(event.at, UPDATES[event.kind].format(name=name))
            for event in incident.timeline.all()
            if event.kind in UPDATES
        ]
        state = "Identified" if incident.status == "acknowledged" else "Investigating"
        incidents.append(PublicIncident(title, state, incident.triggered_at, updates[::-1]))
    return incidents[::-1]
