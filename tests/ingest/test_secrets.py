"""No secret rests: every shape below, planted through every write endpoint in every
field that can carry free text, is absent from a `pg_dump` of the database afterwards.

Each shape wraps a unique marker; a marker found in the dump is a secret that was stored.
"""

import subprocess

import pytest
from django.db import connection

from apps.ingest.models import OutboxBatch
from tests.helpers import drain_outbox, post_json

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij"

# (name, template): `{m}` is the marker, uppercase letters and digits only, so it fits
# every token format (an AWS key id, base64, a URL).
SHAPES = [
    ("query password", "GET /login?user=bob&password={m}&next=/"),
    ("password colon, several words", "password: alpha {m} omega"),
    ("password equals", "password={m}"),
    ("json password", '{{"password": "{m}"}}'),
    ("json password, no spaces", '{{"password":"{m}"}}'),
    ("escaped json password", '{{\\"password\\": \\"{m}\\"}}'),
    ("python repr", "connect(host='db', password='{m}')"),
    ("ruby hash", ':password => "{m}"'),
    ("passwd", "passwd={m}"),
    ("pwd yaml", "pwd: {m}"),
    ("passphrase", "passphrase = {m}"),
    ("env quoted", 'DATABASE_PASSWORD="{m}"'),
    ("secret", "secret={m}"),
    ("client secret", "client_secret={m}&grant_type=client_credentials"),
    ("secret key yaml", "secret_key: {m}"),
    ("aws secret env", "AWS_SECRET_ACCESS_KEY={m}"),
    ("aws secret ini", "aws_secret_access_key = {m}"),
    ("aws access key id", "key id AKIA{m}QQQQQQQ in use"),
    ("aws access key id alone", "AKIA{m}QQQQQQQ"),
    ("aws temporary key id alone", "ASIA{m}QQQQQQQ"),
    ("token", "token={m}"),
    ("access token in url", "https://app.example/cb?access_token={m}&code=C{m}"),
    ("oauth code", "https://app.example/callback?code={m}&state=xyz"),
    ("id token", "id_token={m}"),
    ("refresh token", "refresh_token: {m}"),
    ("github token env", "export GITHUB_TOKEN={m}"),
    ("api key", "api_key={m}"),
    ("apikey", "apikey={m}"),
    ("api key header", "X-API-Key: {m}"),
    ("api key header lower", "x-api-key: {m}"),
    ("authorization bearer", "Authorization: Bearer {m}"),
    ("authorization basic", "Authorization: Basic {m}=="),
    ("authorization token", "Authorization: Token {m}"),
    ("authorization digest", 'Authorization: Digest username="u", response="{m}"'),
    ("proxy authorization", "Proxy-Authorization: Basic {m}"),
    ("authorization equals", "authorization=Bearer%20{m}"),
    ("json authorization", '{{"Authorization": "Bearer {m}"}}'),
    ("har header list", '[{{"name": "Authorization", "value": "Bearer {m}"}}]'),
    ("har api key", '{{"key": "X-Api-Key", "value": "{m}"}}'),
    ("bare bearer", "retrying with Bearer {m} after 401"),
    ("auth", "auth={m}"),
    ("cookie header", "Cookie: theme=dark; sessionid={m}; csrftoken=Z{m}"),
    ("set-cookie header", "Set-Cookie: sid={m}; HttpOnly"),
    ("sessionid", "sessionid={m}"),
    ("session", "session={m}"),
    ("csrf token", "csrftoken={m}"),
    ("jwt key", "jwt={m}"),
    ("bare jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi{m}.sig{m}"),
    ("private key pair", "private_key={m}"),
    ("pem block", "-----BEGIN RSA PRIVATE KEY-----\nMIIE{m}\n-----END RSA PRIVATE KEY-----"),
    (
        "openssh block",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl{m}\n-----END OPENSSH PRIVATE KEY-----",
    ),
    ("credentials", "credentials={m}"),
    ("credential yaml", "credential: {m}"),
    ("postgres url", "postgres://app:{m}@db.internal:5432/prod"),
    ("mysql url", "mysql://root:{m}@127.0.0.1/app"),
    ("redis url", "redis://:{m}@cache:6379/0"),
    ("amqp url", "amqp://guest:{m}@rabbit:5672//"),
    ("https basic auth url", "https://deploy:{m}@registry.example/v2/"),
    ("token as url user", "https://{m}ABCDEFGHIJ@github.com/org/repo.git"),
    ("url encoded password", "body=user%3Dbob%26password%3D{m}%26x%3D1"),
    ("url encoded json", "q=%7B%22password%22%3A%22{m}%22%7D"),
    ("signed url", "https://bucket.s3/x?X-Amz-Credential=A{m}&X-Amz-Signature=B{m}"),
    ("cli password flag", "mysql -u root --password {m} app"),
    ("cli token flag", "deploy --token {m} --env prod"),
    ("github pat", "ghp_{m}ABCDEFGHIJKLMNOPQRSTUVWX"),
    ("github fine grained", "github_pat_{m}ABCDEFGHIJKLMNOPQRSTUV"),
    ("gitlab", "glpat-{m}ABCDEFGHIJKL"),
    ("slack", "xoxb-{m}-ABCDEFGHIJ"),
    ("stripe", "sk_live_{m}ABCDEF"),
    ("openai style", "sk-{m}ABCDEFGHIJKLMNOPQR"),
    ("google api key", "AIza{m}" + ALNUM[: 35 - 9]),
    ("php session", "PHPSESSID={m}"),
]

