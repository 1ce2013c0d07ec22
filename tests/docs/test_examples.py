"""Every example in README.md and docs/*.md, followed literally against a stack started as
`make run` starts it.

The shell blocks (```sh, bash or shell) of each file run, in document order, as one
bash script (so a variable set in one block is there in the next, as in one terminal), in
the repository root, with `$INGEST_KEY`, `$READ_KEY` and `$ADMIN_KEY` made by the real
`manage.py create_api_key NAME --scope ...` (its last line) and exported (the README's
own key block runs too and exports its keys for the rest of the README). Python blocks
run through `manage.py shell -c` at their place; the data their `analytics.*` calls
record must then arrive in its tables within the outbox sweeper's reach (stale time + one
sweep), with nothing else done by the test.

The stack is the Procfile under honcho (web, worker, beat and live), with `make run`'s
set-up before it (schedules, built-in alert rules and monitoring checks), on the test
database and a private Redis. It listens on free ports: the one change made to an example
is its authority, `127.0.0.1:8000` becoming the web's port and `127.0.0.1:8001` the live
feed's. The settings the docs tell a reader to set (ALERTS_ALLOW_PRIVATE_WEBHOOKS=true
for the receiver on 127.0.0.1) are in the stack's environment.

`curl` is a bash function around the real one with `--fail-with-body`'s meaning, made
stricter: every answer must be a 2xx (within 20 s), or the run stops there and the test
fails naming the file, the line and the answer's body. A few answers must also carry the
data the examples before them sent (EXPECTED below), so an example that "works" by
answering nothing fails too.

Not run, and only with a visible marker in the Markdown: a block whose info string says
`no-run` (```sh no-run) or that follows `<!-- not run: reason -->`. A block whose info
string says `background` is a server the docs start in another terminal: it runs in the
background, the next block waits for the 127.0.0.1 port it listens on, and it is stopped
at the end. An unmarked block that would start this service, need a person (a password
prompt) or change the machine (systemd, nginx, pip) fails the collector, listed.
"""

import ast
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db.models import Model

from apps.events.models import Event
from apps.ingest.models import OutboxBatch
from apps.metrics.models import MetricPoint
from bench.stack import BIN
from tests.live import ROOT, Stack, free_port, port_open, wait_until

pytestmark = [pytest.mark.live, pytest.mark.timeout(170)]

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "shell"}
PYTHON = {"python", "py"}
NOT_RUN_COMMENT = re.compile(r"^<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->$")
# What an unmarked block must not do: start this service (it is running), wait for a
# person, or change the machine. Such a block needs a `no-run` marker.
UNRUNNABLE = re.compile(
    r"\bmake\s+(run|test|bench\S*)\b|\bhoncho\b|\bgunicorn\b|\buvicorn\b|\bdaphne\b"
    r"|\bcelery\b.*\b(worker|beat)\b|\bcreatesuperuser\b|\bsystemctl\b|\bnginx\b"
    r"|\bpip\s+install\b|\bapt(-get)?\b|\bsudo\b|\brunserver\b"
)
# A line of a block in another language (or none) that reads like a command: the block
# must say sh, so that it runs, or sh no-run.
COMMAND_LIKE = re.compile(r"^\s*(\$ |curl |\.venv/bin/|python3? |make |export )")
URL_HOST = re.compile(r"\b(?:https?|wss?)://([^/:\"'\s]+)")
CURL_SECONDS = 20
# The outbox sweeper of the stack (INGEST_OUTBOX_STALE_SECONDS, _SWEEP_SECONDS): a batch
# whose task was never published is stored within their sum.
STALE_SECONDS = 2
SWEEP_SECONDS = 5
FILE_SECONDS = 60  # one document's script, at most


