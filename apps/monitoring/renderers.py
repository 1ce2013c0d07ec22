"""The SLA report as CSV (`?format=csv`): the same figures, for a spreadsheet, in the
layout it has always had (field/value lines, then the downtimes as a table). Escaping,
headers and JSON errors are the project's one CSV renderer's (apps.core.renderers)."""

from typing import Any

from apps.core.renderers import CsvRenderer


class SlaCsvRenderer(CsvRenderer):
    def rows(self, data: Any, renderer_context: dict) -> list[list[object]]:
        rows: list[list[object]] = [["field", "value"]]
        rows += [[key, value] for key, value in data.items() if key != "downtimes"]
        rows += [[], ["downtime_start", "downtime_end", "duration_seconds"]]
        rows += [
            [outage["start"], outage["end"] or "", outage["duration_seconds"]]
            for outage in data["downtimes"]
        ]
        return rows
