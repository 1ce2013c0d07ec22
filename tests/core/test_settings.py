import pytest
from django.core.exceptions import ImproperlyConfigured

from analytics_project.env import database_from_url, env_bool, env_int, load_dotenv


@pytest.mark.parametrize("raw, expected", [("true", True), ("0", False), ("Off", False)])
def test_booleans_are_read_strictly(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", not expected) is expected


def test_a_misspelt_boolean_is_an_error_not_false(monkeypatch):
    monkeypatch.setenv("DEBUG_X", "flase")
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env_bool("DEBUG_X", False)


def test_integers_are_checked_against_their_minimum(monkeypatch):
    monkeypatch.setenv("DAYS", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("DAYS", 90, minimum=1)


def test_database_url_is_parsed():
    db = database_from_url("postgres://app:s%40cret@db.internal:6543/metrics")
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "app",
        "s@cret",
        "db.internal",
        "6543",
        "metrics",
    )
    with pytest.raises(ImproperlyConfigured):
        database_from_url("mysql://x/y")


def test_dotenv_fills_only_missing_variables(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("# c\nA_SETTING=from-file\nB_SETTING='quoted'\n")
    monkeypatch.setenv("A_SETTING", "from-env")
    monkeypatch.delenv("B_SETTING", raising=False)

    load_dotenv(tmp_path / ".env")

    import os

    assert os.environ["A_SETTING"] == "from-env"
    assert os.environ["B_SETTING"] == "quoted"
    monkeypatch.delenv("B_SETTING")


def test_start_up_without_secret_key_in_production_says_what_to_set(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DEBUG": "false", "SECRET_KEY": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_registered_task_names_are_stable():
    """Renaming a task strands messages already queued under the old name."""
    from analytics_project.celery import app

    app.loader.import_default_modules()
    ours = sorted(name for name in app.tasks if not name.startswith("celery."))
    assert ours == [
        "alerts.deliver",
        "alerts.evaluate",
        "alerts.sweep_deliveries",
        "ingest.drain_outbox",
        "ingest.maintain_partitions",
        "ingest.process_outbox",
        "ingest.purge_expired",
        "ingest.sweep_outbox",
        "insights.track_period",
        "metrics.pack_points",
        "metrics.rollup_pending",
        "monitoring.record_system_metrics",
        "monitoring.run_checks",
        "otlp.forget_streams",
    ]


def test_api_docs_assets_are_served_locally(client, settings):
    settings.DEBUG = False  # as under gunicorn: no runserver static handling
    page = client.get("/api/docs/")
    assert page.status_code == 200
    import re

    scripts = re.findall(r'src="(/static/[^"]+\.js)"', page.content.decode())
    assert scripts, "the docs page should load its scripts from this server"
    for src in scripts:
        assert client.get(src).status_code == 200, src


def test_env_example_lists_every_variable_the_service_reads(settings):
    """An operator learns every setting from .env.example: nothing read is left out."""
    import re

    root = settings.BASE_DIR
    sources = [*(root / "analytics_project").glob("*.py"), root / "Procfile"]
    read = set()
    for source in sources:
        text = source.read_text()
        read |= set(re.findall(r'env(?:_\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', text))
        read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", text))
    # A family (env_int_family's prefix) is listed once per member: here, every kind.
    from apps.ingest.registry import all_kinds

    read = {name for name in read if not name.endswith("_")}
    read |= {f"ANALYTICS_RETENTION_DAYS_{kind.name.upper()}" for kind in all_kinds()}
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), re.M))

    assert {"DATABASE_URL", "WEB_HEADER_TIMEOUT", "ANALYTICS_RETENTION_DAYS_EVENT"} <= read
    assert read - listed == set()
