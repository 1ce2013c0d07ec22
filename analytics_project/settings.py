"""Settings, all driven by the environment (see .env.example)."""

import base64
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from apps.core.queues import Queue
from apps.core.redis import celery_keyprefix, redis_namespace

from .env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_int_family,
    env_list,
    env_str,
    load_dotenv,
)
from .gunicorn_conf import WEB_THREADS_DEFAULT

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")  # `make run` writes one with a generated SECRET_KEY

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set; set SECRET_KEY (or DEBUG=true for local development)."
        )
    SECRET_KEY = "dev-only-insecure-secret-key-change-me"
# Keys of the secrets kept encrypted at rest (channel targets and secrets, monitored
# services' targets): comma separated Fernet keys, the first encrypts, all decrypt. Empty:
# a key derived from SECRET_KEY (always tried last). Rotation: see docs/secrets.md.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])
for _number, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
    try:
        _valid = len(base64.urlsafe_b64decode(_key.encode())) == 32
    except ValueError:
        _valid = False
    if not _valid:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS: key {_number} is not a Fernet key (32 bytes in url-safe "
            "base64, 44 characters); `manage.py reencrypt_secrets --new-key` prints one."
        )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "apps.core",
    "apps.keys",
    "apps.ingest",
    "apps.requestlog",
    "apps.events",
    "apps.devices",
    "apps.jobs",
    "apps.errors",
    "apps.metrics",
    "apps.alerts",
    "apps.monitoring",
    "apps.status",
    "apps.ai",
    "apps.usage",
    "apps.insights",
    "apps.overview",
    "apps.live",
    "apps.console",
    "apps.sentry_ingest",
    "apps.otlp",
    "apps.posthog_capture",
]

MIDDLEWARE = [
    "apps.requestlog.middleware.AnalyticsMiddleware",
    # Health for probes that name a host by its address (before the Host check).
    "apps.monitoring.middleware.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.RejectNulMiddleware",
    # Last: the API read's transaction and slots cover the view and nothing else.
    "apps.core.readcost.ReadCostMiddleware",
]

