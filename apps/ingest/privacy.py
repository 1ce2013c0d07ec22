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
    # Counts and kinds are not credentials: tokens_in, total_tokens, token_count, and
    # gen_ai.token.type (input or output, OpenTelemetry's GenAI token usage metric).
    name = _KEY_SEPARATORS.sub("", str(key).lower())
    name = name.replace("tokens", "").replace("tokencount", "").replace("tokentype", "")
    if not name:
        return False
    return name in _SECRET_KEY_EXACT or any(part in name for part in _SECRET_KEY_PARTS)


# Key-based patterns run case-sensitively over an ASCII-lowercased copy of the
# text (same length, so spans map back): with IGNORECASE or a leading look-behind,
# Python's regex engine tries every alternative at every position (~30 us for 250
# characters, per pattern); a plain literal alternation lets it skip ahead (~5 us).
# "Not inside a word" is checked on each match instead (see _starts_word).
_KEY_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|authori[sz]ation|auth|cookie|api[_\-]?key"
    r"|private[_\-]?key|access[_\-]?key|credentials?|jwt|session(?:id|key|token)?|sessid"
    r"|phpsessid|jsessionid|csrf(?:token)?|xsrf(?:token)?|signature"
)
# The key word and what follows it: a prefix (`aws_` of AWS_SECRET_ACCESS_KEY) is kept.
_KEY_IN_TEXT = rf"(?:{_KEY_WORDS})(?:[_\-.][a-z0-9]+)*"
# Separators: `=`, `:`, `=>`, and their URL-encoded forms; quotes may surround the key.
_SEPARATOR = r"""(?:\\?["']|%22)?\s*(?:=>|=|:|%3[da])\s*"""

_PAIR_QUOTED = re.compile(rf"""{_KEY_IN_TEXT}{_SEPARATOR}(\\?["'])(?P<value>.*?)\1""")
# Unquoted: the rest of the value, to the end of the line or a field separator
# (& ; , in query strings and cookies); `password: correct horse` loses it all.
_PAIR_BARE = re.compile(rf"""{_KEY_IN_TEXT}{_SEPARATOR}(?P<value>[^\s"'&;,<>][^\r\n"'&;,<>]*)""")
# Header lines whose whole value is a credential, whatever its scheme or inner syntax
# (`Authorization: Digest username="u", response="..."`, `Cookie: a=1; sessionid=...`).
_HEADER_LINE = re.compile(
    r"""(?:authori[sz]ation|proxy-authori[sz]ation|cookie|set-cookie|x-api-key|x-auth-token"""
    r"""|x-access-token)"""
    r"""\s*:\s*(?P<value>(?!["'])[^\r\n]+)"""
)
# Command-line flags: `--password hunter2`, `--token abc`.
_FLAG = re.compile(
    r"--?(?:password|passwd|pass|token|secret|api-key|apikey|auth)\s+(?P<value>[^\s-]\S*)"
)
# URL parameters that are credentials by convention, though their names are plain
# (`?code=` of an OAuth redirect, `&sig=` of a signed URL).
_URL_PARAM = re.compile(r"""[?&;#](?:code|sig|key|state_token|ticket)=(?P<value>[^&#\s"']+)""")
# `{"name": "Authorization", "value": "Bearer x"}` (HAR, OpenAPI, fetch header lists).
_NAMED_VALUE = re.compile(
    rf"""(?:name|key|header)["']?\s*[:=]\s*["'](?:[a-z0-9]+[_\-.])*{_KEY_IN_TEXT}["']\s*,\s*"""
    r"""["']?value["']?\s*[:=]\s*["'](?P<value>[^"']*)"""
)
_SCHEME_CREDENTIAL = re.compile(
    r"(?:bearer|basic|digest|token|negotiate)\s+(?P<value>[a-z0-9\-._~+/=:%]{6,})"
)
# Patterns whose match must not start inside a word ("xpassword=" is not a key).
_WORD_START = {_PAIR_QUOTED, _PAIR_BARE, _HEADER_LINE, _NAMED_VALUE, _SCHEME_CREDENTIAL}
_KEY_PATTERNS = (_HEADER_LINE, _FLAG, _NAMED_VALUE, _PAIR_QUOTED, _PAIR_BARE, _SCHEME_CREDENTIAL)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower_same_length(text: str) -> str:
    """Lowercase with every character where it was, so a span in it is a span in `text`."""
    lowered = text.lower()  # ~20x faster than translate; a few characters grow ("İ")
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


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
# Cheap pre-checks (substring tests run at C speed; one regex alternation over the
# whole text cost ~100 us): text without any of these cannot match the patterns.
_TOKEN_HINTS = (
    "-----BEGIN",
    "eyJ",
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "_live_",
    "_test_",
    "sk-",
    "AIza",
)
# The token formats that may be letters and digits alone (AWS key ids, Google API keys).
_ALNUM_TOKEN_HINTS = ("AKIA", "ASIA", "AIza")
_KEY_HINTS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "auth",
    "cookie",
    "key",
    "credential",
    "jwt",
    "sess",
    "csrf",
    "xsrf",
    "signature",
    "bearer",
    "basic",
    "digest",
    "negotiate",
)
_PARAM_HINTS = ("code=", "sig=", "key=", "state_token=", "ticket=")


def _keep_lead(match: re.Match) -> str:
    return match.group("lead") + REDACTED


def _redact_values(pattern: re.Pattern, text: str) -> str:
    """Replace each match's `value` group, found in the lowercased text, in the text."""
    lowered = _lower_same_length(text)
    pieces, last = [], 0
    for match in pattern.finditer(lowered):
        start = match.start()
        if pattern in _WORD_START and start and lowered[start - 1].isalpha():
            continue
        begin, end = match.span("value")
        if begin < last:
            continue
        pieces += (text[last:begin], REDACTED)
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def scrub_text(text: str) -> str:
    """Redact secrets inside free text; text without a hint of one is returned as is."""
    if not text:
        return text
    if text.isascii() and text.isalnum():
        # No separator, quote, dash or dot: of every pattern only the two token formats
        # made of letters and digits alone can match (a name, an id: most short fields).
        if not any(hint in text for hint in _ALNUM_TOKEN_HINTS):
            return text
    return _scrub_patterns(text)


def _scrub_patterns(text: str) -> str:
    """`scrub_text` without its shortcut: every pattern whose hint the text has."""
    if any(hint in text for hint in _TOKEN_HINTS):
        text = _KNOWN_TOKENS.sub(REDACTED, text)
    lowered = text.lower()
    if any(hint in lowered for hint in _PARAM_HINTS):
        text = _redact_values(_URL_PARAM, text)
    if any(hint in lowered for hint in _KEY_HINTS):
        for pattern in _KEY_PATTERNS:
            text = _redact_values(pattern, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(_keep_lead, text)
        text = _URL_TOKEN_USER.sub(_keep_lead, text)
    return text


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
