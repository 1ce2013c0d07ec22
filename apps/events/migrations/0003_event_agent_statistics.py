"""Statistics on metadata->>'agent_id': without them the planner guesses tens of
thousands of agents and sorts a day of events instead of hashing them per agent."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("events", "0002_event")]

    operations = [
        migrations.RunSQL(
            "CREATE STATISTICS IF NOT EXISTS event_agent_stats "
            "ON ((metadata ->> 'agent_id')) FROM events_event",
            reverse_sql="DROP STATISTICS IF EXISTS event_agent_stats",
        )
    ]
