"""What the log filter leaves of a key sent in a query string: its public prefix alone."""

import logging

import pytest

from apps.core.logmasking import QuerySecretsFilter, mask_query_secrets

KEY = "AbCd1234.s3cretS3cretS3cretS3cretS3cret00"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"/ws/analytics/?key={KEY}", "/ws/analytics/?key=AbCd1234.***"),
        (f"/ws/?a=1&key={KEY}&b=2", "/ws/?a=1&key=AbCd1234.***&b=2"),
        (f'"GET /x?KEY={KEY} HTTP/1.1" 404', '"GET /x?KEY=AbCd1234.*** HTTP/1.1" 404'),
        # Names a query parser decodes to `key` are masked as `key` is.
        (f"/ws/?%6Bey={KEY}", "/ws/?%6Bey=AbCd1234.***"),
        (f"/ws/?api_key={KEY};token=abc", "/ws/?api_key=AbCd1234.***;token=***"),
        # No prefix to keep (an encoded dot is no prefix): nothing of it shows.
        ("/ws/?key=not-a-key-at-all", "/ws/?key=***"),
        (f"/ws/?key={KEY.replace('.', '%2E')}", "/ws/?key=***"),
        # A Sentry SDK's DSN key; a heartbeat's ping token, whole.
        (f"/api/1/envelope/?sentry_key={KEY}&x=1", "/api/1/envelope/?sentry_key=AbCd1234.***&x=1"),
        (
            "GET /api/v1/analytics/monitoring/ping/Ab3_x-Y?a=1 HTTP/1.1",
            "GET /api/v1/analytics/monitoring/ping/***?a=1 HTTP/1.1",
        ),
        # Other parameters and plain text are left alone.
        ("/ws/?monkey=1&keys=2&key=", "/ws/?monkey=1&keys=2&key="),
        ("key=value outside a query string", "key=value outside a query string"),
    ],
)
def test_a_key_in_a_query_string_shows_only_its_prefix(line, expected):
    assert mask_query_secrets(line) == expected


def test_the_filter_masks_the_arguments_a_formatter_unpacks():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/ws/analytics/?key={KEY}", "1.1", 404), None,
    )  # fmt: skip

    assert QuerySecretsFilter().filter(record) is True

    assert record.args[2] == "/ws/analytics/?key=AbCd1234.***"
    assert KEY not in record.getMessage()
