"""Sending notifications: what a receiver gets, what a failure looks like, where nothing goes.

Every request goes to a real HTTP server on 127.0.0.1 (tests/alerts/receiver.py). Names the
tests make up resolve through a fake DNS, other names do not resolve, and a connection to
anything but loopback fails the test: nothing leaves this machine, even if the guard under
test were broken.
"""

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time

import orjson
import pytest
from django.core import mail

from apps.alerts import senders
from apps.alerts.notifications import is_permanent
from apps.alerts.senders import (
    UnsafeTarget,
    check_email,
    check_url,
    send,
    send_email,
    send_slack,
    send_webhook,
    signature,
)
from apps.core import egress

from .receiver import Receiver, Reply, free_port

BODY = '{"version": 1, "event": "firing",  "rule": "Disk \u00e9t\u00e9 > 90%"}\n'.encode()


class FakeDNS:
    """Answers for made-up names: each lookup takes the next answer, the last one repeats."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []

    def add(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)

    def take(self, name: str) -> list[str]:
        answers = self.answers[name]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        fake.asked.append(name)
        if name in fake.answers:
            return [_addrinfo(address, port) for address in fake.take(name)]
        if name is None or name == "localhost" or _numeric(name):
            return real_getaddrinfo(host, port, family, type, proto, flags)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0].split("%")[0]
            if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
                raise AssertionError(f"a test tried to connect off this machine: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return fake


def _addrinfo(address: str, port: int) -> tuple:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


def _numeric(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        try:
            socket.inet_aton(name)  # 127.1, 2130706433: the C library reads them, no DNS
        except OSError:
            return False
    return True


@pytest.fixture(autouse=True)
def _private_allowed(settings):
    # The receiver is on loopback; the SSRF tests turn this off again.
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = True


@pytest.fixture
def hook():
    with Receiver() as receiver:
        yield receiver


# --- Webhooks ------------------------------------------------------------------------------


def test_webhook_arrives_as_exact_bytes_with_delivery_id_and_a_verifiable_signature(hook):
    attempt = send_webhook(hook.url + "hooks/alerts?team=ops", BODY, delivery_id="d-1", secret="s3")

    assert attempt.ok, attempt.error
    assert (attempt.status_code, attempt.error) == (200, "")
    assert attempt.duration_ms > 0
    [request] = hook.requests
    assert (request.method, request.path) == ("POST", "/hooks/alerts?team=ops")
    assert request.body == BODY
    assert request.headers["X-Analytics-Delivery"] == "d-1"
    assert request.headers["Content-Type"] == "application/json"
    assert "analytics" in request.headers["User-Agent"]
    assert request.headers["X-Analytics-Signature"] == signature("s3", BODY)
    assert hook.verify_signature("s3")
    assert not hook.verify_signature("another secret")


def test_signature_is_hmac_sha256_of_the_body_in_hex():
    # The RFC 4231-style example everyone can check against.
    assert signature("key", b"The quick brown fox jumps over the lazy dog") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_without_a_secret_there_is_no_signature_header(hook):
    assert send_webhook(hook.url, BODY, delivery_id="d-2").ok

    [request] = hook.requests
    assert request.headers["X-Analytics-Signature"] is None
    assert request.headers["X-Analytics-Delivery"] == "d-2"


def test_a_body_from_a_binary_field_is_sent_as_is(hook):
    assert send_webhook(hook.url, memoryview(BODY), delivery_id="d-3", secret="s").ok

    assert hook.requests[0].body == BODY
    assert hook.verify_signature("s")


def test_a_server_error_is_a_failed_attempt_with_its_status_and_what_it_said():
    with Receiver(Reply(500, body=b"database\n  is down")) as hook:
        attempt = send_webhook(hook.url, BODY, delivery_id="d-4")

    assert (attempt.ok, attempt.status_code) == (False, 500)
    assert attempt.error == "HTTP 500: database is down"


def test_a_client_error_is_not_delivered_either():
    with Receiver(404) as hook:
        attempt = send_webhook(hook.url, BODY, delivery_id="d-5")

    assert (attempt.ok, attempt.status_code) == (False, 404)


def test_only_a_bounded_part_of_a_response_is_kept():
    with Receiver(Reply(502, body=b"x" * 1_000_000)) as hook:
        attempt = send_webhook(hook.url, BODY, delivery_id="d-6")

    assert attempt.status_code == 502
    assert len(attempt.error) < 300


def test_each_send_is_one_attempt_the_receiver_answers_in_turn():
    with Receiver(500, 503, 200) as hook:
        attempts = [send_webhook(hook.url, BODY, delivery_id="d-7") for _ in range(3)]

    assert [(a.ok, a.status_code) for a in attempts] == [(False, 500), (False, 503), (True, 200)]
    assert [r.body for r in hook.requests] == [BODY] * 3
    assert {r.headers["X-Analytics-Delivery"] for r in hook.requests} == {"d-7"}


def test_a_target_that_does_not_answer_costs_the_timeout_not_its_delay():
    delay = 10.0
    with Receiver(Reply(200, delay=delay)) as hook:
        started = time.monotonic()
        attempt = send_webhook(hook.url, BODY, delivery_id="d-8", timeout=0.5)
        elapsed = time.monotonic() - started

        assert len(hook.requests) == 1  # it arrived; the answer never did

    assert not attempt.ok and attempt.status_code is None
    assert "timed out after 0.5 s" in attempt.error
    assert elapsed < delay / 4
    assert attempt.duration_ms / 1000 < delay / 4


def test_a_target_that_answers_a_byte_at_a_time_is_cut_off_at_the_timeout():
    # Every read gets a byte within 0.1 s, so no socket timeout ever fires: only the
    # bound on the whole attempt stops it (the full answer would take ~40 s).
    stop = threading.Event()
    server = socket.create_server(("127.0.0.1", 0))

    def drip() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400:
                if stop.wait(0.1):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        attempt = send_webhook(
            f"http://127.0.0.1:{server.getsockname()[1]}/", BODY, delivery_id="d-9", timeout=1.0
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        server.close()
        thread.join(5)

    assert not attempt.ok
    assert "timed out after 1 s" in attempt.error
    assert elapsed < 40 / 8


def test_connection_refused_is_a_failed_attempt():
    port = free_port()
    attempt = send_webhook(f"http://127.0.0.1:{port}/", BODY, delivery_id="d-10")

    assert (attempt.ok, attempt.status_code) == (False, None)
    assert attempt.error == f"connection refused by http://127.0.0.1:{port} (127.0.0.1)"


def test_a_307_redirect_is_followed_with_the_same_body_and_headers(hook):
    hook.script(Reply(307, location="/moved"), Reply(308, location=hook.url + "final"), 200)

    attempt = send_webhook(hook.url + "start", BODY, delivery_id="d-11", secret="s")

    assert (attempt.ok, attempt.status_code) == (True, 200)
    assert [r.path for r in hook.requests] == ["/start", "/moved", "/final"]
    assert all(r.method == "POST" and r.body == BODY for r in hook.requests)
    assert all(hook.verify_signature("s", r) for r in hook.requests)


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_drop_the_body_is_reported_not_followed(hook, status):
    hook.script(Reply(status, location="https://hooks.example.com/v2/secret-token"))

    attempt = send_webhook(hook.url, BODY, delivery_id="d-12")

    assert (attempt.ok, attempt.status_code) == (False, status)
    assert "redirected to https://hooks.example.com, not followed" in attempt.error
    assert "secret-token" not in attempt.error  # paths of URLs are not shown (Slack's are keys)
    assert len(hook.requests) == 1


def test_at_most_three_redirects_are_followed(hook):
    hook.script(Reply(307, location="/again"))

    attempt = send_webhook(hook.url, BODY, delivery_id="d-13")

    assert (attempt.ok, attempt.status_code) == (False, 307)
    assert attempt.error == "more than 3 redirects"
    assert len(hook.requests) == 4


# --- Where notifications may not go ---------------------------------------------------------

UNSAFE = [
    ("http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
    ("http://localhost:{port}/hook", "localhost resolves to"),
    ("http://127.1:{port}/", "127.1 resolves to 127.0.0.1, a loopback address"),
    ("http://2130706433:{port}/", "resolves to 127.0.0.1, a loopback address"),
    ("http://[::1]:{port}/", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]:{port}/", "a loopback address (IPv4 127.0.0.1)"),
    ("http://[::ffff:7f00:1]:{port}/", "a loopback address (IPv4 127.0.0.1)"),
    ("http://[64:ff9b::7f00:1]:{port}/", "a loopback address (IPv4 127.0.0.1)"),
    ("http://[2002:7f00:1::]:{port}/", "a loopback address (IPv4 127.0.0.1)"),
    ("http://0.0.0.0:{port}/", "0.0.0.0 is an unspecified address"),
    ("http://[::]:{port}/", ":: is an unspecified address"),
    ("http://10.0.0.1/", "10.0.0.1 is a private address"),
    ("http://192.168.1.20:8080/", "a private address"),
    ("http://[fd00::5]/", "a private address"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://100.64.0.1/", "a non-public address"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://intranet.example/hook", "intranet.example resolves to 10.0.0.5, a private address"),
    ("http://mixed.example/hook", "mixed.example resolves to 10.0.0.6, a private address"),
]


@pytest.fixture
def private_refused(settings, dns):
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    dns.add("intranet.example", ["10.0.0.5"])
    dns.add("mixed.example", ["93.184.215.14", "10.0.0.6"])  # one bad answer is enough


@pytest.mark.parametrize(("url", "why"), UNSAFE)
def test_a_non_public_target_is_refused_when_a_channel_is_saved(hook, private_refused, url, why):
    with pytest.raises(UnsafeTarget) as refused:
        check_url(url.format(port=hook.port))

    assert why in str(refused.value)
    assert str(refused.value).endswith("; set ALERTS_ALLOW_PRIVATE_WEBHOOKS=true to allow")


@pytest.mark.parametrize(("url", "why"), UNSAFE)
def test_a_non_public_target_is_refused_at_send_time(hook, private_refused, url, why):
    url = url.format(port=hook.port)
    webhook = send_webhook(url, BODY, delivery_id="d-20", secret="s")
    slack = send_slack(url, {"title": "t", "text": "x", "severity": "info"})

    for attempt in (webhook, slack):
        assert (attempt.ok, attempt.status_code) == (False, None)
        assert attempt.error.startswith("refused: ") and why in attempt.error
    assert hook.requests == []


def test_the_exact_message_names_the_address_and_the_way_out(private_refused):
    with pytest.raises(UnsafeTarget) as refused:
        check_url("https://intranet.example/hooks/1")

    assert str(refused.value) == (
        "intranet.example resolves to 10.0.0.5, a private address; "
        "set ALERTS_ALLOW_PRIVATE_WEBHOOKS=true to allow"
    )


def test_the_setting_lets_private_targets_through(hook):
    check_url("http://10.0.0.1/hook")  # no lookup, no error
    check_url(hook.url)
    assert send_webhook(hook.url, BODY, delivery_id="d-21").ok


def test_an_explicit_argument_wins_over_the_setting(hook):
    with pytest.raises(UnsafeTarget):
        check_url(hook.url, allow_private=False)
    assert not send_webhook(hook.url, BODY, delivery_id="d-22", allow_private=False).ok
    assert hook.requests == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/x", "only http:// and https:// URLs"),
        ("file:///etc/passwd", "only http:// and https:// URLs"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http:// and https:// URLs"),
        ("hooks.example.com/x", "not a URL without a scheme"),
        ("http://user:pass@127.0.0.1/", "the URL carries credentials"),
        ("https://token@hooks.example.com/", "the URL carries credentials"),
        ("http:///path-only", "the URL has no host"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
        ("http://127.0.0.1/a b", "spaces or control characters"),
        ("http://127.0.0.1/\r\nX-Injected: 1", "spaces or control characters"),
        ("", "the URL is empty"),
    ],
)
def test_bad_urls_are_refused_even_where_private_targets_are_allowed(url, why):
    with pytest.raises(UnsafeTarget, match=why):
        check_url(url)
    attempt = send_webhook(url, BODY, delivery_id="d-23")
    assert not attempt.ok and why in attempt.error


def test_credentials_in_the_url_are_never_sent(hook):
    url = hook.url.replace("http://", "http://admin:hunter2@")

    attempt = send_webhook(url, BODY, delivery_id="d-24")

    assert not attempt.ok and "hunter2" not in attempt.error
    assert hook.requests == []


def test_a_host_that_does_not_resolve_is_refused_when_saved_and_fails_when_sent(settings):
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    with pytest.raises(UnsafeTarget, match=r"hooks\.exmaple\.com does not resolve"):
        check_url("https://hooks.exmaple.com/x")

    attempt = send_webhook("https://hooks.exmaple.com/x", BODY, delivery_id="d-25")
    assert not attempt.ok
    assert attempt.error.startswith("hooks.exmaple.com does not resolve")


@pytest.fixture
def public_name(monkeypatch, settings):
    """hooks.example.com "resolves to a public address", which routes to the receiver.

    The checked resolver is replaced for that one name only (so the check passes as for
    a real public host) and answers 127.0.0.1: a request that arrives proves the
    connection went to the address the resolver returned. Every other name and every
    redirect hop goes through the real, checked resolver.
    """
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    real_resolve_host = egress.resolve_host
    looked_up = []

    def resolve_host(host, port, **kwargs):
        looked_up.append(host)
        if host == "hooks.example.com":
            return (ipaddress.ip_address("127.0.0.1"),)
        return real_resolve_host(host, port, **kwargs)

    monkeypatch.setattr(egress, "resolve_host", resolve_host)
    return looked_up


def test_a_public_target_is_reached_on_the_address_it_was_checked_at(hook, public_name, dns):
    attempt = send_webhook(f"http://hooks.example.com:{hook.port}/in", BODY, delivery_id="d-26")

    assert attempt.ok, attempt.error
    [request] = hook.requests
    assert request.headers["Host"] == f"hooks.example.com:{hook.port}"
    assert public_name == ["hooks.example.com"]
    assert "hooks.example.com" not in dns.asked  # no second lookup to connect


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("http://127.0.0.1:{port}/internal", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/internal", "localhost resolves to"),
        ("http://[::ffff:127.0.0.1]:{port}/", "a loopback address (IPv4 127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://intranet.example/admin", "intranet.example resolves to 10.0.0.5"),
        ("ftp://hooks.example.com/x", "only http:// and https:// URLs"),
    ],
)
def test_a_redirect_to_a_non_public_target_is_refused(hook, public_name, dns, location, why):
    dns.add("intranet.example", ["10.0.0.5"])
    hook.script(Reply(307, location=location.format(port=hook.port)))

    attempt = send_webhook(f"http://hooks.example.com:{hook.port}/in", BODY, delivery_id="d-27")

    assert (attempt.ok, attempt.status_code) == (False, None)
    assert attempt.error.startswith("refused: redirected (HTTP 307) to an unsafe target: ")
    assert why in attempt.error
    assert [r.path for r in hook.requests] == ["/in"]  # the redirect was not followed


def test_a_dns_answer_that_changes_after_the_check_is_not_used(hook, dns):
    # Rebinding: the first answer is checked and used; a later one (here an address no
    # test may reach) never is, since the connection does not look the name up again.
    dns.add("rebind.example", ["127.0.0.1"], ["10.0.0.1"])

    attempt = send_webhook(f"http://rebind.example:{hook.port}/", BODY, delivery_id="d-28")

    assert attempt.ok, attempt.error
    assert dns.asked.count("rebind.example") == 1
    assert hook.requests[0].headers["Host"] == f"rebind.example:{hook.port}"


# --- TLS: the pinned address, the host's name and certificate -------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=hooks.example.com", "-addext", "subjectAltName=DNS:hooks.example.com"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return cert, server


@pytest.fixture
def tls_hook(certificate):
    with Receiver(tls=certificate[1]) as receiver:
        yield receiver


@pytest.fixture
def trusted(monkeypatch, certificate):
    """The test certificate is trusted, like a public CA's would be."""
    context = ssl.create_default_context(cafile=certificate[0])
    monkeypatch.setattr(egress, "_tls_context", lambda: context)


