"""Strict readers for settings that come from the environment.

A typo such as ``DEBUG=flase`` is a start-up error, never a silent False.
"""

import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def load_dotenv(path) -> None:
    """Read KEY=VALUE lines from `.env` into the environment; real variables win."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_int_family(prefix: str, *, minimum: int = 0) -> dict[str, int]:
    """Every `<prefix><NAME>` variable as {name in lower case: its integer}, each as strict
    as env_int: for per-thing overrides whose things are known only once apps load (the
    caller checks the names then)."""
    return {
        name.removeprefix(prefix).lower(): env_int(name, 0, minimum=minimum)
        for name in sorted(os.environ)
        if name.startswith(prefix) and len(name) > len(prefix) and os.environ[name] != ""
    }


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// (got {parsed.scheme!r})."
        )
    return {
        "ENGINE": "psqlextra.backend",  # django.db.backends.postgresql + partitions
        "NAME": unquote(parsed.path.lstrip("/")) or "analytics",
        "USER": unquote(parsed.username or "postgres"),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
    }


# The exit status of a wrong setting: gunicorn's "worker failed to boot", on which
# its master stops instead of re-forking workers that fail the same way forever.
# Every process of ours exits with it: analytics_project/celery.py, the package's
# first import, is where the check runs first in all of them.
SETTING_ERROR_STATUS = 3


def load_settings_or_exit() -> None:
    """Load Django's settings now; a wrong one ends the process with its sentence alone.

    Every entry point (manage.py, wsgi, asgi, celery) calls this before Django
    loads the settings itself: there the sentence came last in a 55-line traceback.
    The sentence goes to stderr and the process exits with SETTING_ERROR_STATUS;
    settings already loaded make this a no-op.
    """
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - touching a setting imports the module
    except ImproperlyConfigured as exc:
        # Only the settings module's own sentences get here (what is wrong and what
        # to set), so the traceback would say nothing more.
        print(exc, file=sys.stderr, flush=True)
        raise SystemExit(SETTING_ERROR_STATUS) from None
