"""Secrets that must be kept to be used (a webhook's token, a monitored URL's password):
encrypted at rest, and masked wherever someone who may not use them looks.

Encryption: `EncryptedTextField` stores `enc1:<Fernet token>` and gives the clear text
back on read, so code that sends or checks keeps reading `channel.target` as a plain
string. The keys are FIELD_ENCRYPTION_KEYS (comma separated Fernet keys): the first one
encrypts, every one decrypts, so a key is rotated by adding a new one first, running
`manage.py reencrypt_secrets`, then removing the old one. A key derived from SECRET_KEY
is always tried last (it is the only key when the setting is empty), so setting
FIELD_ENCRYPTION_KEYS for the first time loses nothing.

An encrypted column cannot be searched or compared in SQL (each encryption differs):
lookups other than `isnull` on such a field are refused (FieldError) rather than
silently matching nothing.

Masking: `mask_credentials` keeps what tells targets apart (scheme, host, port, the
shape of the path, an email address) and replaces credentials with `****`: a URL's
password (`user:****@host`), a bare user-info token, every query value and the fragment,
token-like path segments (`/services/T000/****/****` of a Slack webhook), and any
secret the caller names (a heartbeat's ping token in its URL).
"""

import base64
import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "enc1:"
MASK = "****"
KEYS_SETTING = "FIELD_ENCRYPTION_KEYS"