ROOT_URLCONF = "analytics_project.urls"
WSGI_APPLICATION = "analytics_project.wsgi.application"
ASGI_APPLICATION = "analytics_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/analytics")
DATABASES = {"default": database_from_url(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["OPTIONS"] = {"connect_timeout": 3}
# Behind a pooler in transaction mode (PgBouncer's pool_mode = transaction), a client's
# consecutive transactions may run on different server connections, so nothing may
# outlive a transaction: every SET here is SET LOCAL, every advisory lock a transaction's
# (tests/core/test_pooling_rules.py), Django prepares no statement (psycopg's
# prepare_threshold is None without server_side_binding), and this turns off the one
# thing left, server-side cursors (QuerySet.iterator() would open one WITH HOLD).
DATABASE_TRANSACTION_POOLING = env_bool("DATABASE_TRANSACTION_POOLING", False)
if DATABASE_TRANSACTION_POOLING:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# A streaming replica for the reads (apps/core/replica.py): the API's reads, the console's
# sources and /metrics run there while it is at most DATABASE_REPLICA_MAX_LAG_SECONDS
# behind; never the pipeline or a write. Its tests read the test database itself.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
DATABASE_REPLICA_MAX_LAG_SECONDS = env_float("DATABASE_REPLICA_MAX_LAG_SECONDS", 30.0)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **DATABASES["default"],
        **database_from_url(DATABASE_REPLICA_URL),
        "OPTIONS": dict(DATABASES["default"]["OPTIONS"]),
        "TEST": {"MIRROR": "default"},
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Every Redis key and channel of this deployment (cache, live feed, locks, rate limits,
# smart filter, heartbeats, counters, Celery queues) starts with `<prefix>:<db>`: pub/sub
# ignores db numbers, so two deployments on one Redis server would otherwise share them.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "")
REDIS_NAMESPACE = redis_namespace(REDIS_URL, REDIS_KEY_PREFIX)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        "KEY_PREFIX": REDIS_NAMESPACE,
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# gunicorn serves the admin's and the API docs' assets itself through WhiteNoise
# (no CDN, no extra web server), straight from the apps: no collectstatic step.
WHITENOISE_USE_FINDERS = True

# --- Security (production) ------------------------------------------------
# Off by default so `make run` keeps serving plain HTTP on 127.0.0.1; the
# production values are in deploy/production.env.example (`check --deploy` clean).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers and probes check health over plain HTTP on the host itself.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/analytics/health$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Only behind a proxy that sets X-Forwarded-Proto itself (deploy/nginx): otherwise
# any client could claim https, and redirects, HSTS and secure cookies would follow it.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A key sent as `?key=` shows by its prefix alone in any line (the live process adds
    # this filter to uvicorn's handlers too: analytics_project/asgi.py).
    "filters": {"query_secrets": {"()": "apps.core.logmasking.QuerySecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["query_secrets"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}

# --- REST framework -------------------------------------------------------
THROTTLE_RATE_INGEST = env_str("THROTTLE_RATE_INGEST", "6000/min")
THROTTLE_RATE_READ = env_str("THROTTLE_RATE_READ", "1200/min")
# Requests with an invalid, revoked or expired key, per client IP.
THROTTLE_RATE_AUTH_FAILURES = env_str("THROTTLE_RATE_AUTH_FAILURES", "30/min")
# DRF syntax (N/sec|min|hour|day); a typo fails start-up, not every request.
for _name in ("THROTTLE_RATE_INGEST", "THROTTLE_RATE_READ", "THROTTLE_RATE_AUTH_FAILURES"):
    _count, _, _period = globals()[_name].partition("/")
    if not _count.isdigit() or _period[:1] not in {"s", "m", "h", "d"} or "/" in _period:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]!r} is not a rate; use e.g. 100/min.")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.keys.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.keys.permissions.CanRead"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.keys.throttling.KeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "ingest": THROTTLE_RATE_INGEST,
        "read": THROTTLE_RATE_READ,
    },
    # Every read answers `?format=csv` too (apps.core.renderers); JSON stays the default.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "apps.core.renderers.CsvRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JSONParser"],
    # `?format=xml` is a 400 naming `format` everywhere, not DRF's 404.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.FormatParameterNegotiation",
    "DEFAULT_SCHEMA_CLASS": "apps.core.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Analytics & observability API",
    "DESCRIPTION": (
        "Ingest request logs, events, device state, job outcomes and errors; "
        "query statistics. Three key scopes: write endpoints need an `ingest` key, "
        "read endpoints a `read` key or a staff session, and configuration and "
        "triage (alert rules, channels, silences, incidents, monitored services, "
        "prices) an `admin` key (which reads too) or a staff session with the "
        "model's permission. Every error is "
        '`{"error": code, "detail": text, "fields": {name: [messages]}}` (`fields` when the '
        "input named them); 429 and 503 carry `Retry-After`."
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",  # pydantic's optional fields are `type: 'null'`, valid in 3.1
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Names for choice sets that would otherwise be called after their field (StatusEnum).
    "ENUM_NAME_OVERRIDES": {
        "HealthStatusEnum": ["ok", "degraded"],
        "HealthCheckEnum": ["ok", "unavailable"],
        "RejectionErrorEnum": ["invalid"],
        "IncidentStatusEnum": "apps.alerts.models.IncidentStatus",
        "DeliveryStatusEnum": "apps.alerts.models.DeliveryStatus",
        "ServiceStatusEnum": "apps.monitoring.models.HealthStatus",
        "IssueStatusEnum": "apps.errors.models.IssueStatus",
    },
}

# --- Celery ---------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
# The queues a worker of this host consumes (the Procfile's and the systemd unit's -Q):
# all of them by default; a host of ingest workers says `ingest`, an alerting host
# `alerts,default`. A name that is no queue would leave its tasks unconsumed: refused.
WORKER_QUEUES = env_list("WORKER_QUEUES", [queue.value for queue in Queue])
if not WORKER_QUEUES or set(WORKER_QUEUES) - {queue.value for queue in Queue}:
    raise ImproperlyConfigured(
        f"WORKER_QUEUES={','.join(WORKER_QUEUES)!r}: expected some of "
        f"{', '.join(queue.value for queue in Queue)}, comma-separated."
    )
CELERY_TASK_ROUTES = {
    "ingest.process_outbox": {"queue": Queue.INGEST.value},
    "ingest.drain_outbox": {"queue": Queue.INGEST.value},
    "ingest.sweep_outbox": {"queue": Queue.INGEST.value},
    "alerts.*": {"queue": Queue.ALERTS.value},
    # Checks are latency-sensitive too: an ingest backlog must not delay them.
    "monitoring.*": {"queue": Queue.ALERTS.value},
}
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    # The outbox sweeper re-queues lost work well before this.
    "visibility_timeout": 3600,
    # Queues, bindings and pidbox (ping/inspect) channels: this deployment's own.
    "global_keyprefix": celery_keyprefix(REDIS_NAMESPACE),
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "apps.monitoring.scheduler:HeartbeatScheduler"
CELERY_TIMEZONE = "UTC"

# Workers and beat write a sign of life this often (seconds); one older than two
# intervals makes /api/v1/analytics/health report the part down.
MONITORING_HEARTBEAT_SECONDS = env_int("MONITORING_HEARTBEAT_SECONDS", 5, minimum=1)
# One beat sends the schedule: the one holding this Redis lock; another takes over once
# the holder has not renewed it for this long (apps/monitoring/scheduler.py).
BEAT_LOCK_SECONDS = env_int("BEAT_LOCK_SECONDS", 15, minimum=3)
# Health checks older than this are purged daily (~13,000 a day from the built-in checks
# alone). 31 keeps the response times of the SLA's default 720-hour window; uptime comes
# from the downtimes, which are kept.
MONITORING_CHECK_RETENTION_DAYS = env_int("MONITORING_CHECK_RETENTION_DAYS", 31, minimum=1)

# The monitored service whose status is the AI model's `is_available` in the overview;
# empty: the one named like the most used model, if there is one.
AI_MODEL_SERVICE = env_str("AI_MODEL_SERVICE", "")

# Product usage (/top-users, /popular-scenarios, the overview's `usage` block): which
# event types mean what, comma separated. Scenario events carry `scenario_id` (and
# `scenario_name`) in their metadata.
USAGE_SCENARIO_STARTED_EVENTS = env_list("USAGE_SCENARIO_STARTED_EVENTS", ["scenario_started"])
USAGE_SCENARIO_COMPLETED_EVENTS = env_list(
    "USAGE_SCENARIO_COMPLETED_EVENTS", ["scenario_completed"]
)
USAGE_QUIZ_EVENTS = env_list("USAGE_QUIZ_EVENTS", ["quiz_completed"])
USAGE_GRAMMAR_CHECK_EVENTS = env_list("USAGE_GRAMMAR_CHECK_EVENTS", ["grammar_check"])

# Product insights (per user, agent and platform periods): which event types mean what.
# Overridable per meaning in the admin (Insights > Event meanings).
INSIGHTS_EVENT_TYPES = {
    meaning: [meaning]
    for meaning in (
        "contract_created",
        "contract_completed",
        "contract_cancelled",
        "contract_failed",
        "credits_purchased",
        "credits_spent",
        "orchestration_run",
        "agent_called",
        "bid_placed",
        "contract_won",
        "validation_scored",
        "reputation_scored",
        "fraud_alert",
        "security_event",
    )
}

# Tracking a period reads users, agents and the platform on this many connections at
# once (1: one after the other, in the caller's transaction).
INSIGHTS_TRACKING_THREADS = env_int("INSIGHTS_TRACKING_THREADS", 3, minimum=1)

# --- Live feed (the ASGI process: `live` in the Procfile, on WS_PORT) --------
# ADVANCED_ANALYTICS_STATS (the /advanced answer with its defaults) every this many
# seconds, DASHBOARD_STATS every LIVE_DASHBOARD_SECONDS. One process broadcasts (a Redis
# lock that expires after 3 of the shorter intervals, so a killed one is replaced).
ANALYTICS_BROADCAST_SECONDS = env_float("ANALYTICS_BROADCAST_SECONDS", 10.0, minimum=0.2)
LIVE_DASHBOARD_SECONDS = env_float("LIVE_DASHBOARD_SECONDS", 5.0, minimum=0.2)
# A connection's key or session is checked again this often; revoked: closed (4403).
LIVE_RECHECK_SECONDS = env_float("LIVE_RECHECK_SECONDS", 60.0, minimum=1.0)
# The staff console's pages open the feed on this port of the host they came from (as
# `make run` serves it); a page served on 80/443 (behind deploy/nginx) opens the same
# origin's /ws/analytics/ instead. 0: the console polls its JSON instead.
WS_PORT = env_int("WS_PORT", 8001)
# Group messages cross processes through Redis pub/sub: nothing is queued for clients
# that are gone, and a push is never stored.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_NAMESPACE}:live:"},
    }
}

