"""This machine's figures (psutil), recorded every minute as gauges of the metrics
engine, so they get rollups, statistics and the built-in alert rules."""

import os
import socket
import time

import psutil

from apps.metrics.services import record_gauge

GIB = 1024**3

# Primes psutil's CPU counter: a reading with no interval measures since the previous one.
psutil.cpu_percent(interval=None)


def system_figures(*, cpu_interval: float | None = 0.5) -> dict[str, float]:
    """CPU (measured over `cpu_interval` s, or since the previous reading with None),
    memory, root disk, uptime and 1-min load."""
    memory = psutil.virtual_memory()
    return {
        "cpu_percent": psutil.cpu_percent(interval=cpu_interval),
        "memory_percent": memory.percent,
        "memory_used_gb": round((memory.total - memory.available) / GIB, 3),
        "memory_total_gb": round(memory.total / GIB, 3),
        "disk_percent": psutil.disk_usage("/").percent,
        "uptime_seconds": round(time.time() - psutil.boot_time(), 1),
        "load_1m": os.getloadavg()[0],
    }


def host_name() -> str:
    return socket.gethostname()[:200]


def system_metrics_record() -> dict[str, float]:
    """Record each figure as `system.<name>`, tagged with this host; returns them."""
    figures = system_figures()
    host = {"host": host_name()}
    for name, value in figures.items():
        record_gauge(f"system.{name}", value, labels=host)
    return figures