assert len(SHAPES) >= 60


def marker(index: int) -> str:
    return f"QZ{index:02d}XW7KV"


def planted() -> list[tuple[str, str, str]]:
    """(shape name, marker, text) for every shape."""
    return [
        (name, marker(i), template.format(m=marker(i))) for i, (name, template) in enumerate(SHAPES)
    ]


def log_line(text: str) -> dict:
    return {"endpoint": text[:500], "method": "GET", "status_code": 500, "response_time_ms": 3}


# Every write endpoint, with the secret in each of its free-text fields and JSON bags.
ENDPOINTS = {
    "/api/v1/analytics/user-activity": lambda t, m: {
        "activity_type": "search",
        "page_url": t,
        "search_query": t,
        "element_id": t[:255],
        "extra_data": {"note": t, "token": m, "nested": [{"password": m}]},
    },
    "/api/v1/analytics/error": lambda t, m: {
        "category": "frontend",
        "error_message": t,
        "stack_trace": f"Traceback\n  {t}\nValueError",
        "endpoint": t[:500],
        "context": {"url": t, "headers": [{"name": "Authorization", "value": m}]},
    },
    "/api/v1/analytics/device-state-change": lambda t, m: {
        "device_id": "dev-1",
        "new_state": "offline",
        "reason": t,
        "changed_by": t[:255],
        "metadata": {"note": t, "api_key": m},
    },
    "/api/v1/analytics/job-outcome": lambda t, m: {
        "job_type": "sync",
        "status": "failed",
        "error_message": t,
        "initiated_by": t[:255],
        "metadata": {"log": t, "credentials": {"user": "u", "secret": m}},
    },
    "/api/v1/analytics/requests": lambda t, m: {
        **log_line(t),
        "route": t[:500],
        "user_agent": t[:500],
        "error_message": t,
    },
    "/api/v1/analytics/events": lambda t, m: {
        "event_type": "memory_posted",
        "metadata": {"title": t, "jwt": m, "deep": {"auth": m}},
    },
    "/api/v1/analytics/metrics/record": lambda t, m: {
        "metric_name": "login_attempts",
        "value": 1,
        "metric_type": "counter",
        "source": t[:100],
        "tags": {"url": t[:200], "token": m},
    },
    "/api/v1/analytics/device-metrics": lambda t, m: {
        "device_id": f"dev-{m}x"[:0] + "dev-secret",
        "metrics": {"status_text": t[:200], "api_key": m, "password": m},
    },
}


def batch_items(text: str, m: str) -> list[dict]:
    kinds = {
        "user_activity": "/api/v1/analytics/user-activity",
        "error": "/api/v1/analytics/error",
        "job_outcome": "/api/v1/analytics/job-outcome",
        "request_log": "/api/v1/analytics/requests",
        "event": "/api/v1/analytics/events",
        "metric": "/api/v1/analytics/metrics/record",
        "device_state": "/api/v1/analytics/device-state-change",
    }
    return [{"kind": kind, **ENDPOINTS[path](text, m)} for kind, path in kinds.items()]


def dump_database() -> str:
    db = connection.settings_dict
    result = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "--no-owner",
            "-h",
            db["HOST"],
            "-p",
            str(db["PORT"]),
            "-U",
            db["USER"],
            db["NAME"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_no_planted_secret_is_found_in_a_dump_of_the_database(ingest_client):
    shapes = planted()
    for path, build in ENDPOINTS.items():
        items = [build(text, m) for _, m, text in shapes]
        response = post_json(ingest_client, path, items)
        assert response.status_code == 202, (path, response.content[:500])
        answer = response.json()
        assert answer["rejected"] == [], (path, answer["rejected"][:3])
    for _, m, text in shapes:
        response = post_json(ingest_client, "/api/v1/analytics/batch", batch_items(text, m))
        assert response.json()["rejected"] == [], response.json()["rejected"][:3]
    drain_outbox()
    assert not OutboxBatch.objects.exists()

    dump = dump_database()

    assert "[redacted]" in dump  # the dump holds the rows, redacted
    leaked = [name for name, m, _ in shapes if m in dump]
    assert leaked == [], f"{len(leaked)} secret shape(s) stored verbatim: {leaked}"
