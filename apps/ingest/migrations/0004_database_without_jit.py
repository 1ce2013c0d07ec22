"""JIT compilation off for this database (its default for every new connection, through a
pooler too: a startup option would not pass PgBouncer). A statement over partitioned
tables has hundreds of plan nodes and a cost estimate past `jit_above_cost`, so
PostgreSQL compiled it: the AI metrics' minute roll over 17 weekly partitions of AI usage
and 97 daily ones of metric points spent 12.7 s compiling 2,204 functions to run 12 ms.
Needs the database's owner; another role gets a warning naming the command to run."""

from django.db import migrations

JIT_OFF = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'JIT left on: run ALTER DATABASE % SET jit = off as its owner '
        '(docs/scaling.md)', quote_ident(current_database());
END
$$;
"""

JIT_DEFAULT = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET jit', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("ingest", "0003_dedupe_keys")]

    operations = [migrations.RunSQL(JIT_OFF, JIT_DEFAULT)]
