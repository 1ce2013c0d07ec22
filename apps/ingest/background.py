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
    """Calls `tick` every `seconds` in a thread of this process, and `at_exit` (`tick` by
    default) once more when the process exits."""

    def __init__(
        self,
        name: str,
        seconds: float,
        tick: Callable[[], None],
        *,
        reset=None,
        at_exit: Callable[[], None] | None = None,
    ):
        self.seconds = seconds
        self.tick = tick
        self.at_exit = at_exit or tick
        self.thread = ProcessThread(name, self._loop, on_start=reset or (lambda: None))

    def ensure_started(self) -> None:
        self.thread.ensure_started()

    def _loop(self) -> None:
        atexit.register(self._quietly, self.at_exit)
        stop = threading.Event()
        while not stop.wait(self.seconds):
            self._quietly(self.tick)

    def _quietly(self, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:  # never let the thread die
            logger.exception("%s failed", self.thread.name)


class Worker(Generic[Item]):
    """Hands items to `handle`, one at a time, in a thread of this process; at exit, waits
    a little for the items still queued (`EXIT_WAIT_SECONDS`)."""

    EXIT_WAIT_SECONDS = 2.0

    def __init__(self, name: str, handle: Callable[[Item], None]):
        self.handle = handle
        self.thread = ProcessThread(name, self._loop, on_start=self._reset)
        self._reset()

    def submit(self, item: Item) -> None:
        self.thread.ensure_started()
        with self._idle:
            self._pending += 1
        self._queue.put(item)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted item is handled; False if `timeout` s passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _reset(self) -> None:
        # The parent's items are the parent's to handle; its lock may have been held.
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0

    def _loop(self) -> None:
        atexit.register(self.wait_idle, self.EXIT_WAIT_SECONDS)
        while True:
            item = self._queue.get()
            try:
                self.handle(item)
            except Exception:  # never let the thread die
                logger.exception("%s failed", self.thread.name)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
