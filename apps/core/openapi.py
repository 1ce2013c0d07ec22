"""The OpenAPI document says what every operation answers, errors included.

Error statuses are derived from the view, in one place, rather than declared on
each one: its permissions (public or not), its throttles and authenticators,
whether it is an ingest view (a POST of items), its path parameters and its
pagination. Every error has one shape (the `Error` component), which is what
`apps.core.errors` renders; an ingest 400 is either that shape (a body that is
not JSON, empty, ...) or the per-item rejection answer the view declares.
"""

import copy
from typing import Any

import uritemplate
from django.conf import settings
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import permissions

from apps.core.renderers import CSV_MEDIA_TYPE

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer: a stable code, a sentence, and per-field messages "
    "when the input named them.",
    "properties": {
        "error": {
            "type": "string",
            "description": "invalid, not_authenticated, permission_denied, not_found, "
            "payload_too_large, unsupported_media_type, throttled, service_unavailable, "
            "or a view's own (e.g. not_computable).",
        },
        "detail": {"type": "string"},
        "fields": {
            "type": "object",
            "description": "Parameter or field name -> its messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["error", "detail"],
    "additionalProperties": False,
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'How to authenticate: `Bearer realm="api"`.',
        "schema": {"type": "string"},
    }
}


CSV_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "The JSON answer as one table (apps.core.renderers): a row per item of "
    "its list (context fields repeated), nested fields as `a.b` columns; a text cell "
    "starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`.",
}

CSV_HEADERS: dict[str, Any] = {
    "Content-Disposition": {
        "description": "With `?format=csv`: `attachment; filename=<endpoint>.csv`.",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'With `?format=csv` on a paginated list: `<next page URL>; rel="next"`.',
        "schema": {"type": "string"},
    },
}

NUL_ONLY = "A query parameter holds a NUL character (this operation takes none)."


def human_size(size: int) -> str:
    """Bytes as the limits are written in the document: `1 MiB`, `32 KiB`."""
    return f"{size / 1024 / 1024:g} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"


