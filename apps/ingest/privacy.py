"""What must never be stored: secrets are redacted and client IPs anonymized before a row exists.

Two nets, both applied at validation time, before anything reaches the outbox:

- by key: the value of a secret-looking key (`password`, `api_key`, `jwt`,
  `AWS_SECRET_ACCESS_KEY` ...) in any JSON object, at any depth, and a
  header list's `{"name": "Authorization", "value": ...}`;
- in free text (messages, stack traces, URLs, user agents, tag values):
  `key=value` / `key: value` / `"key": "value"` pairs with such a key (also
  URL-encoded), bare `Bearer`/`Basic` credentials, credentials inside URLs
  (`postgres://user:pw@host`), and well-known token formats (JWTs, private
  key blocks, cloud and VCS tokens) wherever they appear.
"""

import ipaddress
import re
from typing import Any

from django.conf import settings

REDACTED = "[redacted]"

# Key names, matched on the key lowercased with `-`, `_`, `.` and spaces removed
# ("X-Api-Key" -> "xapikey", "AWS_SECRET_ACCESS_KEY" -> "awssecretaccesskey").
_SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "privatekey",
    "accesskey",
    "credential",
    "jwt",
    "signature",
)
_SECRET_KEY_EXACT = {"pwd", "pass", "auth", "session", "sessionkey", "sessid", "sid", "xauth"}
_KEY_SEPARATORS = re.compile(r"[\s_.\-]+")


def is_secret_key(key: object) -> bool:
    """Whether a JSON key or tag name names a secret (its value is never stored)."""
    # Counts are not credentials: tokens_in, total_tokens, token_count.
    name = _KEY_SEPARATORS.sub("", str(key).lower()).replace("tokens", "").replace("tokencount", "")
    if not name:
        return False
    return name in _SECRET_KEY_EXACT or any(part in name for part in _SECRET_KEY_PARTS)


# A secret-looking key inside free text: the words above, with any prefix or
# suffix (access_token, client-secret, AWS_SECRET_ACCESS_KEY, x-api-key).
_KEY_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|authori[sz]ation|auth|cookie|api[_\-]?key"
    r"|private[_\-]?key|access[_\-]?key|credentials?|jwt|session(?:[_\-]?(?:key|token))?|sessid"
    r"|signature"
)
_KEY_IN_TEXT = rf"(?:[A-Za-z0-9]+[_\-.])*(?:{_KEY_WORDS})(?:[_\-.][A-Za-z0-9]+)*"
# Separators: `=`, `:`, `=>`, and their URL-encoded forms; quotes may surround the key.
_SEPARATOR = r"""["']?\s*(?:=>|=|:|%3[dDaA])\s*"""

_PAIR_QUOTED = re.compile(
    rf"""(?P<lead>(?<![A-Za-z0-9]){_KEY_IN_TEXT}{_SEPARATOR})(?P<q>\\?["'])(?P<value>.*?)(?P=q)""",
    re.IGNORECASE,
)
# Unquoted: the rest of the value, to the end of the line or a field separator
# (& ; , in query strings and cookies); `password: correct horse` loses it all.
_PAIR_BARE = re.compile(
    rf"""(?P<lead>(?<![A-Za-z0-9]){_KEY_IN_TEXT}{_SEPARATOR})(?P<value>[^\s"'&;,<>][^\r\n"'&;,<>]*)""",
    re.IGNORECASE,
)
# `{"name": "Authorization", "value": "Bearer x"}` (HAR, OpenAPI, fetch header lists).
_NAMED_VALUE = re.compile(
    rf"""(?P<lead>["']?(?:name|key|header)["']?\s*[:=]\s*["']{_KEY_IN_TEXT}["']\s*,\s*"""
    rf"""["']?value["']?\s*[:=]\s*["'])(?P<value>[^"']*)""",
    re.IGNORECASE,
)
_SCHEME_CREDENTIAL = re.compile(
    r"(?P<lead>\b(?:bearer|basic|digest|token|negotiate)\s+)(?P<value>[A-Za-z0-9\-._~+/=:%]{6,})",
    re.IGNORECASE,
)
# scheme://user:password@host -> scheme://user:[redacted]@host
_URL_PASSWORD = re.compile(
    r"(?P<lead>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)(?P<value>[^\s@/?#]+)(?=@)"
)
# scheme://<long token>@host (a token as the user name, as git remotes do)
_URL_TOKEN_USER = re.compile(
    r"(?P<lead>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<value>[^\s:/@?#]{16,})(?=@)"
)
# Formats recognisable without a key.
_KNOWN_TOKENS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"  # JWT
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"  # GitHub
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bglpat-[A-Za-z0-9_\-]{20,}"  # GitLab
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"  # Stripe
    r"|\bsk-[A-Za-z0-9_\-]{20,}"  # OpenAI-style
    r"|\bAIza[0-9A-Za-z_\-]{35}",  # Google API key
    re.DOTALL,
)
# Cheap pre-check: text without any of these cannot match the patterns above.
_MAYBE_SECRET = re.compile(
    r"pass|pwd|secret|token|auth|cookie|key|credential|jwt|session|sessid|signature|bearer"
    r"|basic|digest|negotiate|://|eyJ|AKIA|ASIA|gh[pousr]_|github_pat|glpat|xox|_live_|_test_"
    r"|sk-|AIza|PRIVATE",
    re.IGNORECASE,
)


def _keep_lead(match: re.Match) -> str:
    return match.group("lead") + REDACTED


def _keep_quotes(match: re.Match) -> str:
    return match.group("lead") + match.group("q") + REDACTED + match.group("q")


def scrub_text(text: str) -> str:
    """Redact secrets inside free text; text without a hint of one is returned as is."""
    if not text or not _MAYBE_SECRET.search(text):
        return text
    text = _KNOWN_TOKENS.sub(REDACTED, text)
    text = _NAMED_VALUE.sub(_keep_lead, text)
    text = _PAIR_QUOTED.sub(_keep_quotes, text)
    text = _PAIR_BARE.sub(_keep_lead, text)
    text = _SCHEME_CREDENTIAL.sub(_keep_lead, text)
    text = _URL_PASSWORD.sub(_keep_lead, text)
    return _URL_TOKEN_USER.sub(_keep_lead, text)


def scrub(value: Any) -> Any:
    """Redact the values of secret-looking keys at any depth, and secrets inside strings."""
    if isinstance(value, dict):
        named = _header_like(value)
        return {
            k: (REDACTED if is_secret_key(k) or (named and k == "value") else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _header_like(obj: dict) -> bool:
    """`{"name": "Authorization", "value": ...}`: the value belongs to a secret name."""
    if "value" not in obj:
        return False
    name = obj.get("name", obj.get("key", obj.get("header")))
    return isinstance(name, str) and is_secret_key(name)


_V4_MASK = ((1 << 32) - 1) ^ ((1 << 8) - 1)  # keep /24
_V6_MASK = ((1 << 128) - 1) ^ ((1 << 80) - 1)  # keep /48


def anonymize_ip(value: str | None) -> str | None:
    """Zero the host part (IPv4 /24, IPv6 /48) unless ANALYTICS_ANONYMIZE_IP is off.

    An IPv4 address written as IPv6 (`::ffff:203.0.113.77`) is an IPv4 address.
    """
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError("not an IP address") from None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not settings.ANALYTICS_ANONYMIZE_IP:
        return str(ip)
    mask = _V4_MASK if ip.version == 4 else _V6_MASK
    return str(type(ip)(int(ip) & mask))
