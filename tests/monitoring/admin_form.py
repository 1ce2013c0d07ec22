"""The monitored service's admin form, as a browser posts it."""

ADMIN = "/admin/monitoring/monitoredservice"


def service_form(**fields) -> dict:
    return {
        "name": "api",
        "check_type": "http",
        "target": "http://127.0.0.1:9/health",
        "interval_seconds": 30,
        "timeout_seconds": 5,
        "expected_status": 200,
        "degraded_above_ms": "",
        "failure_threshold": 4,
        "sla_target": 99.5,
        "grace_seconds": 60,
        "enabled": "on",
        **fields,
    }
