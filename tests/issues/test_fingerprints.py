"""The fingerprint: what varies between occurrences of one bug is left out of it."""

from apps.errors.fingerprints import (
    exception_type,
    fingerprint_of,
    normalise_message,
    top_frames,
)
from tests.issues.helpers import PY_TRACE

JS_TRACE = """TypeError: Cannot read properties of undefined (reading 'map')
    at List (https://shop.example/static/js/main.3f9a1c2e.js:10:5)
    at renderWithHooks (https://shop.example/node_modules/react-dom/cjs/react-dom.js:1:2)
    at App (https://shop.example/static/js/main.3f9a1c2e.js:20:7)"""
JAVA_TRACE = """java.lang.IllegalStateException: order 42 closed
\tat com.shop.Orders.close(Orders.java:51)
\tat java.base/java.util.ArrayList.forEach(ArrayList.java:1541)
\tat com.shop.Api.handle(Api.java:12)"""


def row(message: str, trace: str = "", code: str = "", **context) -> dict:
    return {
        "error_message": message,
        "error_code": code,
        "stack_trace": trace,
        "endpoint": "",
        "context": context,
    }


def test_numbers_ids_quotes_emails_and_urls_become_placeholders():
    message = (
        "User 4812 (ann@example.com) order 'A-77' at https://x.example/o/9?q=1 "
        "id 3f2b6c1e-8d4a-4b7e-9c2d-1a2b3c4d5e6f ptr 0x7ffd1234 hash deadbeef42"
    )
    assert normalise_message(message) == (
        "User <n> (<email>) order <str> at <url> id <uuid> ptr <hex> hash <hex>"
    )


def test_the_same_bug_with_other_ids_and_lines_has_one_fingerprint():
    one = row("KeyError: 'order-1'", PY_TRACE.format(line=10, key="order-1"))
    two = row("KeyError: 'order-9812'", PY_TRACE.format(line=99, key="order-9812"))
    assert fingerprint_of(one)[0] == fingerprint_of(two)[0]


def test_other_frames_make_another_fingerprint():
    one = row("KeyError: 'a'", PY_TRACE.format(line=10, key="a"))
    two = row("KeyError: 'a'", PY_TRACE.format(line=10, key="a").replace("checkout", "refund"))
    assert fingerprint_of(one)[0] != fingerprint_of(two)[0]


def test_another_type_or_message_makes_another_fingerprint():
    base = fingerprint_of(row("Timeout after 30 s", code="DbTimeout"))[0]
    assert fingerprint_of(row("Timeout after 5 s", code="DbTimeout"))[0] == base
    assert fingerprint_of(row("Timeout after 30 s", code="ApiTimeout"))[0] != base
    assert fingerprint_of(row("Connection refused", code="DbTimeout"))[0] != base


def test_the_type_is_read_from_the_message_or_the_traceback():
    assert exception_type("", "ValueError: bad", "") == "ValueError"
    assert exception_type("", "java.lang.IllegalStateException: x", "") == (
        "java.lang.IllegalStateException"
    )
    assert exception_type("", "order closed", PY_TRACE.format(line=1, key="k")) == "KeyError"
    assert exception_type("E42", "ValueError: bad", "") == "E42"
    assert exception_type("", "Something happened: yes", "") == ""


def test_a_type_prefix_is_the_same_message_as_none():
    with_prefix = row("ZeroDivisionError: division by zero", code="ZeroDivisionError")
    without = row("division by zero", code="ZeroDivisionError")
    assert fingerprint_of(with_prefix)[0] == fingerprint_of(without)[0]


def test_frames_are_the_in_app_ones_most_recent_first_without_lines_or_dirs():
    assert top_frames(PY_TRACE.format(line=3, key="k"), {}) == [
        ("load_order", "orders.py"),
        ("checkout", "views.py"),
    ]
    assert top_frames(JS_TRACE, {}) == [("List", "main.<hash>.js"), ("App", "main.<hash>.js")]
    assert top_frames(JAVA_TRACE, {}) == [
        ("com.shop.Orders.close", "Orders.java"),
        ("com.shop.Api.handle", "Api.java"),
    ]


def test_a_sentry_events_in_app_frames_are_used():
    context = {
        "exception": [
            {
                "type": "ZeroDivisionError",
                "frames": [
                    {"filename": "django/core/handlers/base.py", "function": "get_response"},
                    {"filename": "app/views.py", "function": "checkout", "in_app": True},
                    {"filename": "app/pricing.py", "function": "price", "in_app": True},
                ],
            }
        ]
    }
    assert top_frames("", context) == [("price", "pricing.py"), ("checkout", "views.py")]


def test_the_sdk_fingerprint_is_respected_and_default_stands_for_ours():
    plain = row("boom 1", code="E")
    default = fingerprint_of(plain)[0]
    assert fingerprint_of(row("boom 1", code="E", fingerprint=["{{ default }}"]))[0] == default
    custom = fingerprint_of(row("boom 1", code="E", fingerprint=["payments", "stripe"]))[0]
    other = fingerprint_of(row("totally different", code="X", fingerprint=["payments", "stripe"]))
    assert custom == other[0] and custom != default
    mixed = fingerprint_of(row("boom 1", code="E", fingerprint=["{{ default }}", "eu"]))[0]
    assert mixed not in (default, custom)
    assert mixed != fingerprint_of(row("boom 2x", code="F", fingerprint=["{{default}}", "eu"]))[0]


def test_the_culprit_is_the_top_in_app_frame_else_the_endpoint():
    assert fingerprint_of(row("x", PY_TRACE.format(line=1, key="k")))[1] == (
        "load_order in orders.py"
    )
    assert fingerprint_of({**row("x"), "endpoint": "/api/orders"})[1] == "/api/orders"
