"""The fingerprint that groups errors into issues, computed once per item as it is
validated (`enrich_error`, the error kind's enrich hook).

- The SDK's fingerprint when it sent one (Sentry's `fingerprint`, kept in the error's
  `context.fingerprint`): its parts hashed, `{{ default }}` in it standing for the
  default fingerprint below (so `["{{ default }}"]` groups as if none was sent).
- Else the default: a hash of the exception type (`error_code`, else the type that
  starts the message or ends a Python traceback), the message normalised (numbers,
  hex, UUIDs, quoted strings, emails and URLs become placeholders, a leading "Type: "
  dropped) and the top in-app frames of the stack trace (function and file name, no
  line numbers, no directories: an SDK's relative path and a traceback's absolute one
  name the same file). Python, JavaScript (V8 and Firefox) and Java traces are read;
  for a Sentry event the frames it marked `in_app` are used when there are some.

Its cost per item is measured in docs/errors.md; every pattern runs in linear time on
the (bounded) message and trace, whatever a client sends.
"""

import hashlib
import re
from typing import Any

FRAMES = 5  # top in-app frames in the default fingerprint
_MESSAGE_CHARS = 1000  # the message's start is what names the error
_TRACE_PART = 4000  # of a trace read first (see _parsed_top_frames)
_SDK_DEFAULT = frozenset({"{{ default }}", "{{default}}"})

# Placeholders, in this order (a URL may hold an email, a quoted id a number), each pass
# run only when its telltale character is there: most messages need two or three.
_URL = re.compile(r"\b[a-z][a-z0-9+.-]{0,30}://\S+", re.I)
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}\.[\w.-]+")
_QUOTED = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|`[^`\n]{0,200}`")
_UUID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", re.I)
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)*")
_DIGIT = re.compile(r"\d")
# "ValueError: ...", "java.lang.IllegalStateException: ...", "TypeError" alone.
_TYPE_PREFIX = re.compile(r"^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(?::\s|$)")
_TYPE_NAMES = re.compile(r"(?:Error|Exception|Warning|Fault|Interrupt|Exit|Violation)$")
_PY_FRAME = re.compile(
    r'^[ \t]*File "(?P<file>[^"\n]+)", line \d+, in (?P<func>.+?)[ \t\r]*$', re.M
)
_PY_LAST_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
_JS_V8 = re.compile(
    r"^[ \t]*at (?:(?P<func>[^()\n]+?) \()?(?P<file>[^()\s]+?)(?::\d+){1,2}\)?[ \t\r]*$", re.M
)
_JS_FIREFOX = re.compile(r"^(?P<func>[^@\n]*)@(?P<file>\S+?)(?::\d+){1,2}[ \t\r]*$", re.M)
_JAVA = re.compile(r"^[ \t]*at (?P<func>[\w$.<>/]+)\((?P<file>[^:)\n]*)(?::\d+)?\)[ \t\r]*$", re.M)
_LIBRARY = re.compile(
    r"site-packages|dist-packages|node_modules|/lib/python\d|<frozen |^internal/|^node:"
    r"|/usr/lib/|\\lib\\"
)
_JAVA_LIBRARY = ("java.", "javax.", "jdk.", "sun.", "kotlin.", "kotlinx.", "scala.")
_HASHED_NAME = re.compile(r"(?<=[.-])[0-9a-f]{6,}(?=\.)", re.I)  # main.3f9a1c2e.js


def normalise_message(message: str) -> str:
    """The message with what varies between occurrences replaced by placeholders."""
    text = message[:_MESSAGE_CHARS]
    if "://" in text:
        text = _URL.sub("<url>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if "'" in text or '"' in text or "`" in text:
        text = _QUOTED.sub("<str>", text)
    if _DIGIT.search(text):
        text = _UUID.sub("<uuid>", text)
        text = _HEX.sub("<hex>", text)
        text = _NUMBER.sub("<n>", text)
    return " ".join(text.split())


def exception_type(error_code: str, message: str, stack_trace: str) -> str:
    """The exception's type: the error code, else one the message starts with, else the
    one a Python traceback ends with."""
    if error_code.strip():
        return error_code.strip()
    found = _TYPE_PREFIX.match(message)
    if found and _TYPE_NAMES.search(found[1]):
        return found[1]
    if "Traceback (most recent call last)" in stack_trace:
        last = stack_trace.rstrip().rsplit("\n", 1)[-1]
        found = _PY_LAST_LINE.match(last)
        if found:
            return found[1]
    return ""


def _file_name(path: str) -> str:
    name = path.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    name = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return _HASHED_NAME.sub("<hash>", name)


