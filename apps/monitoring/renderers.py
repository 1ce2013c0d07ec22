"""The SLA report as CSV (`?format=csv`): the same figures, for a spreadsheet."""

import csv
import io

from rest_framework.renderers import BaseRenderer


class SlaCsvRenderer(BaseRenderer):
    """Only for answers (SlaView renders its errors as JSON)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["field", "value"])
        for key, value in data.items():
            if key != "downtimes":
                writer.writerow([key, value])
        writer.writerow([])
        writer.writerow(["downtime_start", "downtime_end", "duration_seconds"])
        for outage in data["downtimes"]:
            writer.writerow([outage["start"], outage["end"] or "", outage["duration_seconds"]])
        return out.getvalue().encode()