# How often beat's sweeper looks for outbox batches whose task got lost (seconds): a
# lost batch is stored at most INGEST_OUTBOX_STALE_SECONDS + this after it was accepted.
INGEST_OUTBOX_SWEEP_SECONDS = env_int("INGEST_OUTBOX_SWEEP_SECONDS", 30, minimum=1)
# How often every enabled alert rule is evaluated (seconds).
ALERTS_EVALUATION_SECONDS = env_int("ALERTS_EVALUATION_SECONDS", 60, minimum=5)
# A periodic job that fails this many times in a row makes the built-in `periodic-tasks`
# check fail (and so open an incident naming it); fewer failures make it degraded.
PERIODIC_TASK_FAILURES_ALERT = env_int("PERIODIC_TASK_FAILURES_ALERT", 3, minimum=1)
# Every periodic job, in one table; `manage.py setup_schedules` syncs it.
PERIODIC_TASKS = {
    "sweep-outbox": {"task": "ingest.sweep_outbox", "every_seconds": INGEST_OUTBOX_SWEEP_SECONDS},
    "rollup-metrics": {"task": "metrics.rollup_pending", "every_seconds": 10},
    "purge-analytics": {"task": "ingest.purge_expired", "crontab": "30 3 * * *"},
    # The points and minute rollups of the hours over, the hour rollups of the days over,
    # packed into blocks (apps.metrics.packing).
    "pack-metric-points": {"task": "metrics.pack_points", "crontab": "5 * * * *"},
    "maintain-partitions": {"task": "ingest.maintain_partitions", "crontab": "7 * * * *"},
    "evaluate-alerts": {"task": "alerts.evaluate", "every_seconds": ALERTS_EVALUATION_SECONDS},
    "sweep-alert-deliveries": {"task": "alerts.sweep_deliveries", "every_seconds": 30},
    # Each service has its own interval (>= 5 s); this only looks for the due ones.
    "run-health-checks": {"task": "monitoring.run_checks", "every_seconds": 5},
    "record-system-metrics": {"task": "monitoring.record_system_metrics", "every_seconds": 60},
    "otlp-forget-streams": {"task": "otlp.forget_streams", "crontab": "40 3 * * *"},
    # Each period once it is over, a few minutes late for stragglers (UTC).
    **{
        f"track-{period}": {
            "task": "insights.track_period",
            "crontab": crontab,
            "kwargs": {"period_type": period},
        }
        for period, crontab in (
            ("hour", "5 * * * *"),
            ("day", "15 0 * * *"),
            ("week", "30 0 * * 1"),
            ("month", "45 0 1 * *"),
        )
    },
}

