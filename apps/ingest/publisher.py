"""Publishes ingest tasks off the request path.

The outbox row is already committed when a request answers 202, so telling
the broker can happen a moment later in a background thread: the request
does not wait ~2 ms on Redis, nor on a broker that is down. If the process
dies first, the sweeper re-queues the row (INGEST_OUTBOX_STALE_SECONDS).
"""

import logging
import os
import queue
import threading

logger = logging.getLogger(__name__)


class Publisher:
    def __init__(self):
        self._queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._pid: int | None = None
        self._lock = threading.Lock()

    def submit(self, ids: list[int]) -> None:
        if self._pid != os.getpid():
            self._start()
        self._queue.put(ids)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._queue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="ingest-publisher", daemon=True).start()

    def _run(self) -> None:
        from .services import outbox_enqueue

        while True:
            ids = self._queue.get()
            try:
                outbox_enqueue(ids=ids)
            except Exception:  # never let the thread die
                logger.exception("publishing %d outbox row(s) failed", len(ids))


publisher = Publisher()
