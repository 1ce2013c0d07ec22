"""The SLA report as CSV (`?format=csv`): the same figures, for a spreadsheet; and the
negotiation that answers an unknown `?format=` with a 400 naming it."""

import csv
import io
from collections.abc import Iterable

from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

# A spreadsheet reads a cell starting with one of these as a formula (`=1+1`,
# `@SUM(...)`, `-2+3`, `+cmd|...`), and a tab or CR before one hides it (OWASP, "CSV
# injection"). Such a text cell gets a leading `'`, which a spreadsheet shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A value as a CSV cell no spreadsheet runs: a text starting like a formula is
    prefixed with `'`; numbers (a negative one too) and everything else pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_write(out: io.StringIO, rows: Iterable[Iterable[object]]) -> None:
    """Every CSV this service writes goes through here, so every cell is neutralised."""
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])


class SlaCsvRenderer(BaseRenderer):
    """Only for answers (SlaView renders its errors as JSON)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        rows: list[list[object]] = [["field", "value"]]
        rows += [[key, value] for key, value in data.items() if key != "downtimes"]
        rows += [[], ["downtime_start", "downtime_end", "duration_seconds"]]
        rows += [
            [outage["start"], outage["end"] or "", outage["duration_seconds"]]
            for outage in data["downtimes"]
        ]
        out = io.StringIO()
        csv_write(out, rows)
        return out.getvalue().encode()


class FormatParameterNegotiation(DefaultContentNegotiation):
    """DRF answers a format no renderer has with a 404, which suits a URL suffix
    (`/report.xml` names no resource) but not `?format=xml`, a bad parameter of a report
    that exists: a 400 naming `format` and the formats there are. `?format=` (empty) too,
    as every empty parameter here (DRF would read it as absent). This project uses no
    format suffixes."""

    def select_renderer(self, request, renderers, format_suffix=None):
        param = self.settings.URL_FORMAT_OVERRIDE
        if not format_suffix and param and request.query_params.get(param) == "":
            self._refuse(renderers)
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            self._refuse(renderers)
        return matching

    @staticmethod
    def _refuse(renderers) -> None:
        formats = ", ".join(renderer.format for renderer in renderers)
        raise ValidationError({"format": [f"One of: {formats}."]})
