"""gunicorn settings (`-c python:analytics_project.gunicorn_conf`).

The Procfile (`make run`), deploy/systemd/analytics-web.service, the benches
and the live tests all start gunicorn with this file, so all of them serve the
same way; the command lines only add the address and the process count.
"""

import gc

from analytics_project.env import env_int

# Threads that only ever run complete requests: the worker reads headers and
# bodies in its event loop, so slow clients cost a socket, not a thread
# (analytics_project/serving.py; the sync worker stalled on two of them).
worker_class = "analytics_project.serving.BufferedThreadWorker"
# Health and ingest always find one of them free: API reads may take all but one
# (API_READS_PER_PROCESS in settings, derived from WEB_THREADS and this default).
WEB_THREADS_DEFAULT = 4
threads = env_int("WEB_THREADS", WEB_THREADS_DEFAULT, minimum=1)
keepalive = 5  # seconds an idle connection is kept for its next request
timeout = 30  # a worker whose event loop is stuck this long is restarted
graceful_timeout = 10
# Several gunicorns share a machine (make run, benches, tests): one control
# socket path for all of them would be taken over by whichever started last.
control_socket_disable = True


def post_worker_init(worker) -> None:
    # The access log writes each request line: a key a careless client put in the query
    # string (`?key=`) shows by its public prefix only, as in every other log line.
    from apps.core.logmasking import QuerySecretsFilter

    worker.log.access_log.addFilter(QuerySecretsFilter())
    # Everything loaded at start-up lives for the worker's life: keep the cyclic
    # GC from re-scanning it, which showed as multi-ms pauses in request p99.
    gc.collect()
    gc.freeze()


def when_ready(server) -> None:
    # Once per start of the service (the master, not each worker): a new smart-filter
    # epoch, so every device's next metrics point is stored as first contact.
    import django

    django.setup()
    from apps.devices.smartfilter import epoch_start

    try:
        epoch_start()
    except Exception as exc:  # Redis down: the filter stores every point anyway
        server.log.warning("smart filter epoch not started: %s", exc)
