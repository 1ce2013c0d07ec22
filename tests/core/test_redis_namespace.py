"""Every Redis name of a deployment comes from its REDIS_URL db and REDIS_KEY_PREFIX, and
the test suite runs in a Redis db and namespace of its own.

(Two real deployments side by side: tests/core/test_two_deployments_live.py.)"""

import os
import re

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from analytics_project.celery import app as celery_app
from apps.core.redis import get_redis, redis_namespace
from apps.devices import smartfilter
from apps.ingest.counters import counts
from apps.ingest.tasks import sweep_outbox
from apps.monitoring import heartbeats
from tests.conftest import RUN_NAMESPACE, TEST_REDIS_URL
from tests.helpers import ago, post_json

# Another test run's keys (test<pid>:...) are that run's business.
OTHER_RUNS = re.compile(rb"test\d+:")


def test_staging_and_production_on_one_server_get_different_namespaces():
    assert redis_namespace("redis://127.0.0.1:6379/0") == "analytics:0"
    assert redis_namespace("redis://127.0.0.1:6379/1") == "analytics:1"
    assert redis_namespace("redis://127.0.0.1:6379") == "analytics:0"
    assert redis_namespace("redis://127.0.0.1:6379/0", "staging") == "staging:0"
    assert redis_namespace("redis://:pw@cache.internal:6380/2?db=3", "") == "analytics:3"
    assert redis_namespace("unix:///run/redis.sock?db=4", "shop:prod") == "shop:prod:4"


@pytest.mark.parametrize("prefix", ["has space", "star*", "a::b", ":lead", "trail:", "{x}"])
def test_a_prefix_that_is_not_plain_text_is_refused_at_start_up(prefix):
    with pytest.raises(ImproperlyConfigured, match="REDIS_KEY_PREFIX"):
        redis_namespace("redis://127.0.0.1:6379/0", prefix)


def test_every_name_settings_derive_for_redis_shares_the_namespace():
    namespace = RUN_NAMESPACE
    assert settings.CACHES["default"]["KEY_PREFIX"] == namespace
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] == f"{namespace}:live:"
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    assert prefix == f"{namespace}:celery:"
    # What the Celery app publishes with, not only what settings say.
    assert celery_app.conf.broker_transport_options["global_keyprefix"] == prefix


def test_the_suite_never_uses_the_development_redis():
    assert settings.REDIS_URL == settings.CELERY_BROKER_URL == TEST_REDIS_URL
    assert settings.REDIS_URL != "redis://127.0.0.1:6379/0"
    assert celery_app.conf.broker_url == TEST_REDIS_URL
    db = redis_namespace(TEST_REDIS_URL).rsplit(":", 1)[1]
    assert get_redis().connection_pool.connection_kwargs["db"] == int(db)
    # A namespace of this run's own, so two runs at once never meet, inherited by the
    # processes live tests start.
    assert RUN_NAMESPACE == f"test{os.getpid()}:{db}"
    assert os.environ["REDIS_KEY_PREFIX"] == f"test{os.getpid()}"


def test_a_task_queued_in_a_test_lands_in_the_runs_own_queue():
    queue = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}ingest"
    client = get_redis()
    before = client.llen(queue)

    sweep_outbox.delay()

    assert client.llen(queue) == before + 1
    client.rpop(queue)  # nothing runs it: no worker serves this namespace


@pytest.mark.django_db
def test_every_key_ingest_limits_smart_filter_and_heartbeats_write_is_in_the_namespace(
    ingest_client, read_client, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_PUBLISH_IN_BACKGROUND = False  # published at commit, below
    client = get_redis()

    def foreign_keys() -> set[bytes]:
        return {key for key in client.scan_iter(count=1000) if not OTHER_RUNS.match(key)}

    before = foreign_keys()
    point = {"device_id": "boiler-1", "timestamp": ago(minutes=1), "metrics": {"temp": 70}}
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            response = post_json(ingest_client, "/api/v1/analytics/device-metrics", point)
            assert response.status_code == 202
    assert read_client.get("/api/v1/metrics/job-outcomes").status_code == 200
    stranger = APIClient()
    stranger.credentials(HTTP_X_API_KEY="not-a-key")
    assert stranger.get("/api/v1/metrics/job-outcomes").status_code in (401, 403)
    counts.push()
    heartbeats.worker_heartbeat("worker@here")
    heartbeats.beat_heartbeat()
    smartfilter.epoch_start()

    assert foreign_keys() - before == set()
    ours = {key.decode() for key in client.scan_iter(match=f"{settings.REDIS_NAMESPACE}:*")}
    themes = {key.removeprefix(f"{settings.REDIS_NAMESPACE}:").split(":")[0] for key in ours}
    assert {"ratelimit", "smartfilter", "ingest", "monitoring"} <= themes, ours
    queue = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}ingest"
    assert client.llen(queue) >= 1  # the stored batch's task, in the run's own queue
    client.delete(queue)
