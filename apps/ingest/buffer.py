"""An in-process buffer in front of the outbox, for writes made by this service itself.

Appending costs microseconds and never raises; a background thread flushes
everything through `outbox_write` about once a second (and at exit). If the
database is down the rows are kept and retried; past MAX_BUFFER new rows are
dropped and counted. A hard crash may lose up to one flush interval.
"""

import atexit
import logging
import os
import threading

from django.conf import settings

logger = logging.getLogger(__name__)

MAX_BUFFER = 50_000


class IngestBuffer:
    def __init__(self, flush_seconds: float):
        self.flush_seconds = flush_seconds
        self._items: dict[str, list[dict]] = {}
        self._size = 0
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._counts: dict[str, int] = {}
        self.dropped = 0

    def count(self, field: str, n: int) -> None:
        """Add to a counter pushed to Redis at the next flush (for /metrics)."""
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            self._counts[field] = self._counts.get(field, 0) + n

    def add(self, kind: str, row: dict) -> None:
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            if self._size >= MAX_BUFFER:
                self.dropped += 1
                return
            self._items.setdefault(kind, []).append(row)
            self._size += 1

    def _start(self) -> None:
        # Per process: a forked worker starts its own flusher.
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._items, self._size, self._counts = {}, 0, {}
        threading.Thread(target=self._run, name="ingest-buffer-flusher", daemon=True).start()
        atexit.register(self.flush)

    def _run(self) -> None:
        from django.db import connection

        stop = threading.Event()
        while not stop.wait(self.flush_seconds):
            self.flush()
            # The flusher's own connection: closed so it never pins the database.
            connection.close()

    def _flush_counts(self) -> None:
        from .services import ingest_counts_push

        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return
        try:
            ingest_counts_push(counts)
        except Exception:
            logger.debug("counters unavailable; keeping them", exc_info=True)
            with self._lock:
                for field, n in counts.items():
                    self._counts[field] = self._counts.get(field, 0) + n

    def take(self) -> dict[str, list[dict]]:
        with self._lock:
            items, self._items, self._size = self._items, {}, 0
        return items

    def flush(self) -> int:
        self._flush_counts()
        batches = self.take()
        if not batches:
            return 0
        from .services import outbox_write

        try:
            outbox_write(batches=batches)
        except Exception:
            count = sum(map(len, batches.values()))
            logger.warning("could not flush %d buffered row(s); keeping them", count)
            with self._lock:
                for kind, rows in batches.items():
                    kept = self._items.setdefault(kind, [])
                    kept[:0] = rows
                    self._size += len(rows)
            return 0
        return sum(map(len, batches.values()))


buffer = IngestBuffer(flush_seconds=settings.ANALYTICS_LOG_FLUSH_SECONDS)


def record_later(kind: str, item: dict) -> bool:
    """Validate one item like the API would and buffer it; never raises, never blocks.

    Returns False (and logs why) when the item is invalid or anything fails:
    analytics must not break the code that reports it.
    """
    try:
        from .pipeline import validate_items
        from .registry import get_kind

        record_kind = get_kind(kind)
        outcome = validate_items([item], resolve_kind=lambda _: record_kind, request=None)
        if outcome.rejected:
            logger.warning("dropped invalid %s: %s", kind, outcome.rejected[0]["errors"])
            return False
        buffer.add(kind, outcome.accepted[kind][0])
        return True
    except Exception:
        logger.warning("could not record %s", kind, exc_info=True)
        return False
