"""The SLA report as CSV (`?format=csv`): the same figures, for a spreadsheet. An unknown
`?format=` is a 400 on every endpoint (apps.core.negotiation, the project's default)."""

import csv
import io
from collections.abc import Iterable

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
