"""Keys passed in a query string (`?key=`, the live feed's browser method, a Sentry SDK's
`?sentry_key=`) never reach a log line beyond their public prefix, nor does a token
carried in a path (a heartbeat's ping URL).

uvicorn logs every WebSocket handshake and HTTP request with its query string, accepted
or refused. One filter, set on every handler of the process, rewrites such values as the
line is written: `?key=AbCd1234.<secret>` shows as `?key=AbCd1234.***` (the prefix is
what the admin lists, enough to tell clients apart), and a value without a prefix shows
as `***`. Imports nothing but the standard library: it may run before Django is set up.
"""

import logging
import re
from urllib.parse import unquote_plus

# Query parameters whose values are credentials (compared decoded and lower-cased, so
# `?KEY=` or `?%6Bey=`, which a query parser reads as `key`, are masked too).
SECRET_PARAMETERS = frozenset(
    {"key", "api_key", "apikey", "token", "access_token", "sentry_key", "sentry_secret"}
)
MASK = "***"
# Paths whose next segment is a credential: a heartbeat's ping URL.
_SECRET_SEGMENT = re.compile(r"(?P<lead>/monitoring/ping/)(?P<value>[^/?#\s\"']+)")

# name=value after `?`, `&` or `;`, up to the next separator, space or quote.
_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;?#\s\"']+)=(?P<value>[^&;#\s\"']*)")
# A key's public prefix (djangorestframework-api-key: 8 letters and digits, then a dot).
_PREFIX = re.compile(r"[A-Za-z0-9]{1,16}\.")


def _masked_value(value: str) -> str:
    prefix = _PREFIX.match(value)
    return f"{prefix.group()}{MASK}" if prefix else MASK


def _mask_parameter(match: re.Match) -> str:
    if unquote_plus(match["name"]).strip().lower() not in SECRET_PARAMETERS or not match["value"]:
        return match.group()
    return f"{match['lead']}{match['name']}={_masked_value(match['value'])}"


def mask_query_secrets(text: str) -> str:
    """`text` with the value of every secret query parameter masked but its prefix, and
    every secret path segment masked whole."""
    if "/ping/" in text:
        text = _SECRET_SEGMENT.sub(rf"\g<lead>{MASK}", text)
    if "=" not in text:  # most lines: no query string at all
        return text
    return _PARAMETER.sub(_mask_parameter, text)


def _masked(arg: object) -> object:
    return mask_query_secrets(arg) if isinstance(arg, str) else arg


class QuerySecretsFilter(logging.Filter):
    """Masks secret query values in a record's message and arguments, in place.

    The arguments are masked one by one rather than merged into the message: uvicorn's
    access formatter unpacks them (client, method, path, ...).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_query_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        elif isinstance(record.args, dict):  # in place: gunicorn's atoms are a dict subclass
            for name, arg in list(record.args.items()):
                record.args[name] = _masked(arg)
        return True


def mask_query_secrets_in_every_handler() -> int:
    """Set the filter on every handler configured in this process so far (the root's and
    every named logger's: uvicorn's own, Django's); a handler has it once. Returns how
    many handlers got it now."""
    loggers = [logging.getLogger()]
    loggers += [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    added = 0
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, QuerySecretsFilter) for f in handler.filters):
                handler.addFilter(QuerySecretsFilter())
                added += 1
    return added
