"""Checks against real HTTP and TCP targets on 127.0.0.1 that the tests start and break."""

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.monitoring import checks, services
from apps.monitoring.models import Downtime, HealthCheck, MonitoredService
from tests.alerts.receiver import Receiver, Reply, free_port
from tests.live import wait_until

pytestmark = pytest.mark.django_db


def service(name: str, check_type: str, target: str, **fields) -> MonitoredService:
    return MonitoredService.objects.create(
        name=name, check_type=check_type, target=target, **{"timeout_seconds": 2, **fields}
    )


def check(svc: MonitoredService) -> checks.Result:
    return checks.run(svc, timezone.now())


def test_http_statuses_latency_and_timeouts():
    with Receiver(200, 503, Reply(200, delay=0.3), Reply(200, delay=5)) as target:
        svc = service("api", "http", target.url, degraded_above_ms=150, timeout_seconds=1)
        assert check(svc).status == "healthy"
        failed = check(svc)
        assert (failed.status, failed.error) == ("unhealthy", "ValueError: HTTP 503, expected 200")
        slow = check(svc)
        assert slow.status == "degraded" and slow.response_time_ms >= 300
        started = time.monotonic()
        hanging = check(svc)
        assert (hanging.status, hanging.error) == ("unhealthy", "timed out")
        assert time.monotonic() - started < 5  # cut at the 1 s timeout, not after the 5 s delay


def test_tcp_connect_and_refused():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert check(service("db", "tcp", f"127.0.0.1:{port}")).status == "healthy"
    closed = check(service("gone", "tcp", f"127.0.0.1:{free_port()}"))
    assert closed.status == "unhealthy" and "ConnectionRefusedError" in closed.error


def test_heartbeat_goes_unhealthy_without_a_ping_and_recovers_with_one():
    svc = service("nightly", "heartbeat", "", interval_seconds=60, grace_seconds=30)
    assert check(svc).status == "unknown"  # just created: no ping expected yet
    MonitoredService.objects.filter(pk=svc.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    svc.refresh_from_db()
    assert check(svc).status == "unhealthy"

    services.heartbeat_ping(token=svc.ping_token)
    svc.refresh_from_db()
    assert check(svc).status == "healthy" and svc.status == "healthy"
    MonitoredService.objects.filter(pk=svc.pk).update(
        last_ping_at=timezone.now() - timedelta(seconds=91)
    )
    svc.refresh_from_db()
    assert "last ping 91 s ago" in check(svc).error


def test_custom_checks_registered_in_code():
    @checks.custom_check("queue-consumer")
    def consumer_alive(timeout: float) -> None:
        raise RuntimeError("no consumer on queue 'mail'")

    result = check(service("mail", "custom", "queue-consumer"))
    assert (result.status, result.error) == (
        "unhealthy",
        "RuntimeError: no consumer on queue 'mail'",
    )
    assert "not registered" not in result.error
    assert "is registered" in check(service("x", "custom", "nope")).error


@pytest.mark.django_db(transaction=True)
def test_a_cycle_is_bounded_by_one_timeout_and_hanging_services_delay_nobody():
    with Receiver(200) as fast, Receiver(Reply(200, delay=30)) as hanging:
        for i in range(20):
            url = hanging.url if i % 4 == 0 else fast.url
            service(f"svc-{i}", "http", url, timeout_seconds=1)
        started = time.monotonic()
        recorded = services.checks_run_due()
        elapsed = time.monotonic() - started

    assert len(recorded) == 20
    statuses = {c.service.name: c.status for c in recorded}
    unhealthy = {name for name, status in statuses.items() if status == "unhealthy"}
    assert unhealthy == {f"svc-{i}" for i in range(0, 20, 4)}
    assert elapsed < 5  # in parallel: run one after the other, 5 hanging x 1 s would be 5 s
    assert services.checks_run_due() == []  # nothing due again before its interval


@pytest.mark.django_db(transaction=True)
def test_fast_results_are_stored_while_a_hanging_check_still_runs():
    def cycle() -> None:
        services.checks_run_due()
        connections.close_all()

    with Receiver(200) as fast, Receiver(Reply(200, delay=30)) as hanging:
        service("slow", "http", hanging.url, timeout_seconds=3)
        for i in range(5):
            service(f"fast-{i}", "http", fast.url, timeout_seconds=3)
        runner = threading.Thread(target=cycle)
        runner.start()
        try:
            fast_checks = HealthCheck.objects.filter(service__name__startswith="fast")
            wait_until(lambda: fast_checks.count() == 5, timeout=2.5, what="the fast results")
            assert runner.is_alive()  # the hanging check is still under way
            assert not HealthCheck.objects.filter(service__name="slow").exists()
        finally:
            runner.join(timeout=10)
    assert HealthCheck.objects.get(service__name="slow").status == "unhealthy"


def test_failures_open_one_downtime_and_recovery_closes_it():
    svc = service("api", "http", "http://127.0.0.1:1/")
    t0 = timezone.now() - timedelta(minutes=10)
    down = checks.Result("unhealthy", 5.0, "refused")
    up = checks.Result("healthy", 5.0)
    for minute, result in enumerate([up, down, down, down, up, up]):
        services.check_record(svc.pk, result, at=t0 + timedelta(minutes=minute))

    [downtime] = Downtime.objects.all()
    assert (downtime.started_at, downtime.ended_at) == (
        t0 + timedelta(minutes=1),
        t0 + timedelta(minutes=4),
    )
    assert list(
        HealthCheck.objects.order_by("checked_at").values_list("consecutive_failures", flat=True)
    ) == [0, 1, 2, 3, 0, 0]
    svc.refresh_from_db()
    assert (svc.status, svc.consecutive_failures) == ("healthy", 0)
