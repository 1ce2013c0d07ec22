"""The record kinds that flow through the write pipeline.

A kind is registered once with a pydantic schema (the per-item validator:
about 1.5 us an item, where a DRF serializer costs ~35 us) and the model it
lands in. The pipeline, the outbox task, retention, the API document and the
admin all read this registry, so a new kind is a model, a schema and one
`register` call in its app's `ready()`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models
from pydantic import BaseModel


@dataclass
class Decisions:
    """What a kind's gate decided for the rows of one request, row by row."""

    stored: list[bool]
    reasons: list[str]
    # After the outbox write: count the decisions; or, if the write failed, undo
    # what the gate remembered about rows that were never written.
    written: Callable[[], None] = lambda: None
    failed: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class RecordKind:
    name: str
    model: type[models.Model]
    schema: type[BaseModel]
    # Other names clients use for it in a mixed batch (its endpoint's name).
    aliases: tuple[str, ...] = ()
    # Fills server-side fields from the request (signed-in user, client IP ...).
    enrich: Callable[[dict, object], None] | None = None
    # Columns written from a validated row: the schema's fields and `enriched` ones;
    # any other column relies on its db_default.
    enriched: tuple[str, ...] = ()
    columns: tuple[str, ...] = field(default=())
    # Decides per request which valid rows get stored (device metrics' smart filter);
    # it may change the rows it keeps. Without a gate every valid row is stored.
    gate: Callable[[list[dict]], Decisions] | None = None
    # Statements run in the same statement as the insert, each reading `inserted`:
    # the rows actually inserted (conflicts excluded), with the columns in `returning`.
    # Statement i is the CTE `derived_i`: a later one may read its RETURNING rows.
    after_insert: tuple[str, ...] = ()
    returning: tuple[str, ...] = ()
    # Whether a signed-in session (a frontend with its cookie) may write it, as itself.
    session_writable: bool = False
    # Items of other kinds computed from stored rows, in the worker that stores them:
    # rows -> {kind name: [items]}. They carry event_ids derived from their source, so a
    # re-run stores them once; checked by their kind's `trusted` if it has one, else
    # validated like client items.
    derive: Callable[[list[dict]], dict[str, list[dict]]] | None = None
    # The stored row of an item built by trusted code (another kind's derive), without
    # the schema: the row the schema and `enrich` would give, cheaper; ValueError where
    # the schema would refuse it. The outbox sets its timestamp and received_at.
    trusted: Callable[[dict], dict] | None = None
    # Tables built from this kind's rows, kept as long as them: (model, time column).
    derived_tables: tuple[tuple[type[models.Model], str], ...] = ()


_kinds: dict[str, RecordKind] = {}
_names: dict[str, str] = {}  # a kind's name or alias -> its name


def register(name: str, *, model: type[models.Model], schema: type[BaseModel], **options):
    """Register a kind (see RecordKind for the options)."""
    supplied = set(schema.model_fields) | {"received_at"} | set(options.get("enriched", ()))
    columns = tuple(f.column for f in model._meta.concrete_fields if f.name in supplied)
    kind = RecordKind(name=name, model=model, schema=schema, columns=columns, **options)
    _kinds[name] = kind
    for alias in (name, *kind.aliases):
        _names[alias] = name
    return kind


def get_kind(name: str) -> RecordKind:
    """The kind called `name` or one of its aliases; KeyError if there is none."""
    return _kinds[_names[name]]


def all_kinds() -> list[RecordKind]:
    return list(_kinds.values())