def test_https_goes_to_the_checked_address_with_the_hosts_name_for_sni_and_certificate(
    tls_hook, public_name, trusted
):
    attempt = send_webhook(f"https://hooks.example.com:{tls_hook.port}/in", BODY, delivery_id="t1")

    assert attempt.ok, attempt.error
    assert tls_hook.requests[0].body == BODY
    assert tls_hook.requests[0].headers["Host"] == f"hooks.example.com:{tls_hook.port}"


def test_a_certificate_for_another_name_is_refused(tls_hook, trusted, dns):
    dns.add("other.example", ["127.0.0.1"])

    attempt = send_webhook(f"https://other.example:{tls_hook.port}/", BODY, delivery_id="t2")

    assert not attempt.ok
    assert attempt.error.startswith("TLS certificate of other.example not accepted: ")
    assert tls_hook.requests == []


def test_an_untrusted_certificate_is_refused(tls_hook, public_name):
    attempt = send_webhook(f"https://hooks.example.com:{tls_hook.port}/", BODY, delivery_id="t3")

    assert not attempt.ok
    assert "certificate" in attempt.error
    assert tls_hook.requests == []


def test_a_redirect_from_https_to_plain_http_is_not_followed(tls_hook, hook, trusted, dns):
    dns.add("hooks.example.com", ["127.0.0.1"])
    tls_hook.script(Reply(307, location=hook.url))

    attempt = send_webhook(f"https://hooks.example.com:{tls_hook.port}/", BODY, delivery_id="t4")

    assert (attempt.ok, attempt.status_code) == (False, 307)
    assert "from https to plain http" in attempt.error
    assert hook.requests == []
    # Asking again gets the same redirect: the delivery fails now, not after every retry.
    assert is_permanent(attempt)