def _error_descriptions() -> dict[int, str]:
    return {
        400: "A parameter is invalid, empty or holds a NUL character: `fields` names it.",
        401: "No credential, or an invalid, expired or revoked API key.",
        403: "The credential may not call this operation (e.g. an ingest key on a read "
        "endpoint, a read key on a write endpoint, a read key changing configuration "
        "that needs an admin key).",
        404: "Not found.",
        413: f"The body is larger than {human_size(settings.INGEST_MAX_BODY_BYTES)} (inflated) "
        f"or holds more than {settings.INGEST_MAX_ITEMS} items.",
        415: "Content-Type is not application/json (or NDJSON), or Content-Encoding is not "
        "gzip, deflate or identity.",
        429: "Rate limit reached for this key (or too many invalid keys from this address).",
        503: "The database is unavailable.",
    }


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema plus the error answers every operation can give."""

    def _is_public(self) -> bool:
        return all(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())

    def _is_ingest(self) -> bool:
        # Ingest views declare the rejection answer their 400 may be (apps.ingest.api).
        return self.method == "POST" and getattr(self.view, "openapi_rejection", None) is not None

    def _error_ref(self) -> dict:
        component = ResolvedComponent(
            name=ERROR_COMPONENT,
            type=ResolvedComponent.SCHEMA,
            object=ERROR_COMPONENT,
            schema=ERROR_SCHEMA,
        )
        self.registry.register_on_missing(component)
        return component.ref

    def error_statuses(self) -> dict[int, str]:
        """Status -> description of the errors this operation can answer."""
        described = _error_descriptions()
        # A NUL anywhere in the query string is refused everywhere (RejectNulMiddleware).
        statuses = {400: described[400] if self._get_parameters() else NUL_ONLY}
        if not self._is_public():
            statuses[401] = described[401]
            statuses[403] = described[403]
        if uritemplate.variables(self.path):
            statuses[404] = "No route for this path parameter (e.g. one holding a `/`)."
        if self.method == "GET" and getattr(self.view, "pagination_class", None) is not None:
            statuses[404] = "The cursor is not one this endpoint handed out."
        if self._is_ingest():
            statuses[400] = (
                "The body is not JSON, is empty or holds no item (the error shape), or no "
                "item was valid (the rejection answer, each item's errors by index)."
            )
            statuses[413] = described[413]
            statuses[415] = described[415]
        elif self.method in ("POST", "PUT", "PATCH") and self._get_request_body():
            statuses[400] = "The body or a parameter is invalid: `fields` names it."
            statuses[415] = "Content-Type is not application/json."
        if self.view.get_throttles() or self.view.get_authenticators():
            statuses[429] = described[429]
        statuses[503] = described[503]
        return dict(sorted(statuses.items()))

    def get_operation(self, *args: Any, **kwargs: Any) -> dict | None:
        operation = super().get_operation(*args, **kwargs)
        notes = getattr(self.view, "openapi_notes", None)
        if operation is not None and notes is not None and self._is_ingest():
            # Here, not in get_description: @extend_schema(description=...) replaces that.
            operation["description"] = f"{operation.get('description', '')} {notes()}".strip()
        return operation

    def _get_request_body(self, direction: str = "request") -> dict | None:
        body = super()._get_request_body(direction)
        if body and self._is_ingest():
            for media in body["content"].values():
                media["schema"] = ingest_body_schema(media["schema"])
            body["required"] = True
        return body

    def map_renderers(self, attribute: str) -> list[Any]:
        # A write offers no CSV (apps.core.negotiation), so its document lists none, nor
        # a `format` parameter.
        if self.method in ("GET", "HEAD"):
            return super().map_renderers(attribute)
        kept = [r for r in self.view.get_renderers() if not getattr(r, "reads_only", False)]
        return list(dict.fromkeys(getattr(r, attribute).split(";")[0] for r in kept))

    def _get_format_parameters(self) -> list[dict]:
        parameters = super()._get_format_parameters()
        for parameter in parameters:
            parameter["description"] = (
                "`json` (the default) or `csv`: the same answer as a table, downloaded "
                "(`Content-Disposition: attachment`). Another value is a 400 naming `format`."
            )
        return parameters

    def _get_response_for_code(
        self, serializer, status_code, media_types=None, direction="response"
    ):
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        content = response.get("content", {})
        if CSV_MEDIA_TYPE in content:
            if str(status_code).startswith("2"):
                content[CSV_MEDIA_TYPE] = {"schema": CSV_SCHEMA}
                headers = copy.deepcopy(CSV_HEADERS)
                if self._get_paginator() is None:
                    del headers["Link"]
                response["headers"] = {**response.get("headers", {}), **headers}
            else:
                del content[CSV_MEDIA_TYPE]  # errors are JSON whatever was asked
        return response

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        for status, description in self.error_statuses().items():
            responses.setdefault(str(status), {"description": description})
        for code, response in responses.items():
            status = int(code)
            if status == 400 and self._is_ingest():
                rejection = self.resolve_serializer(self.view.openapi_rejection, "response").ref
                response["content"] = _json({"oneOf": [self._error_ref(), rejection]})
            elif status >= 400:
                # A view may declare an error status by its description only: same shape.
                response.setdefault("content", _json(self._error_ref()))
                response["description"] = response.get("description") or (
                    _error_descriptions().get(status, "")
                )
            if status in (429, 503):
                response["headers"] = {**response.get("headers", {}), **copy.deepcopy(RETRY_AFTER)}
            if status == 401:
                response["headers"] = {
                    **response.get("headers", {}),
                    **copy.deepcopy(WWW_AUTHENTICATE),
                }
        return dict(sorted(responses.items()))


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def ingest_body_schema(item: dict) -> dict:
    """What every write endpoint accepts: one item, a list of them, or {"batch": [...]}."""
    items = {
        "type": "array",
        "items": item,
        "minItems": 1,
        "maxItems": settings.INGEST_MAX_ITEMS,
    }
    return {
        "oneOf": [
            item,
            items,
            {
                "type": "object",
                "properties": {"batch": items},
                "required": ["batch"],
                "additionalProperties": False,
            },
        ],
        "description": f"At most {human_size(settings.INGEST_MAX_BODY_BYTES)} (inflated), "
        f"{settings.INGEST_MAX_ITEMS} items, "
        f"{human_size(settings.INGEST_MAX_ITEM_BYTES)} per item.",
    }
