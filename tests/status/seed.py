"""A deployment with public and private services, one of them down with an incident."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from apps.alerts.models import AlertIncident
from apps.alerts.services import incident_acknowledge
from apps.monitoring import checks, services
from apps.monitoring.models import Downtime, HealthCheck, HealthStatus, MonitoredService

DAY = timedelta(days=1)
# What must never reach the public page.
SECRETS = [
    "pg-primary-eu1",  # the public service's own name: it has a public name
    "api-internal.corp.example",
    "8443",
    "s3cret",
    "billing-db-secret",
    "10.1.2.3",
    "10.9.8.7",
    "connection refused",
    "health.consecutive_failures",
    "Service pg-primary-eu1 is down",
    "user:oncall",
    "failed checks",
]


@dataclass
class Seeded:
    api: MonitoredService
    web: MonitoredService
    private: MonitoredService
    half_day: datetime


def seed() -> Seeded:
    now = timezone.now()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    api = services.service_create(
        data={
            "name": "pg-primary-eu1",
            "check_type": "http",
            "target": "https://api-internal.corp.example:8443/health?token=s3cret",
            "public": True,
            "public_name": "Public API",
            "failure_threshold": 2,
        },
        actor="user:oncall",
    )
    web = services.service_create(
        data={"name": "Website", "check_type": "http", "target": "http://127.0.0.1:9/"},
        actor="user:oncall",
    )
    services.service_update(service=web, data={"public": True}, actor="user:oncall")
    private = services.service_create(
        data={"name": "billing-db-secret", "check_type": "tcp", "target": "10.1.2.3:5432"},
        actor="user:oncall",
    )
    # 40 days of hourly checks for each; the website was down half of one day.
    start = today - 40 * DAY
    MonitoredService.objects.update(created_at=start)
    rows = []
    for service in (api, web, private):
        at = start
        while at < now - timedelta(minutes=5):
            rows.append(
                HealthCheck(service=service, status="healthy", response_time_ms=80, checked_at=at)
            )
            at += timedelta(hours=1)
    HealthCheck.objects.bulk_create(rows)
    half_day = today - 4 * DAY
    Downtime.objects.create(
        service=web,
        started_at=half_day + timedelta(hours=6),
        ended_at=half_day + timedelta(hours=18),
    )
    for service in (web,):
        services.check_record(service.pk, checks.Result(HealthStatus.HEALTHY, 42.0), at=now)
    # The API and the private database go down now: both rules open an incident.
    for minutes in (4, 2):
        for service in (api, private):
            services.check_record(
                service.pk,
                checks.Result(HealthStatus.UNHEALTHY, None, "connection refused by 10.9.8.7"),
                at=now - timedelta(minutes=minutes),
            )
    incident = AlertIncident.objects.get(rule_name="Service pg-primary-eu1 is down")
    incident_acknowledge(incident_id=incident.pk, actor="user:oncall")
    for service in (api, web, private):
        service.refresh_from_db()
    return Seeded(api=api, web=web, private=private, half_day=half_day)
