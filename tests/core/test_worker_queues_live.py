"""Workers on hosts of their own, as the README's "Scaling out" sets them up: the
Procfile's worker with WORKER_QUEUES consumes those queues only (an alerting host
leaves ingest alone; an ingest host stores it), and a name that is no queue stops the
worker at start, saying which names exist, instead of leaving tasks unconsumed."""

import pytest

from apps.events.models import Event
from apps.ingest.models import OutboxBatch
from apps.keys.services import api_key_create
from bench.stack.processes import procfile_args
from tests.live import Stack, api_call, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def start_worker(stack: Stack, name: str, queues: str) -> None:
    env = {**stack.env, "WORKER_QUEUES": queues, "WORKER_CONCURRENCY": "1"}
    stack.spawn(name, procfile_args("worker", env), env=env)


def test_each_host_consumes_its_worker_queues_only(tmp_path):
    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        stack.start_web(workers=1)
        start_worker(stack, "alerting", "alerts,default")
        stack.wait("alerting", lambda: stack.logged("alerting", "ready"), timeout=30, what="up")
        banner = stack.log("alerting", chars=20_000)
        assert ".> alerts" in banner and ".> default" in banner and ".> ingest" not in banner

        key = api_key_create(name="app", scope="ingest")[1]
        event = [{"event_type": "page_view", "user_id": "ann"}]
        assert api_call(stack.web_port, "POST", "/api/v1/analytics/events", key, event)[0] == 202
        with pytest.raises(TimeoutError):  # no worker of this deployment reads `ingest`
            wait_until(lambda: Event.objects.exists(), timeout=4, what="an event")
        assert OutboxBatch.objects.count() == 1

        start_worker(stack, "ingesting", "ingest")
        wait_until(lambda: Event.objects.count() == 1, timeout=30, what="the ingest host")
        assert not OutboxBatch.objects.exists()

        start_worker(stack, "mistyped", "ingets")
        stack.procs["mistyped"].wait(timeout=30)
        assert stack.procs["mistyped"].returncode != 0
        said = stack.log("mistyped")
        assert "WORKER_QUEUES='ingets'" in said and "ingest, default, alerts" in said, said
    finally:
        stack.close()
