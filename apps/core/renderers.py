"""Every read answers `?format=csv` too: the JSON answer flattened into one table.

One mechanism for every endpoint (a project default renderer, REST_FRAMEWORK
DEFAULT_RENDERER_CLASSES), so a table or chart in the console and its download never
disagree with the JSON: the CSV is made from the very answer the JSON would be (after
JSON's own encoding of dates, decimals, ...). How an answer becomes rows:

- a list of objects: one row per object (a paginated page: its `results`; the next page
  is in a `Link: <...>; rel="next"` header);
- an object holding a list of objects (`buckets`, `groups`, `series`, ...): one row per
  item, with the object's scalar fields repeated as context columns; lists inside those
  items expand the same way (a grouped time series: a row per group per bucket). An item
  column is named by its path (`groups.value`, `groups.buckets.start`), so it never
  collides with a context column of the same name (`users/active`: `dau` and
  `series.dau`). Several lists of objects: the rows of each, one after the other. An
  object whose lists are all empty is one row of its own fields, so nothing disappears;
- a nested object: its fields as `a.b` columns; a list of scalars: `a.0`, `a.1`, ...;
- every cell, header too, is neutralised by csv_write (formula injection: OWASP "CSV
  injection").

Only for answers to reads: an error (4xx/5xx), whatever format was asked, is the JSON
error as everywhere, and so is an OPTIONS answer; writes never offer CSV
(apps.core.negotiation drops renderers marked `reads_only` for POST, PUT, PATCH and
DELETE). docs/export.md says it for users.
"""

import csv
import io
import json
import re
from collections.abc import Iterable
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer

# A spreadsheet reads a cell starting with one of these as a formula (`=1+1`,
# `@SUM(...)`, `-2+3`, `+cmd|...`), and a tab or CR before one hides it (OWASP, "CSV
# injection"). Such a text cell gets a leading `'`, which a spreadsheet shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
READ_METHODS = ("GET", "HEAD")
CSV_MEDIA_TYPE = "text/csv"

Row = dict[str, Any]


def csv_cell(value: object) -> object:
    """A value as a CSV cell no spreadsheet runs: a text starting like a formula is
    prefixed with `'`; numbers (a negative one too) and everything else pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_write(out: io.StringIO, rows: Iterable[Iterable[object]]) -> None:
    """Every CSV this service writes goes through here, so every cell is neutralised."""
    starts = FORMULA_STARTS  # csv_cell, inlined: this runs once per cell
    csv.writer(out).writerows(
        [
            "'" + value if isinstance(value, str) and value.startswith(starts) else value
            for value in row
        ]
        for row in rows
    )


PLAIN = (str, int, float, bool, type(None), dict, list)


def _plain(value: object) -> object:
    """A value as the JSON answer has it: a datetime, Decimal, UUID, tuple, ... through
    DRF's JSON encoding, so the CSV holds what the JSON would (serializers' output is
    plain already: this is for views that answer other values)."""
    return json.loads(JSONRenderer().render(value, JSONRenderer.media_type, {}) or b"null")


def _split(value: dict, path: str, row: Row, tables: list[tuple[str, list]]) -> None:
    """An object's fields into `row` (scalars; nested objects as `a.b`; lists of scalars
    as `a.0`, `a.1`, ...) and `tables` (its lists of objects, nested objects' too)."""
    for key, item in value.items():
        name = f"{path}.{key}" if path else str(key)
        if not isinstance(item, PLAIN):
            item = _plain(item)
        if isinstance(item, dict):
            _split(item, name, row, tables)
        elif isinstance(item, list):
            if any(isinstance(element, dict) for element in item):
                tables.append((name, item))
            else:  # nothing for an empty list: an empty table as much as no scalar
                for index, element in enumerate(item):
                    if not isinstance(element, PLAIN):
                        element = _plain(element)
                    row[f"{name}.{index}"] = (
                        json.dumps(element) if isinstance(element, list) else element
                    )
        else:
            row[name] = item


def flatten(value: object, path: str = "", context: Row | None = None) -> list[Row]:
    """An answer (or the part of one at `path`, under the columns of the objects around
    it, `context`) as rows: column name -> cell value."""
    if not isinstance(value, PLAIN):
        value = _plain(value)
    if isinstance(value, list):
        rows: list[Row] = []
        for item in value:
            rows += flatten(item, path, context)
        return rows
    row: Row = dict(context or {})
    if not isinstance(value, dict):
        row[path or "value"] = value
        return [row]
    tables: list[tuple[str, list]] = []
    _split(value, path, row, tables)
    rows = []
    for table_path, items in tables:
        rows += flatten(items, table_path, row)
    return rows or [row]


def table(rows: list[Row]) -> list[list[object]]:
    """Rows as a header and lines: every column any row has, in the order first seen."""
    header = list(dict.fromkeys(column for row in rows for column in row))
    if not header:
        return []
    return [header] + [list(map(row.get, header)) for row in rows]


def declared_columns(data: Any) -> list[str]:
    """The columns of an empty list as its serializer declares them (DRF's ReturnList
    knows it), so an empty download still has its header; [] when nothing says."""
    if isinstance(data, dict):
        data = data.get("results")
    child = getattr(getattr(data, "serializer", None), "child", None)
    fields = getattr(child, "fields", None)
    return list(fields) if fields is not None else []


def download_name(request: Any) -> str:
    """`<url name>[-<path values>].csv`, only characters safe in any file system."""
    match = getattr(request, "resolver_match", None)
    parts = [getattr(match, "url_name", None) or "export"]
    parts += [str(value) for value in (getattr(match, "kwargs", None) or {}).values()]
    name = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") for part in parts)
    return f"{name[:150] or 'export'}.csv"


class CsvRenderer(BaseRenderer):
    """The project's CSV: GET answers as one table (see the module's docstring)."""

    media_type = CSV_MEDIA_TYPE
    format = "csv"
    charset = "utf-8"
    reads_only = True  # apps.core.negotiation offers it to GET and HEAD only

    def rows(self, data: Any, renderer_context: dict) -> list[list[object]]:
        """The answer as a header and lines. A view with a layout of its own (the SLA
        report) overrides this; escaping, headers and errors stay the same."""
        view = renderer_context.get("view")
        if (
            getattr(view, "pagination_class", None) is not None
            and isinstance(data, dict)
            and isinstance(data.get("results"), list)
        ):
            response = renderer_context.get("response")
            if data.get("next") and response is not None:
                response["Link"] = f'<{data["next"]}>; rel="next"'
            data = data["results"]
        return table(flatten(data))

    def _lines(self, data: Any, renderer_context: dict) -> list[list[object]]:
        lines = self.rows(data, renderer_context)
        # An empty answer is still a CSV (a header where the serializer names the columns,
        # else an empty line), never an empty body without a Content-Type.
        return lines or [declared_columns(data)]

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        renderer_context = renderer_context or {}
        response = renderer_context.get("response")
        request = renderer_context.get("request")
        if (response is not None and response.status_code >= 400) or (
            request is not None and request.method not in READ_METHODS
        ):
            # Errors are JSON whatever was asked: CSV is for answers.
            if response is not None:
                response["Content-Type"] = JSONRenderer.media_type
            return JSONRenderer().render(data, JSONRenderer.media_type, renderer_context)
        out = io.StringIO()
        csv_write(out, self._lines(data, renderer_context))
        if response is not None and request is not None:
            response["Content-Disposition"] = f"attachment; filename={download_name(request)}"
        return out.getvalue().encode(self.charset)
