"""An in-process buffer in front of the outbox, for writes made by this service itself.

Appending costs microseconds and never raises; a background thread flushes
everything through `outbox_write` about once a second (and at exit). If the
database is down the rows are kept and retried; past MAX_BUFFER new rows are
dropped and counted. A hard crash may lose up to one flush interval.
"""

import logging
import threading

from django.conf import settings

from .background import Periodic
from .outbox import outbox_write, publisher
from .registry import get_kind
from .validation import validate_items

logger = logging.getLogger(__name__)

MAX_BUFFER = 50_000


class IngestBuffer:
    def __init__(self, flush_seconds: float):
        self._items: dict[str, list[dict]] = {}
        self._size = 0
        self._lock = threading.Lock()
        self.dropped = 0
        self.flusher = Periodic(
            "ingest-buffer-flusher",
            flush_seconds,
            self._flush_and_close,
            reset=self.take,
            at_exit=self._flush_at_exit,
        )

    def add(self, kind: str, row: dict) -> None:
        self.flusher.ensure_started()
        with self._lock:
            if self._size >= MAX_BUFFER:
                self.dropped += 1
                return
            self._items.setdefault(kind, []).append(row)
            self._size += 1

    def take(self) -> dict[str, list[dict]]:
        with self._lock:
            items, self._items, self._size = self._items, {}, 0
        return items

    def flush(self) -> int:
        """Write what is buffered through the outbox; kept for the next flush if that fails."""
        batches = self.take()
        if not batches:
            return 0
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

    def _flush_and_close(self) -> None:
        from django.db import connection

        self.flush()
        # The flusher's own connection: closed so it never pins the database.
        connection.close()

    def _flush_at_exit(self) -> None:
        """The last flush of a process that ends (a command, `manage.py shell`, a stopping
        web worker): its batches' broker messages go out too before the process is gone,
        instead of waiting for the sweeper (INGEST_OUTBOX_STALE_SECONDS and more)."""
        self._flush_and_close()
        publisher.wait_idle(publisher.EXIT_WAIT_SECONDS)


buffer = IngestBuffer(flush_seconds=settings.ANALYTICS_LOG_FLUSH_SECONDS)


def record_later(kind: str, item: dict) -> bool:
    """Validate one item like the API would and buffer it; never raises, never blocks.

    Returns False (and logs why) when the item is invalid or anything fails:
    analytics must not break the code that reports it.
    """
    try:
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