@dataclass
class Block:
    path: Path
    fence: int  # line number of the opening fence (1-based)
    lang: str
    attrs: list[str]
    lines: list[str]  # the content, dedented to the fence
    not_run: str | None = None  # the reason, when marked

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.fence}"

    @property
    def runnable(self) -> bool:
        return self.not_run is None and (self.lang in SHELL or self.lang in PYTHON)


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with their markers."""
    found: list[Block] = []
    text = path.read_text().splitlines()
    open_block: Block | None = None
    indent = ""
    previous = ""  # the last non-blank line outside a block
    for number, line in enumerate(text, start=1):
        stripped = line.strip()
        if open_block is None:
            if stripped.startswith("```"):
                indent = line[: len(line) - len(line.lstrip())]
                words = stripped[3:].split()
                lang = words[0].lower() if words else ""
                open_block = Block(path, number, lang, words[1:], [])
                if "no-run" in open_block.attrs:
                    open_block.not_run = "marked no-run"
                elif match := NOT_RUN_COMMENT.match(previous):
                    open_block.not_run = match["reason"]
            elif stripped:
                previous = stripped
        elif stripped == "```":
            found.append(open_block)
            open_block, previous = None, ""
        else:
            open_block.lines.append(line.removeprefix(indent))
    assert open_block is None, f"{path.name}:{open_block.fence}: a block is never closed"
    return found


def all_blocks() -> list[Block]:
    return [block for path in DOCUMENTS for block in blocks_of(path)]


def test_every_shell_example_is_run_or_marked_not_run():
    """Nothing is skipped silently: an unmarked shell block is run, so it must be runnable."""
    unmarked = [
        f"{block.where}: {line.strip()}"
        for block in all_blocks()
        if block.runnable and block.lang in SHELL and "background" not in block.attrs
        for line in block.lines
        if UNRUNNABLE.search(line.partition(" #")[0])  # a comment may name anything
    ]
    assert not unmarked, (
        "these examples cannot run against a running stack; mark their block "
        "```sh no-run or put <!-- not run: reason --> before it:\n" + "\n".join(unmarked)
    )
    untagged = [
        f"{block.where}: {line.strip()}"
        for block in all_blocks()
        if block.lang not in SHELL | PYTHON and block.not_run is None
        for line in block.lines
        if COMMAND_LIKE.match(line)
    ]
    assert not untagged, (
        "these blocks hold commands but do not say sh: make them ```sh (run) "
        "or ```sh no-run:\n" + "\n".join(untagged)
    )
    assert any(block.runnable for block in all_blocks())


def off_machine() -> list[str]:
    """URLs of examples that run and would send traffic off this machine."""
    return [
        f"{block.where}: {url[0]}"
        for block in all_blocks()
        if block.runnable
        for line in block.lines
        for url in URL_HOST.finditer(line)
        if url[1] not in ("127.0.0.1", "localhost")
    ]


def test_examples_that_run_stay_on_this_machine():
    assert not off_machine(), "examples must target 127.0.0.1:\n" + "\n".join(off_machine())


# --- the run --------------------------------------------------------------

PRELUDE = r"""
set -eE -o pipefail
# The real curl, held to --fail-with-body's promise and more: a 2xx or the run stops.
curl() {
  local line=${BASH_LINENO[0]} body status url arg
  body=$(mktemp "$DOCS_OUT/answer-XXXXXX")
  for arg in "$@"; do case $arg in http://*|https://*) url=$arg;; esac; done
  status=$(command curl -sS --max-time "$DOCS_CURL_SECONDS" -o "$body" -w '%{http_code}' "$@") \
    || status="curl-exit-$?"
  printf '%s\t%s\t%s\t%s\n' "$line" "$status" "$url" "$body" >> "$DOCS_CALLS"
  cat "$body"
  echo >&2  # the answer on a line of its own in the log
  case $status in
    2??) return 0;;
    *) printf 'curl on line %s answered %s\n' "$line" "$status" >&2; return 22;;
  esac
}
__python() {  # a Python block, at its place, inside this project
  "$DOCS_PYTHON" manage.py shell -c "$(cat "$1")"
}
__background() {  # a server the docs start in another terminal
  if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
    echo "127.0.0.1:$2 is taken: the server of line $3 cannot listen there" >&2; return 1
  fi
  bash "$1" > "$1.log" 2>&1 &
  local waited=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do
    sleep 0.1; waited=$((waited + 1))
    if [ "$waited" -gt 100 ]; then
      echo "the server of line $3 never listened on $2" >&2; return 1
    fi
  done
}
trap 'printf "line %s exited %s: %s\n" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR
"""


class DocsStack(Stack):
    """The stack with the settings the docs tell a reader to set, as `make run` runs it."""

    extra: dict[str, str] = {}

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra}


@dataclass
class Run:
    stack: DocsStack
    web_port: int
    live_port: int
    keys: dict[str, str]
    out: Path
    failures: list[str] = field(default_factory=list)

    def localize(self, text: str) -> str:
        """The one change to an example: the authority, to the stack's ports."""
        return text.replace("127.0.0.1:8000", f"127.0.0.1:{self.web_port}").replace(
            "127.0.0.1:8001", f"127.0.0.1:{self.live_port}"
        )

    def script_of(self, path: Path, blocks: list[Block]) -> str:
        """The document as a bash script whose line N is the Markdown's line N."""
        lines = [""] * (len(path.read_text().splitlines()) + 1)
        for block in blocks:
            body = self.localize("\n".join(block.lines) + "\n")
            if block.lang in SHELL and "background" not in block.attrs:
                for offset, line in enumerate(body.splitlines(), start=block.fence + 1):
                    lines[offset - 1] = line
                continue
            part = self.out / f"{path.stem}-{block.fence}.{'py' if block.lang in PYTHON else 'sh'}"
            part.write_text(body)
            if block.lang in PYTHON:
                lines[block.fence - 1] = f"__python {part}"
            else:
                port = re.search(r"127\.0\.0\.1\D{1,4}(\d{2,5})", body)
                assert port, f"{block.where}: a background block must listen on 127.0.0.1:PORT"
                lines[block.fence - 1] = f"__background {part} {port[1]} {block.fence}"
        return "\n".join(lines)

    def run_document(self, path: Path) -> None:
        blocks = [block for block in blocks_of(path) if block.runnable]
        if not blocks:
            return
        name = path.relative_to(ROOT)
        script = self.out / f"{path.stem}.sh"
        script.write_text(self.script_of(path, blocks))
        prelude = self.out / "prelude.sh"
        env = {
            **self.stack.env,
            **self.keys,
            "BASH_ENV": str(prelude),
            "DOCS_OUT": str(self.out),
            "DOCS_CALLS": str(self.out / f"{path.stem}.calls"),
            "DOCS_PYTHON": sys.executable,
            "DOCS_CURL_SECONDS": str(CURL_SECONDS),
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }
        log = self.out / f"{path.stem}.log"
        with open(log, "wb") as output:
            proc = subprocess.Popen(
                ["bash", str(script)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout=FILE_SECONDS)
            except subprocess.TimeoutExpired:
                code = f"still running after {FILE_SECONDS} s"
            finally:
                # Receivers the docs started in the background go with the script.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if code != 0:
            self.failures.append(f"{name}: exit {code}\n{self.explain(path, log)}")

    def explain(self, path: Path, log: Path) -> str:
        """The failing call: file, line, answer and body; else the script's output."""
        calls = self.calls(path)
        bad = [call for call in calls if not call["status"].startswith("2")]
        output = log.read_text(errors="replace")[-3000:]
        if bad:
            call = bad[-1]
            return (
                f"{path.relative_to(ROOT)}:{call['line']}: {call['url']} answered {call['status']}"
                f"\n{call['body'][:2000]}\n--- output ---\n{output}"
            )
        return f"--- output ---\n{output}"

    def read(self, url: str) -> str:
        """GET `url` with the read key, as the example did; the body, or "" on an error."""
        request = urllib.request.Request(url, headers={"X-API-Key": self.keys["READ_KEY"]})
        try:
            with urllib.request.urlopen(request, timeout=CURL_SECONDS) as response:
                return response.read().decode()
        except OSError:
            return ""

    def calls(self, path: Path | None = None) -> list[dict]:
        """Every curl an example made (of one document), with its answer."""
        found = []
        for index in sorted(self.out.glob(f"{path.stem if path else '*'}.calls")):
            found += self._calls(index)
        return found

    def _calls(self, index: Path) -> list[dict]:
        found = []
        for entry in index.read_text().splitlines():
            line, status, url, body = entry.split("\t")
            text = Path(body).read_text(errors="replace") if Path(body).exists() else ""
            found.append({"line": line, "status": status, "url": url, "body": text})
        return found


@dataclass(frozen=True)
class Expected:
    """An answer that must carry what the examples before it sent."""

    document: str
    url: str  # a pattern of the example's URL
    what: str
    check: Callable[[dict | list], bool]
    # A read that may run ahead of the data it shows (this service's own request logs are
    # flushed about once a second, the worker stores a batch a moment after its 202):
    # asked again with the read key, for up to 15 s.
    again: bool = False


EXPECTED = [
    Expected(
        "README.md",
        r"/metrics/api-performance\?",
        "this service's own requests, logged",
        lambda body: body["total_requests"] > 0,
        again=True,
    ),
    Expected(
        "README.md",
        r"/device-state-history/device-123\?",
        "the state change the writing example sent",
        lambda body: body["total_changes"] >= 1 and body["current_state"] == "restarting",
        again=True,
    ),
    Expected(
        "README.md",
        r"/alerts/channels/\d+/test$",
        "a test notification the receiver on 127.0.0.1 took",
        lambda body: body["status"] == "delivered",
    ),
    Expected(
        "README.md",
        r"/monitoring/health$",
        "the service the monitoring example added, checked",
        lambda body: any(
            service["service_name"] == "api" and service["status"] == "healthy"
            for service in body["services"]
        ),
        again=True,
    ),
    Expected(
        "README.md",
        r"/monitoring/sla/api\?",
        "an SLA report of the checks made since",
        lambda body: body["uptime_percentage"] == 100.0,
        again=True,
    ),
    Expected(
        "README.md",
        r"/api_request_count/time-series\?",
        "weekly request counts holding this service's own requests",
        lambda body: any(bucket["count"] for bucket in body["buckets"]),
        again=True,
    ),
    Expected(
        "README.md",
        r"/analytics/costs\?",
        "a cost for the usage the AI example logged, once priced",
        lambda body: any(row["estimated_cost_usd"] > 0 for row in body),
        again=True,
    ),
    Expected(
        "README.md",
        r"/analytics/batch-track$",
        "a tracked day with the example's user and agent",
        lambda body: body["users_tracked"] >= 1 and body["agents_tracked"] >= 1,
    ),
    Expected(
        "README.md",
        r"/analytics/user/user_123\?",
        "the user the insights example tracked",
        lambda body: body["user_id"] == "user_123" and body["actions"] == 2,
    ),
    Expected(
        "README.md",
        r"/analytics/agent/agent_7\?",
        "the agent the insights example tracked",
        lambda body: body["agent_id"] == "agent_7" and body["total_calls"] == 1,
    ),
    Expected(
        "docs/posthog.md",
        r"/analytics/events\?user_id=user-42$",
        "the event the posthog-python example captured",
        lambda body: any(
            e["event_type"] == "memory_posted" and e["metadata"]["$lib"] == "posthog-python"
            for e in body["results"]
        ),
        again=True,
    ),
]


def unexpected(run: "Run", expected: Expected) -> list[str]:
    """What is wrong with the answers to the example calls `expected` is about."""
    path = ROOT / expected.document
    answers = [call for call in run.calls(path) if re.search(expected.url, call["url"])]
    if not answers:
        return [f"{expected.document}: no example calls {expected.url} any more: update EXPECTED"]
    wrong = []
    for call in answers:
        if holds(expected, call["body"]):
            continue
        if expected.again:
            try:
                wait_until(
                    lambda url=call["url"]: holds(expected, run.read(url)),
                    timeout=15,
                    interval=0.5,
                    what=expected.what,
                )
                continue
            except TimeoutError:
                pass
        wrong.append(
            f"{expected.document}:{call['line']} {call['url']} answered without "
            f"{expected.what}:\n{call['body'][:1500]}"
        )
    return wrong


def holds(expected: Expected, body: str) -> bool:
    try:
        return bool(expected.check(json.loads(body)))
    except (KeyError, TypeError, ValueError):
        return False


def literal(node: ast.expr) -> object:
    """The value written in the snippet, or None when it is an expression."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def python_expectations(blocks: list[Block]) -> list[tuple[str, type[Model], dict]]:
    """For each `analytics.<call>("name", ...)` of a Python block, the row that must
    arrive: (the call, its model, a lookup)."""
    expected = []
    for block in blocks:
        if block.lang not in PYTHON:
            continue
        for node in ast.walk(ast.parse("\n".join(block.lines))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "analytics"
                and node.args
            ):
                continue
            name = literal(node.args[0])
            assert isinstance(name, str), f"{block.where}: name the metric or event literally"
            kwargs = {kw.arg: literal(kw.value) for kw in node.keywords if kw.arg}
            what = f"{block.where}: analytics.{node.func.attr}({name!r}, ...)"
            if node.func.attr == "emit_event":
                lookup = {"event_type": name}
                if isinstance(kwargs.get("user_id"), str | int):
                    lookup["user_id"] = str(kwargs["user_id"])
                expected.append((what, Event, lookup))
            else:
                labels = kwargs.get("labels")
                tags = labels if isinstance(labels, dict) else {}
                expected.append((what, MetricPoint, {"metric_name": name, "tags__contains": tags}))
    return expected


@pytest.fixture
def run(tmp_path):
    stack = DocsStack(tmp_path / "logs")
    stack.extra = {
        # make run's .env: DEBUG off with a generated secret, request logging on.
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ANALYTICS_ENABLED": "true",
        # What the docs tell a reader to set for the webhook receiver on 127.0.0.1.
        "ALERTS_ALLOW_PRIVATE_WEBHOOKS": "true",
        # The sweeper's reach, small: a Python block's batch must arrive within it.
        "INGEST_OUTBOX_STALE_SECONDS": str(STALE_SECONDS),
        "INGEST_OUTBOX_SWEEP_SECONDS": str(SWEEP_SECONDS),
    }
    out = tmp_path / "docs"
    out.mkdir()
    (out / "prelude.sh").write_text(PRELUDE)
    try:
        stack.start_redis()
        # make run's steps after migrate, and the keys, with the real commands (at once:
        # each is mostly Python starting up).
        steps = [("setup_schedules",), ("install_alert_rules",), ("install_monitoring_checks",)]
        scopes = {"INGEST_KEY": "ingest", "READ_KEY": "read", "ADMIN_KEY": "admin"}
        steps += [
            ("create_api_key", f"docs-{scope}", "--scope", scope) for scope in scopes.values()
        ]
        with ThreadPoolExecutor(len(steps)) as pool:
            outputs = list(pool.map(lambda step: stack.manage_ok(*step), steps))
        # A key is the command's last line.
        keys = {
            name: out.strip().splitlines()[-1]
            for name, out in zip(scopes, outputs[3:], strict=True)
        }
        live_port = free_port()
        ports = {"PORT": str(stack.web_port), "WS_PORT": str(live_port)}
        # The Procfile under honcho, as make run starts it; `-e` names an empty env file so
        # a developer's .env (honcho lets it win) cannot point the stack elsewhere.
        empty = out / "empty.env"
        empty.write_text("")
        honcho = [str(BIN / "honcho"), "start", "-e", str(empty)]
        stack.spawn("honcho", honcho, {**stack.env, **ports})
        stack.wait(
            "honcho",
            lambda: port_open(live_port) and all_parts_up(stack),
            timeout=60,
            what="web, worker, beat and live up",
            interval=0.2,
        )
        stack.descendants("honcho")
        yield Run(stack, stack.web_port, live_port, keys, out)
    finally:
        stack.close()


def all_parts_up(stack: Stack) -> bool:
    """Whether the health answer has every part up: the worker and beat too."""
    url = f"http://127.0.0.1:{stack.web_port}/api/v1/analytics/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return all(json.loads(response.read())["services"].values())
    except (OSError, ValueError):
        return False


@pytest.mark.django_db(transaction=True)
def test_every_example_in_the_readme_and_docs_works_as_written(run):
    assert not off_machine(), "not run: some examples would leave this machine"
    arrivals = python_expectations([block for block in all_blocks() if block.runnable])
    for path in DOCUMENTS:
        run.run_document(path)
    assert not run.failures, "\n\n".join(run.failures)

    # What the Python blocks recorded arrives, through the outbox and, for a batch whose
    # task was never published (a short-lived shell), beat's sweeper: within its reach
    # counted from now, after the blocks ran.
    deadline = time.monotonic() + STALE_SECONDS + SWEEP_SECONDS + 10
    for what, model, lookup in arrivals:
        try:
            arrived = model.objects.filter(**lookup).exists
            wait_until(arrived, timeout=max(deadline - time.monotonic(), 0.1), what=what)
        except TimeoutError:
            stranded = OutboxBatch.objects.count()
            pytest.fail(f"{what} never arrived; {stranded} batch(es) left in the outbox")

    wrong = [problem for expected in EXPECTED for problem in unexpected(run, expected)]
    assert not wrong, "\n\n".join(wrong)
