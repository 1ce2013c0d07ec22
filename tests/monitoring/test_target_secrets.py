"""A monitored service's target keeps its credentials encrypted, out of the alerting's
rule and trail, and away from read keys; the check still uses them.

An attacker planted `http://user:pass@host/?token=` as a target and found the password
and the token in clear in the service's row, in the description of the rule made for
it, and in the configuration trail; read keys were answered the target and heartbeat
ping URLs in full (a read key could fake heartbeats).
"""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.alerts.models import AlertChannel, AlertRule, ConfigChange
from apps.core.secrets import lookup_digest
from apps.monitoring import checks
from apps.monitoring.models import MonitoredService
from tests.at_rest import raw_column, tables_holding
from tests.monitoring.admin_form import ADMIN, service_form

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/analytics/monitoring/services"
PASSWORD = "monPassW0rd77Xq"
TOKEN = "monQueryTok3nZz9"
ADMIN_PASSWORD = "adminFormPw41Lk"


def target(port: int = 9, password: str = PASSWORD) -> str:
    return f"http://monuser:{password}@127.0.0.1:{port}/health?token={TOKEN}"


def plant(client, **fields) -> dict:
    body = {"name": "api", "check_type": "http", "target": target(), **fields}
    response = client.post(SERVICES, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_target_s_password_and_token_rest_nowhere_in_clear(admin_api_client):
    service = plant(admin_api_client)

    for secret in (PASSWORD, TOKEN):
        assert tables_holding(secret) == [], secret
    assert raw_column("monitoring_monitoredservice", "target", service["id"]).startswith("enc1:")
    assert MonitoredService.objects.get().target == target()  # clear for the check
    # The rule made for it, and its line in the trail, say which target, masked (and,
    # free text as a description is, scrubbed besides: the masks read as redactions).
    masked = "http://monuser:[redacted]@127.0.0.1:9/health?token=[redacted]"
    rule = AlertRule.objects.get(name="Service api is down")
    assert rule.description == f"http check of {masked}"
    [created] = ConfigChange.objects.filter(object_type="rule", action="created")
    assert created.changes["description"] == f"http check of {masked}"


def test_a_read_key_sees_the_target_masked_and_an_admin_key_in_full(admin_api_client, read_client):
    service = plant(admin_api_client)

    for answer in (
        read_client.get(SERVICES).json()[0],
        read_client.get(f"{SERVICES}/{service['id']}").json(),
    ):
        assert answer["target"] == "http://monuser:****@127.0.0.1:9/health?token=****"
    assert admin_api_client.get(SERVICES).json()[0]["target"] == target()
    assert service["target"] == target()


def test_a_read_key_cannot_learn_a_heartbeat_s_ping_url(admin_api_client, read_client):
    created = plant(admin_api_client, name="nightly", check_type="heartbeat", target="")
    token = MonitoredService.objects.get().ping_token

    seen = read_client.get(f"{SERVICES}/{created['id']}").json()["ping_url"]

    assert seen == "http://testserver/api/v1/analytics/monitoring/ping/****"
    assert token not in str(read_client.get(SERVICES).json())
    path = seen.removeprefix("http://testserver")
    assert Client().post(path).status_code == 404  # the masked URL pings nothing
    full = admin_api_client.get(f"{SERVICES}/{created['id']}").json()["ping_url"]
    assert full.endswith(f"/ping/{token}")
    assert Client().post(full.removeprefix("http://testserver")).status_code == 200


def test_a_heartbeat_s_ping_token_rests_encrypted_and_still_pings(admin_api_client):
    created = plant(admin_api_client, name="nightly", check_type="heartbeat", target="")
    token = MonitoredService.objects.get().ping_token

    assert tables_holding(token) == []
    full = admin_api_client.get(f"{SERVICES}/{created['id']}").json()["ping_url"]
    assert Client().get(full.removeprefix("http://testserver")).status_code == 200
    assert MonitoredService.objects.get().last_ping_at is not None


def test_a_target_typed_in_the_admin_rests_encrypted_and_its_list_masks_it(oncall):
    form = service_form(target=target(password=ADMIN_PASSWORD), health_key="")
    added = oncall.post(f"{ADMIN}/add/", form)
    assert added.status_code == 302, added.content.decode()[-2000:]

    for secret in (ADMIN_PASSWORD, TOKEN):
        assert tables_holding(secret) == [], secret
    listing = oncall.get("/admin/monitoring/monitoredservice/").content.decode()
    assert "http://monuser:****@127.0.0.1:9/health?token=****" in listing
    assert ADMIN_PASSWORD not in listing and TOKEN not in listing


class _BasicAuthServer:
    """A real HTTP server on 127.0.0.1 that answers 200 only to `user:password`."""

    def __init__(self, user: str, password: str) -> None:
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        seen: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("Authorization"))
                self.send_response(200 if self.headers.get("Authorization") == expected else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def __enter__(self) -> "_BasicAuthServer":
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_http_check_of_a_user_pass_target_still_authenticates(admin_api_client):
    with _BasicAuthServer("monuser", PASSWORD) as server:
        created = plant(admin_api_client, target=target(server.port))
        service = MonitoredService.objects.get(pk=created["id"])

        result = checks.run(service, timezone.now())

    assert result.status == "healthy", (result, server.seen)


@pytest.mark.django_db(transaction=True)
def test_existing_rows_are_encrypted_and_the_trail_masked_by_the_migrations():
    call_command("migrate", "alerts", "0003", verbosity=0)
    call_command("migrate", "monitoring", "0002", verbosity=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO monitoring_monitoredservice (name, check_type, target, "
                "interval_seconds, timeout_seconds, expected_status, failure_threshold, "
                "sla_target, grace_seconds, ping_token, enabled, builtin, status, "
                "consecutive_failures, last_error, created_at, created_by) VALUES ('old', "
                "'http', %s, 60, 10, 200, 3, 99.9, 60, 'tok-old', true, false, 'unknown', 0, "
                "'', now(), '') RETURNING id",
                [target()],
            )
            service_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO alerts_alertchannel (name, type, target, secret, created_at, "
                "created_by) VALUES ('old', 'webhook', %s, %s, now(), '') RETURNING id",
                [f"https://hooks.example.com/h?token={TOKEN}", PASSWORD],
            )
            channel_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO alerts_configchange (at, actor, action, object_type, object_id, "
                "object_name, changes) VALUES (now(), 'key:x', 'created', 'channel', %s, 'old', "
                "%s::jsonb)",
                [channel_id, f'{{"target": "https://hooks.example.com/h?token={TOKEN}"}}'],
            )
        assert set(tables_holding(TOKEN)) == {
            "monitoring_monitoredservice",
            "alerts_alertchannel",
            "alerts_configchange",
        }
    finally:
        call_command("migrate", verbosity=0)

    for secret in (TOKEN, PASSWORD, "tok-old"):
        assert tables_holding(secret) == [], secret
    assert MonitoredService.objects.get(pk=service_id).target == target()
    old = MonitoredService.objects.get(pk=service_id)
    assert (old.ping_token, old.ping_digest) == ("tok-old", lookup_digest("tok-old"))
    channel = AlertChannel.objects.get(pk=channel_id)
    assert (channel.target, channel.secret) == (
        f"https://hooks.example.com/h?token={TOKEN}",
        PASSWORD,
    )
    assert ConfigChange.objects.get().changes == {
        "target": "https://hooks.example.com/h?token=****"
    }
