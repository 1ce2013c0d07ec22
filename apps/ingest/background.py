"""Background threads that belong to one process: the buffer's flusher, the publisher.

A forked worker (gunicorn, Celery) inherits the parent's objects but not its
threads, so each helper notices the new process on first use, resets what the
parent left in it, and starts its own thread.
"""

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")


class ProcessThread:
    """One daemon thread per process, started on first use in that process."""

    def __init__(self, name: str, run: Callable[[], None], *, on_start: Callable[[], None]):
        self.name = name
        self._run = run
        self._on_start = on_start  # resets per-process state before the thread runs
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._on_start()
            self._pid = os.getpid()
        threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def adopt(self) -> None:
        """Count this process as started without a thread: its owner runs the work by hand
        (tests flush buffers when they mean to)."""
        with self._lock:
            self._on_start()
            self._pid = os.getpid()


class Periodic:
    """Calls `tick` every `seconds` in a thread of this process, and once more at exit."""

    def __init__(self, name: str, seconds: float, tick: Callable[[], None], *, reset=None):
        self.seconds = seconds
        self.tick = tick
        self.thread = ProcessThread(name, self._loop, on_start=reset or (lambda: None))

    def ensure_started(self) -> None:
        self.thread.ensure_started()

    def _loop(self) -> None:
        atexit.register(self._tick_quietly)
        stop = threading.Event()
        while not stop.wait(self.seconds):
            self._tick_quietly()

    def _tick_quietly(self) -> None:
        try:
            self.tick()
        except Exception:  # never let the thread die
            logger.exception("%s failed", self.thread.name)


class Worker(Generic[Item]):
    """Hands items to `handle`, one at a time, in a thread of this process."""

    def __init__(self, name: str, handle: Callable[[Item], None]):
        self.handle = handle
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self.thread = ProcessThread(name, self._loop, on_start=self._reset)

    def submit(self, item: Item) -> None:
        self.thread.ensure_started()
        self._queue.put(item)

    def _reset(self) -> None:
        self._queue = queue.SimpleQueue()  # the parent's items are the parent's to handle

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                self.handle(item)
            except Exception:  # never let the thread die
                logger.exception("%s failed", self.thread.name)
