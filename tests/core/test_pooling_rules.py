"""Nothing the code does to a database connection outlives a transaction, so it works
behind a pooler in transaction mode (PgBouncer's pool_mode = transaction), which gives
each transaction of a client whichever server connection is free (the live proof:
tests/core/test_pgbouncer_live.py). A session-level SET, a session advisory lock,
LISTEN, a prepared statement or a cursor WITH HOLD would reach another client's
transactions, or be missing from the client's next one."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = [ROOT / "apps", ROOT / "analytics_project"]

SESSION_GUCS = (
    "statement_timeout|lock_timeout|idle_in_transaction_session_timeout|work_mem|"
    "maintenance_work_mem|search_path|role|session_authorization|application_name|"
    r"synchronous_commit|jit|max_parallel_workers_per_gather|enable_\w+|time\s+zone"
)
RULES = {
    # (ALTER DATABASE / ROLE ... SET: a default for new connections, not this one's.)
    "a session-level SET (use SET LOCAL)": re.compile(
        rf"^(?!.*\bALTER\s+(?:DATABASE|ROLE)\b).*\bSET\s+(?:SESSION\s+)?(?:{SESSION_GUCS})\b",
        re.IGNORECASE,
    ),
    "set_config(..., false) (session-level: pass true)": re.compile(
        r"set_config\([^)]*,\s*false\s*\)", re.IGNORECASE
    ),
    "a session advisory lock (use pg_advisory_xact_lock)": re.compile(
        r"pg_(?:try_)?advisory_lock(?:_shared)?\s*\(", re.IGNORECASE
    ),
    "LISTEN / UNLISTEN": re.compile(r"\b(?:UN)?LISTEN\s+\w", re.IGNORECASE),
    "a prepared statement": re.compile(r"\bPREPARE\s+\w+\s*(?:\(|AS\b)", re.IGNORECASE),
    "a cursor WITH HOLD": re.compile(r"\bWITH\s+HOLD\b", re.IGNORECASE),
    "server-side binding (prepares statements)": re.compile(r"server_side_binding"),
}


def offending_lines() -> list[str]:
    found = []
    for folder in CODE:
        for path in sorted(folder.rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if line.lstrip().startswith("#"):
                    continue
                for why, rule in RULES.items():
                    if rule.search(line):
                        found.append(f"{path.relative_to(ROOT)}:{number}: {why}: {line.strip()}")
    return found


def test_nothing_outlives_a_transaction_on_a_connection():
    assert offending_lines() == []


def test_the_rules_see_what_they_forbid(tmp_path):
    """Each rule catches the statement it is for (and not SET LOCAL or an UPDATE's SET)."""
    caught = [
        "SET statement_timeout = 500",
        "SELECT set_config('work_mem', '64MB', false)",
        "SELECT pg_try_advisory_lock(42)",
        "LISTEN jobs",
        "PREPARE fetch_one AS SELECT 1",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "SET TIME ZONE 'UTC'",
        "cursor.execute('SET jit = off')",
    ]
    allowed = [
        "SET LOCAL statement_timeout = 500",
        "SELECT set_config('statement_timeout', %s, true)",
        "SELECT pg_try_advisory_xact_lock(42)",
        "UPDATE alerts SET last_value = 1",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());",
    ]
    assert all(any(r.search(text) for r in RULES.values()) for text in caught)
    assert not any(r.search(text) for r in RULES.values() for text in allowed)


def test_the_pooling_setting_turns_server_side_cursors_off():
    """DATABASE_TRANSACTION_POOLING=true, as a process of the deployment reads it."""
    read = (
        "import django; django.setup(); from django.conf import settings; "
        "db = settings.DATABASES['default']; "
        "print(db.get('DISABLE_SERVER_SIDE_CURSORS'), db['OPTIONS'].get('server_side_binding'))"
    )
    answers = {}
    for value in ("true", "false"):
        env = {**os.environ, "DATABASE_TRANSACTION_POOLING": value}
        done = subprocess.run(
            [sys.executable, "-c", read], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        answers[value] = done.stdout.split()[-2:]
    assert answers == {"true": ["True", "None"], "false": ["None", "None"]}
