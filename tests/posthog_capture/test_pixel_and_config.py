"""What a browser running posthog-js asks besides its POSTs: the image (pixel) fallback,
a GET with the events in `?data=`, and the remote config newer versions load at start
(`/array/<token>/config` and `config.js`). Each is answered, never a 404 or 405."""

import base64
import subprocess
import time
from urllib.parse import quote

import orjson
import pytest

from apps.events.models import Event, UserActivity
from tests.helpers import drain_outbox

from .test_capture import js_event

pytestmark = pytest.mark.django_db


def pixel_url(path: str, events, *, encode=base64.b64encode, **query) -> str:
    data = encode(orjson.dumps(events)).decode()
    extra = "".join(f"&{name}={value}" for name, value in query.items())
    return f"{path}?data={quote(data)}{extra}"


@pytest.mark.parametrize("path", ["/e/", "/i/v0/e/", "/capture/", "/batch/", "/e"])
def test_a_pixel_get_stores_its_events(client, ingest_key, path):
    events = [js_event(ingest_key, "$pageview"), js_event(ingest_key, "signed_up")]

    response = client.get(pixel_url(path, events, ip="1", _=str(int(time.time() * 1000))))

    assert response.status_code == 200
    assert response.json() == {"status": 1, "accepted": 2, "duplicates": 0, "rejected": []}
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "no-store" in response["Cache-Control"]
    drain_outbox()
    assert UserActivity.objects.get().activity_type == "page_view"
    assert Event.objects.get().event_type == "signed_up"


def test_an_image_request_is_answered_with_a_gif(client, ingest_key):
    url = pixel_url("/e/", js_event(ingest_key))

    as_image = client.get(url, HTTP_ACCEPT="image/avif,image/webp,image/apng,image/*,*/*;q=0.8")
    marked = client.get(pixel_url("/e/", js_event(ingest_key), img="1"))

    for response in (as_image, marked):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert response.content.startswith(b"GIF89a")
    drain_outbox()
    assert UserActivity.objects.count() == 2


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda raw: base64.b64encode(raw).rstrip(b"="),  # padding dropped
        lambda raw: raw,  # old clients: the JSON itself
    ],
)
def test_the_data_parameter_in_each_encoding(client, ingest_key, encode):
    payload = {"api_key": ingest_key, "batch": [js_event(ingest_key, "é ü ∑ clicked")]}

    response = client.get(pixel_url("/e/", payload, encode=encode))

    assert (response.status_code, response.json()["accepted"]) == (200, 1)


def test_a_plus_sign_sent_unencoded_is_read_as_base64(client, ingest_key):
    event = js_event(ingest_key, "clicked")
    for n in range(10):  # an event whose base64 holds a `+`
        event["properties"]["n"] = "~" * n + ">?"
        data = base64.b64encode(orjson.dumps(event)).decode()
        if "+" in data:
            break
    assert "+" in data

    response = client.get(f"/e/?data={data}")  # the `+` arrives as a space

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("", 400, "invalid"),
        ("?data=", 400, "invalid"),
        ("?data=%%%", 400, "invalid"),
        ("?data=e30", 401, "not_authenticated"),  # {} : no key in it
        ("?data=bm90IGpzb24", 400, "invalid"),  # "not json"
        ("?data=W10", 400, "invalid"),  # []
        ("?data=x&compression=lz64", 415, "unsupported_media_type"),
    ],
)
def test_a_bad_pixel_get_is_a_json_4xx(client, query, status, error):
    response = client.get(f"/e/{query}", HTTP_ACCEPT="image/*")

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_pixel_over_the_body_limit_is_413(client, ingest_key, settings):
    settings.INGEST_MAX_BODY_BYTES = 2000
    big = js_event(ingest_key, "x", note="y" * 3000)
    assert client.get(pixel_url("/e/", big)).status_code == 413


def test_a_pixel_with_a_read_key_is_403(client, read_key):
    assert client.get(pixel_url("/e/", js_event(read_key))).status_code == 403


def test_the_remote_config_json(client, ingest_key):
    response = client.get(f"/array/{ingest_key}/config", {"ip": "0", "_": "1765000000000"})

    assert response.status_code == 200
    config = response.json()
    assert config["token"] == ingest_key
    assert config["hasFeatureFlags"] is False
    assert config["sessionRecording"] is False
    assert config["analytics"] == {"endpoint": "/i/v0/e/"}
    assert response["Access-Control-Allow-Origin"] == "*"
    assert client.get(f"/array/{ingest_key}/config/").status_code == 200


def test_the_remote_config_script_sets_the_config_posthog_js_reads():
    """Run under Node when the machine has it: the script defines the config as posthog-js
    looks it up (`window._POSTHOG_REMOTE_CONFIG[token].config`)."""
    from django.test import Client

    token = "phc_abc.DEF-123"
    response = Client().get(f"/array/{token}/config.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    script = response.content.decode()
    assert f'window._POSTHOG_REMOTE_CONFIG["{token}"]' in script
    node = subprocess.run(["which", "node"], capture_output=True, text=True).stdout.strip()
    if not node:
        return
    check = (
        "global.window = {};\n" + script + "\n"
        f"const c = window._POSTHOG_REMOTE_CONFIG[{orjson.dumps(token).decode()}];\n"
        "const seen = [c.config.token, c.config.hasFeatureFlags, c.siteApps];\n"
        "process.stdout.write(JSON.stringify(seen));"
    )
    done = subprocess.run([node, "-e", check], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == [token, False, []]


@pytest.mark.parametrize(
    "path",
    [
        "/array/%3Cscript%3E/config.js",
        "/array/a%22b/config",
        "/array/" + "a" * 201 + "/config",
    ],
)
def test_a_token_that_cannot_be_a_key_is_a_400(client, path):
    response = client.get(path)
    assert (response.status_code, response.json()["error"]) == (400, "invalid")


def test_the_config_takes_no_post(client):
    response = client.post("/array/abc/config")
    assert response.status_code == 405
    assert response.json()["error"]