def _in_app(path: str, func: str) -> bool:
    return not _LIBRARY.search(path) and not func.startswith(_JAVA_LIBRARY)


def _top_in_app(frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first FRAMES in-app ones of (function, path) frames."""
    found = []
    for func, path in frames:
        if _in_app(path, func):
            found.append((func, path))
            if len(found) == FRAMES:
                break
    return found


def _parsed_top_frames(trace: str) -> list[tuple[str, str]]:
    """(function, file path) of the top FRAMES in-app frames, the most recent call first
    (else of the top frames, none being in-app). The end of a Python traceback, or the
    start of other traces, is read first; the whole only when that part has too few."""
    if not trace:
        return []
    if 'File "' in trace:
        # A chained Python traceback: the last block is the exception raised.
        last = trace.rsplit("Traceback (most recent call last):", 1)[-1]
        parts, patterns, newest_first = (last[-_TRACE_PART:], last), (_PY_FRAME,), False
    else:
        parts, patterns, newest_first = (
            (trace[:_TRACE_PART], trace),
            (_JAVA, _JS_V8, _JS_FIREFOX),
            True,
        )
    if len(parts[1]) <= _TRACE_PART:
        parts = parts[1:]
    for pattern in patterns:
        for part in parts:
            frames = [((m["func"] or "?").strip(), m["file"]) for m in pattern.finditer(part)]
            if not newest_first:
                frames.reverse()
            top = _top_in_app(frames)
            if len(top) == FRAMES:
                return top
        if frames:
            return top or frames[:FRAMES]
    return []


def _sdk_frames(context: dict) -> list[tuple[str, str]] | None:
    """A Sentry event's frames of the raised exception, most recent first: the in-app
    ones when it marked some, else all; None when the event carries none."""
    exceptions = context.get("exception")
    if not isinstance(exceptions, list) or not exceptions or not isinstance(exceptions[-1], dict):
        return None
    frames = [f for f in exceptions[-1].get("frames") or () if isinstance(f, dict)]
    if not frames:
        return None
    marked = [f for f in frames if f.get("in_app") is True]
    return [
        (str(f.get("function") or "?"), str(f.get("filename") or f.get("abs_path") or "?"))
        for f in reversed(marked or frames)
    ]


def top_frames(stack_trace: str, context: dict) -> list[tuple[str, str]]:
    """Up to FRAMES (function, file name) of the in-app frames, the most recent first."""
    frames = _sdk_frames(context)
    if frames is None:
        frames = _parsed_top_frames(stack_trace)
    return [(func, _file_name(path)) for func, path in frames[:FRAMES]]


def _digest(parts: list[str]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def default_fingerprint(
    *, error_code: str, error_message: str, stack_trace: str, context: dict
) -> tuple[str, list[tuple[str, str]]]:
    """The default fingerprint, and the top frames it used."""
    kind = exception_type(error_code, error_message, stack_trace)
    message = error_message
    if kind and message.startswith(kind):  # "ValueError: x" and "x" are one message
        message = message[len(kind) :].lstrip(":").lstrip()
    frames = top_frames(stack_trace, context)
    parts = ["default", kind, normalise_message(message)]
    parts += [f"{func}@{name}" for func, name in frames]
    return _digest(parts), frames


def _sdk_parts(context: dict) -> list[str] | None:
    sent = context.get("fingerprint")
    if isinstance(sent, str):
        sent = [sent]
    if not isinstance(sent, list) or not sent:
        return None
    return [p if isinstance(p, str) else str(p) for p in sent]


def fingerprint_of(row: dict[str, Any]) -> tuple[str, str]:
    """(fingerprint, culprit) of a validated error row."""
    context = row.get("context")
    context = context if isinstance(context, dict) else {}
    default, frames = default_fingerprint(
        error_code=row.get("error_code") or "",
        error_message=row.get("error_message") or "",
        stack_trace=row.get("stack_trace") or "",
        context=context,
    )
    culprit = f"{frames[0][0]} in {frames[0][1]}" if frames else row.get("endpoint") or ""
    parts = _sdk_parts(context)
    if parts is None or (len(parts) == 1 and parts[0].strip() in _SDK_DEFAULT):
        return default, culprit[:255]
    expanded = [default if p.strip() in _SDK_DEFAULT else p for p in parts]
    return _digest(["sdk", *expanded]), culprit[:255]


def enrich_error(row: dict, request: object) -> None:
    """The error kind's enrich hook: fingerprint, culprit and release of the row."""
    row["fingerprint"], row["culprit"] = fingerprint_of(row)
    release = row["context"].get("release") if isinstance(row.get("context"), dict) else None
    row["release"] = release[:200] if isinstance(release, str) else ""