# --- Analytics ------------------------------------------------------------
ANALYTICS_ENABLED = env_bool("ANALYTICS_ENABLED", True)
ANALYTICS_RETENTION_DAYS = env_int("ANALYTICS_RETENTION_DAYS", 90, minimum=1)
# Per-kind overrides, ANALYTICS_RETENTION_DAYS_<KIND> for any kind the pipeline has
# (REQUEST_LOG=30, AI_USAGE=365 ...); a name that is no kind stops start-up (ingest.E001).
ANALYTICS_RETENTION_BY_KIND = env_int_family("ANALYTICS_RETENTION_DAYS_", minimum=1)
# Partitioned kinds (metric points): a partition a day, created this many days ahead by
# the hourly maintain-partitions task, so beat may be down that long without a hole.
PARTITIONS_AHEAD_DAYS = env_int("PARTITIONS_AHEAD_DAYS", 7, minimum=2)
# Metric percentiles over a window of at most this many points are computed exactly from
# its raw points (percentile_cont); bigger windows read the rollups' sketches (within 1%).
METRICS_EXACT_PERCENTILE_POINTS = env_int("METRICS_EXACT_PERCENTILE_POINTS", 10_000, minimum=0)
# Rollups outlive the raw points (ANALYTICS_RETENTION_DAYS_METRIC): minutes, hours and
# days each kept this long; reads over older windows answer from what is kept.
METRICS_ROLLUP_RETENTION_DAYS = {
    "m": env_int("METRICS_MINUTE_ROLLUP_RETENTION_DAYS", 30, minimum=1),
    "h": env_int("METRICS_HOUR_ROLLUP_RETENTION_DAYS", 730, minimum=1),
    "d": env_int("METRICS_DAY_ROLLUP_RETENTION_DAYS", 1825, minimum=1),
}
ANALYTICS_ANONYMIZE_IP = env_bool("ANALYTICS_ANONYMIZE_IP", True)
# Only behind a proxy that sets it: otherwise any client could choose its logged IP.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
ANALYTICS_LOG_FLUSH_SECONDS = float(env_int("ANALYTICS_LOG_FLUSH_MS", 1000, minimum=10)) / 1000
ANALYTICS_MIDDLEWARE_SKIP_PREFIXES = (
    "/api/v1/analytics/health",
    "/metrics",
    "/static/",
    "/api/schema",
    "/api/docs",
    "/favicon.ico",
    # The staff console's own JSON reads (each open page, every minute): charted
    # traffic would otherwise grow with the number of people watching it.
    "/admin/console/data/",
)

INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
INGEST_MAX_ITEMS = env_int("INGEST_MAX_ITEMS", 1000, minimum=1)
INGEST_MAX_ITEM_BYTES = env_int("INGEST_MAX_ITEM_BYTES", 32 * 1024, minimum=256)
# Tell the broker about committed outbox rows from a background thread, so a
# request never waits on Redis (the sweeper covers a process that dies first).
INGEST_PUBLISH_IN_BACKGROUND = env_bool("INGEST_PUBLISH_IN_BACKGROUND", True)
INGEST_OUTBOX_STALE_SECONDS = env_int("INGEST_OUTBOX_STALE_SECONDS", 60, minimum=1)
# A batch waiting longer than this makes the built-in `outbox-lag` check fail (and so
# open an incident): accepted data is not reaching its tables.
INGEST_OUTBOX_ALERT_SECONDS = env_int("INGEST_OUTBOX_ALERT_SECONDS", 300, minimum=1)
INGEST_FUTURE_TOLERANCE_SECONDS = 3600
# OTLP/HTTP (apps/otlp, docs/otlp.md). A histogram point becomes one metric point per
# observation: a point holding more is refused (partial_success), and one request makes
# at most OTLP_MAX_ITEMS_PER_REQUEST items (the rest refused, for the SDK to see).
OTLP_HISTOGRAM_MAX_OBSERVATIONS = env_int("OTLP_HISTOGRAM_MAX_OBSERVATIONS", 100_000, minimum=1)
OTLP_MAX_ITEMS_PER_REQUEST = env_int("OTLP_MAX_ITEMS_PER_REQUEST", 200_000, minimum=1)
# Resource attributes starting with these are not metric tags (a process id would make
# a new series at every restart); service.name always is one.
OTLP_RESOURCE_TAGS_IGNORED = tuple(
    env_list("OTLP_RESOURCE_TAGS_IGNORED", ["telemetry.", "process.", "host.id", "os."])
)
# Cumulative streams (their last point, to make deltas) not seen this long are forgotten.
OTLP_STREAM_RETENTION_DAYS = env_int("OTLP_STREAM_RETENTION_DAYS", 7, minimum=1)
# OTLP log records below ERROR (without exception.*): `drop` (counted, not stored) or
# `events` (stored as events `otel_log`). ERROR and above always become errors.
OTLP_LOGS_BELOW_ERROR = env_str("OTLP_LOGS_BELOW_ERROR", "drop")
if OTLP_LOGS_BELOW_ERROR not in ("drop", "events"):
    raise ImproperlyConfigured(
        f"OTLP_LOGS_BELOW_ERROR must be drop or events, not {OTLP_LOGS_BELOW_ERROR!r}."
    )