def test_a_target_that_never_completes_the_tls_handshake_costs_the_timeout(dns):
    dns.add("silent.example", ["127.0.0.1"])
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        started = time.monotonic()
        attempt = send_webhook(
            f"https://silent.example:{silent.getsockname()[1]}/",
            BODY,
            delivery_id="t5",
            timeout=0.5,
        )
        elapsed = time.monotonic() - started

    assert not attempt.ok
    assert attempt.error.startswith("timed out after 0.5 s (connecting")
    assert elapsed < 5


# --- Slack ----------------------------------------------------------------------------------


def test_slack_gets_a_message_with_text_and_a_color_for_the_severity(hook):
    message = {
        "title": "Disk > 90% on <db-1> & co <!channel>",
        "text": "disk_used_percent avg 93.5 > 90",
        "severity": "critical",
        "url": "https://analytics.example.com/alerts/incidents/7",
    }

    attempt = send_slack(hook.url + "services/T0/B0/XYZ", message, delivery_id="s-1")

    assert attempt.ok, attempt.error
    [request] = hook.requests
    assert request.headers["Content-Type"] == "application/json"
    payload = request.json()
    assert payload["text"] == "[CRITICAL] Disk &gt; 90% on &lt;db-1&gt; &amp; co &lt;!channel&gt;"
    [attachment] = payload["attachments"]
    assert attachment["color"] == senders.SEVERITY_COLORS["critical"]
    assert attachment["title_link"] == message["url"]
    assert attachment["text"] == "disk_used_percent avg 93.5 &gt; 90"


