"""Production security settings come from the environment; the defaults serve plain HTTP."""

import os
import re
import secrets
import subprocess
import sys

import pytest
from django.test import Client

from bench.stack.deploy import production_env
from tests.live import ROOT


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_with_the_production_env_file_reports_no_issues():
    done = check_deploy(production_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_without_the_security_settings_warns():
    # The same check with only what every production needs: it does see the gaps.
    env = {"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50)}
    done = check_deploy(env)
    assert done.returncode != 0
    found = set(re.findall(r"security\.(W\d+)", done.stdout + done.stderr))
    assert {"W004", "W008", "W012", "W016"} <= found


def test_the_shipped_env_file_holds_no_secret():
    assert production_env(with_secret=False)["SECRET_KEY"] == ""


@pytest.mark.django_db
def test_default_settings_serve_plain_http():
    client = Client()
    health = client.get("/api/v1/analytics/health")
    docs = client.get("/api/docs/")
    assert (health.status_code, docs.status_code) == (200, 200)
    assert "Strict-Transport-Security" not in docs.headers


@pytest.mark.django_db
def test_ssl_redirect_moves_everything_to_https_but_health(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/api/v1/analytics/health").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 301
    assert docs.headers["Location"] == "https://testserver/api/docs/"


@pytest.mark.django_db
def test_behind_the_proxy_its_https_is_believed_and_answered_with_hsts(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    docs = Client().get("/api/docs/", HTTP_X_FORWARDED_PROTO="https")
    assert docs.status_code == 200
    assert docs.headers["Strict-Transport-Security"].startswith("max-age=31536000")