# Smart Data Filter for device metrics.
SMART_FILTER_THRESHOLD_PERCENT = env_float("SMART_FILTER_THRESHOLD_PERCENT", 5.0)
SMART_FILTER_SNAPSHOT_SECONDS = env_int("SMART_FILTER_SNAPSHOT_SECONDS", 300, minimum=1)
PURGE_BATCH_SIZE = env_int("PURGE_BATCH_SIZE", 10_000, minimum=1)
RETRY_AFTER_SECONDS = 5
# What one API read (GET/HEAD under /api/v1/, health excepted) may cost; see
# apps/core/readcost.py and the README's "Costly reads". One statement longer than this
# (ms; 0 = no limit) is stopped and answered 503 read_too_costly; so is a read that has
# spent it in all. Writes keep no timeout.
API_READ_STATEMENT_TIMEOUT_MS = env_int("API_READ_STATEMENT_TIMEOUT_MS", 5000, minimum=0)
# Reads of one key running at once, across every web process; one more waits this
# long (ms) for a slot, then is answered 429.
API_READS_PER_KEY = env_int("API_READS_PER_KEY", 2, minimum=1)
API_READ_KEY_WAIT_MS = env_int("API_READ_KEY_WAIT_MS", 1000, minimum=0)
# Reads running at once in one web process (more wait in gunicorn's event loop, without
# a thread): the threads less one, so health and ingest always find a free thread.
API_READS_PER_PROCESS = env_int(
    "API_READS_PER_PROCESS",
    max(1, env_int("WEB_THREADS", WEB_THREADS_DEFAULT, minimum=1) - 1),
    minimum=1,
)
API_READ_SLOT_SECONDS = 3 * API_READ_STATEMENT_TIMEOUT_MS / 1000 + 30  # a dead worker's slot
API_READ_PATH_PREFIX = "/api/v1/"
API_READ_EXEMPT_PREFIXES = ("/api/v1/analytics/health",)
# Own Celery tasks whose outcomes are not recorded as JobOutcome rows: the
# ingest task runs per batch and would double the write volume for no insight.
JOB_OUTCOME_SKIP_TASKS = {"ingest.process_outbox", "ingest.drain_outbox"}

# --- Alerts -----------------------------------------------------------------
# Webhook and Slack targets on loopback, private or link-local addresses are refused
# (SSRF) unless this is true: for a receiver on this machine or the private network.
ALERTS_ALLOW_PRIVATE_WEBHOOKS = env_bool("ALERTS_ALLOW_PRIVATE_WEBHOOKS", False)
# A failed notification is retried after 10 s, 20 s, 40 s ... (at most the cap), then
# given up after this many attempts; every attempt is logged on the incident.
ALERTS_DELIVERY_MAX_ATTEMPTS = env_int("ALERTS_DELIVERY_MAX_ATTEMPTS", 8, minimum=1)
ALERTS_DELIVERY_BACKOFF_SECONDS = env_int("ALERTS_DELIVERY_BACKOFF_SECONDS", 10, minimum=1)
ALERTS_DELIVERY_BACKOFF_MAX_SECONDS = env_int("ALERTS_DELIVERY_BACKOFF_MAX_SECONDS", 900, minimum=1)
ALERTS_DELIVERY_TIMEOUT_SECONDS = env_float("ALERTS_DELIVERY_TIMEOUT_SECONDS", 10.0, minimum=1.0)
# Channel names (comma separated) every built-in rule notifies: given when the rule is
# installed, or when a channel of that name is created later.
ALERTS_DEFAULT_CHANNELS = env_list("ALERTS_DEFAULT_CHANNELS", [])
# Deliveries (with their attempts) and timeline lines of incidents resolved longer ago
# than this are deleted by the daily purge; the incidents themselves are kept.
ALERTS_RETENTION_DAYS = env_int("ALERTS_RETENTION_DAYS", 90, minimum=1)

# Email notifications (Django's SMTP backend).
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "alerts@localhost")