@pytest.mark.parametrize("severity", ["info", "warning", "error", "critical"])
def test_each_severity_has_its_own_color(severity):
    payload = orjson.loads(senders.slack_payload({"title": "t", "severity": severity}))

    assert payload["attachments"][0]["color"] == senders.SEVERITY_COLORS[severity]


def test_slack_rejecting_the_message_says_why():
    with Receiver(Reply(404, body=b"no_service")) as hook:
        attempt = send_slack(hook.url, {"title": "t", "text": "x", "severity": "info"})

    assert (attempt.ok, attempt.status_code, attempt.error) == (False, 404, "HTTP 404: no_service")


# --- Email ----------------------------------------------------------------------------------


def test_email_is_sent_with_the_subject_and_body_from_the_configured_sender(settings):
    settings.DEFAULT_FROM_EMAIL = "alerts@analytics.example.com"

    attempt = send_email("oncall@example.com", "[CRITICAL] Disk > 90%", "Disk is 93.5%.\n")

    assert (attempt.ok, attempt.status_code, attempt.error) == (True, None, "")
    [message] = mail.outbox
    assert message.subject == "[CRITICAL] Disk > 90%"
    assert message.body == "Disk is 93.5%.\n"
    assert message.from_email == "alerts@analytics.example.com"
    assert message.to == ["oncall@example.com"]