class UndecryptableSecret(ImproperlyConfigured):
    """A stored value no key of FIELD_ENCRYPTION_KEYS (nor SECRET_KEY's) decrypts."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from SECRET_KEY (the default, and always the last tried)."""
    digest = hashlib.sha256(b"analytics field encryption\x00" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _fernet_key(index: int, key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            f"{KEYS_SETTING}: key {index} is not a Fernet key (32 bytes, url-safe base64, "
            "44 characters; make one with `manage.py reencrypt_secrets --new-key`)."
        ) from None


@lru_cache(maxsize=8)
def _keyring(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    fernets = [_fernet_key(i, key) for i, key in enumerate(keys, start=1)]
    derived = derived_key(secret_key)
    if derived.decode() not in keys:
        fernets.append(Fernet(derived))
    return MultiFernet(fernets)


def keyring() -> MultiFernet:
    """The keys as configured now: the first encrypts, all decrypt."""
    return _keyring(tuple(getattr(settings, KEYS_SETTING, ()) or ()), settings.SECRET_KEY)


def new_key() -> str:
    return Fernet.generate_key().decode()


def lookup_digest(secret: str) -> str:
    """The hex SHA-256 of a random token, stored beside its encrypted value to find the
    row it belongs to (an encrypted column cannot be compared in SQL). Only for tokens
    this service generates: long and random, so an unsalted hash reveals nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def encrypt(text: str) -> str:
    """`enc1:<token>` of `text` with the first key; "" stays "" (nothing to hide)."""
    if not text:
        return text
    return PREFIX + keyring().encrypt(text.encode()).decode()


def decrypt(value: str) -> str:
    """The clear text of an `encrypt` result; a value without the prefix (a row written
    before its column was encrypted) is returned as it is."""
    if not value or not is_encrypted(value):
        return value
    try:
        return keyring().decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            f"A stored secret was encrypted with a key {KEYS_SETTING} no longer lists: add "
            "that key back (after the new one), run `manage.py reencrypt_secrets`, then "
            "remove it."
        ) from None


def reencrypt(value: str) -> str:
    """The value encrypted with the first key now (a clear one encrypted, too)."""
    return encrypt(decrypt(value))


class EncryptedTextField(models.TextField):
    """Text stored encrypted (see the module's docstring), clear text in Python. A
    `max_length` bounds the clear text (forms, serializers); the column is `text`."""

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if isinstance(value, str) else value

    def to_python(self, value):
        value = super().to_python(value)
        return decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if isinstance(value, str) and not is_encrypted(value):
            return encrypt(value)
        return value

    def get_lookup(self, lookup_name):
        # `target = 'x'` would compare with a fresh encryption of 'x': never equal.
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def get_transform(self, name):
        return None

    def formfield(self, **kwargs):
        # One line, as the CharField it replaces (a URL, an address, a secret).
        return super().formfield(**{"widget": forms.TextInput, **kwargs})


# --- masking ------------------------------------------------------------------------

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")
# A path segment that reads as a token: long, letters and digits mixed (a Slack hook's
# `B0123ABCD`/`XXXXXXXXXXXXXXXXXXXXXXXX`, a Discord hook's token, a signed path).
_TOKEN_SEGMENT = re.compile(r"^(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_\-.~%+=]{16,}$")
# Hosts whose webhook paths are credentials after a fixed number of plain segments.
_PATH_SECRETS_AFTER = {"hooks.slack.com": 2}  # /services/T000/<secret>/<secret>


def _mask_path(host: str, path: str) -> str:
    segments = path.split("/")
    keep = _PATH_SECRETS_AFTER.get(host)
    masked = []
    plain = 0
    for segment in segments:
        if segment:
            plain += 1
            if (keep is not None and plain > keep) or _TOKEN_SEGMENT.match(segment):
                segment = MASK
        masked.append(segment)
    return "/".join(masked)


def _mask_query(query: str) -> str:
    if not query:
        return query
    parts = []
    for pair in re.split(r"([&;])", query):
        if pair in ("&", ";") or not pair:
            parts.append(pair)
        elif "=" in pair:
            parts.append(pair.split("=", 1)[0] + "=" + MASK)
        else:
            parts.append(MASK)
    return "".join(parts)


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return MASK  # not even a URL's shape: show nothing of it
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            _mask_path(host, parts.path),
            _mask_query(parts.query),
            MASK if parts.fragment else "",
        )
    )


def mask_credentials(text: str, *, secrets: Iterable[str] = ()) -> str:
    """`text` (a target, or a sentence holding URLs) with the credentials in it replaced
    by `****`, and each of `secrets` too; text without a URL is kept (an email address,
    host:port). What a read key is shown of a channel or a monitored service."""
    if not text:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    if "://" not in text:
        return text
    return _URL.sub(lambda match: _mask_url(match.group()), text)


# --- rotation -----------------------------------------------------------------------


def encrypted_columns() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) stored by EncryptedTextField, across installed apps."""
    from django.apps import apps

    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def secrets_reencrypt(*, batch_size: int = 500) -> dict[str, int]:
    """Encrypt every stored secret again with the first key of FIELD_ENCRYPTION_KEYS
    (clear ones left by an older version included), in batches of `batch_size` rows;
    returns {"<table>.<column>": rows rewritten}. A row changed meanwhile is left as
    the change wrote it (already with the first key): each write is conditional on the
    value read. UndecryptableSecret if a value needs a key no longer listed."""
    from django.db import connection, transaction

    done: dict[str, int] = {}
    for model, name in encrypted_columns():
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(model._meta.get_field(name).column)
        pk = connection.ops.quote_name(model._meta.pk.column)
        rewritten, last = 0, None
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                after = "" if last is None else f"WHERE {pk} > %s"
                cursor.execute(
                    # Quoted names of our own models' tables, not input.
                    f"SELECT {pk}, {column} FROM {table} {after} ORDER BY {pk} LIMIT %s",  # noqa: S608
                    [*([] if last is None else [last]), batch_size],
                )
                rows = cursor.fetchall()
                for row_pk, stored in rows:
                    if stored:
                        cursor.execute(
                            f"UPDATE {table} SET {column} = %s "  # noqa: S608
                            f"WHERE {pk} = %s AND {column} = %s",
                            [reencrypt(stored), row_pk, stored],
                        )
                        rewritten += cursor.rowcount
            if len(rows) < batch_size:
                break
            last = rows[-1][0]
        done[f"{model._meta.db_table}.{name}"] = rewritten
    return done
