"""deploy/README.md's multi-host layout, each host a network namespace (bench/stack/
multihost.py, which `make bench-multihost` runs longer): ingest at a steady load through
nginx, then one web host and one worker host lost (link cut, every process killed, the
namespace gone with its sockets) and brought back. Every accepted item is stored exactly
once; health, the console and a read endpoint keep answering; the hosts brought back
serve and work again."""

import os
from pathlib import Path

import pytest

from bench.stack.hosts import namespaces_usable
from bench.stack.multihost import NGINX, Deployment, run
from bench.stack.postgres import server_programs_missing

REASON = (
    namespaces_usable()
    or server_programs_missing()
    or (None if Path(NGINX).exists() else "nginx is not installed (`make test-deps`)")
)
if REASON and os.environ.get("CI") == "true":
    pytest.fail(f"the multi-host run cannot run in CI: {REASON}", pytrace=False)

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(300),
    pytest.mark.skipif(REASON is not None, reason=REASON or ""),
]


def test_losing_a_web_host_and_a_worker_host_loses_no_item():
    # The sweeper's figures shortened, so the lost worker's batches come back in seconds.
    deployment = Deployment(
        web_concurrency=1,
        worker_concurrency=1,
        overrides={"INGEST_OUTBOX_STALE_SECONDS": "10", "INGEST_OUTBOX_SWEEP_SECONDS": "3"},
    )
    worked_again = {}

    def after_load() -> None:
        # The logs of web1 and worker1 from their new start: nginx sent them requests
        # again, and the worker took tasks again.
        worked_again["web1"] = deployment.stack.logged("web1", '"POST /api/v1/analytics/')
        worked_again["worker1"] = deployment.stack.logged("worker1", "succeeded")

    figures = run(
        rate=400,
        batch=20,
        senders=4,
        # Longer than nginx's 10 s read timeout for health: a probe on its way to web1
        # when it was lost is answered by web2 after it, and later ones at once.
        phase_seconds=12,
        drain_timeout=90,
        deployment=deployment,
        after_load=after_load,
    )
    assert figures["refused"] == [], figures["refused"]
    for kind, counts in figures["exactly_once"].items():
        assert counts["accepted"] > 0, kind
        assert counts["stored"] == counts["accepted"], (kind, counts)
        assert counts["missing"] == counts["duplicates"] == counts["unexpected"] == 0, counts
    for phase in figures["phases"]:
        assert phase["accepted_per_s"] > 0, phase
        for stream in ("health", "console", "read"):
            assert phase["answered"][stream] > 0, (stream, str(phase))
    assert worked_again == {"web1": True, "worker1": True}
