"""The record kinds that flow through the write pipeline.

A kind is registered once with a pydantic schema (the per-item validator:
about 1.5 us an item, where a DRF serializer costs ~35 us) and the model it
lands in. The pipeline, the outbox task, retention and the admin all read
this registry, so a new kind is a model, a schema and one `register` call.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models
from pydantic import BaseModel


@dataclass(frozen=True)
class RecordKind:
    name: str
    model: type[models.Model]
    schema: type[BaseModel]
    # Fills server-side fields from the request (signed-in user, client IP ...).
    enrich: Callable[[dict, object], None] | None = None
    columns: tuple[str, ...] = field(default=())
    # Statements run in the same statement as the insert, each reading `inserted`:
    # the rows actually inserted (conflicts excluded), with the columns in `returning`.
    after_insert: tuple[str, ...] = ()
    returning: tuple[str, ...] = field(default=())
    # Whether a signed-in session (a frontend with its cookie) may write it, as itself.
    session_writable: bool = False
    # Items of other kinds computed from stored rows, in the worker that stores them:
    # rows -> {kind name: [items]}. They are validated like client items and carry
    # event_ids derived from their source, so a re-run stores them once.
    derive: Callable[[list[dict]], dict[str, list[dict]]] | None = None


_kinds: dict[str, RecordKind] = {}


def register(
    name: str,
    *,
    model: type[models.Model],
    schema: type[BaseModel],
    enrich: Callable[[dict, object], None] | None = None,
    after_insert: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
    enriched: tuple[str, ...] = (),
    session_writable: bool = False,
    derive: Callable[[list[dict]], dict[str, list[dict]]] | None = None,
) -> RecordKind:
    # Only what the schema (or `enrich`) supplies is written; others rely on db_default.
    supplied = set(schema.model_fields) | {"received_at"} | set(enriched)
    columns = tuple(f.column for f in model._meta.concrete_fields if f.name in supplied)
    kind = RecordKind(
        name=name,
        model=model,
        schema=schema,
        enrich=enrich,
        columns=columns,
        after_insert=after_insert,
        returning=returning,
        session_writable=session_writable,
        derive=derive,
    )
    _kinds[name] = kind
    return kind


def get_kind(name: str) -> RecordKind:
    return _kinds[name]


def all_kinds() -> list[RecordKind]:
    return list(_kinds.values())