def test_a_line_break_in_the_subject_cannot_add_headers():
    attempt = send_email("oncall@example.com", "Disk full\nBcc: everyone@example.com", "x")

    assert attempt.ok
    assert mail.outbox[0].subject == "Disk full Bcc: everyone@example.com"
    assert mail.outbox[0].bcc == []


@pytest.mark.parametrize(
    "address", ["", "oncall", "oncall@", "a@b@example.com", "x@example.com\nBcc: y@example.com"]
)
def test_a_bad_address_fails_when_saved_and_is_never_sent(address):
    with pytest.raises(ValueError, match="is not a valid email address"):
        check_email(address)

    attempt = send_email(address, "s", "t")
    assert not attempt.ok and "is not a valid email address" in attempt.error
    assert mail.outbox == []


def test_a_mail_server_that_is_down_is_a_failed_attempt(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()

    attempt = send_email("oncall@example.com", "s", "t")

    assert (attempt.ok, attempt.status_code) == (False, None)
    assert attempt.error.startswith("email not sent: ConnectionRefusedError")


# --- send(): one entry point for every channel type -----------------------------------------


def test_send_picks_the_sender_by_channel_type(hook):
    common = {"secret": "s", "body": BODY, "delivery_id": "x-1", "subject": "Subj", "text": "Body"}

    webhook = send(channel_type="webhook", target=hook.url + "w", message=None, **common)
    slack = send(channel_type="slack", target=hook.url + "s", message=None, **common)
    email = send(channel_type="email", target="oncall@example.com", message=None, **common)

    assert webhook.ok and slack.ok and email.ok
    by_path = {r.path: r for r in hook.requests}
    assert by_path["/w"].body == BODY and hook.verify_signature("s", by_path["/w"])
    assert by_path["/s"].json()["text"] == "Subj"
    assert by_path["/s"].headers["X-Analytics-Signature"] is None
    assert (mail.outbox[0].subject, mail.outbox[0].body) == ("Subj", "Body")


def test_send_takes_its_timeout_from_the_settings(settings):
    settings.ALERTS_DELIVERY_TIMEOUT_SECONDS = 0.5
    with Receiver(Reply(200, delay=10)) as hook:
        attempt = send(channel_type="webhook", target=hook.url, body=BODY, delivery_id="x-2")

    assert "timed out after 0.5 s" in attempt.error


def test_the_receiver_can_wait_for_requests_sent_from_elsewhere(hook):
    thread = threading.Thread(
        target=send_webhook, args=(hook.url, BODY), kwargs={"delivery_id": "w"}
    )
    thread.start()

    [request] = hook.wait(1)
    thread.join(5)

    assert request.body == BODY
    with pytest.raises(AssertionError, match="expected 2 requests, got 1"):
        hook.wait(2, timeout=0.1)


def test_an_unknown_channel_type_is_a_failed_attempt_not_an_exception():
    attempt = send(channel_type="pager", target="x", delivery_id="x-3")

    assert (attempt.ok, attempt.error) == (False, "unknown channel type 'pager'")
