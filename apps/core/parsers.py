"""The JSON parser of every DRF view (ingest reads its bodies itself, apps/ingest/body.py)."""

import orjson
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """orjson instead of the json module: a body nested thousands deep is a 400 (orjson
    stops at 1024 levels), not a RecursionError and a 500; NaN and invalid UTF-8 are
    refused as DRF's strict mode refuses them."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
