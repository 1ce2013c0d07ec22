from apps.core.api import selector_urls

from . import selectors
from . import serializers as io

TAGS = ["usage"]

# The reads: route, selector, query, answer, whether a list, summary.
READS = [
    ("top-users", selectors.top_users, io.TopUsersQuery, io.TopUserOut, True,
     "The most active users (events, activity and AI requests), busiest first"),
    ("popular-scenarios", selectors.popular_scenarios, io.PopularScenariosQuery,
     io.ScenarioOut, True, "The most started scenarios, with their completion rate"),
    ("users/active", selectors.active_users, io.ActiveUsersQuery, io.ActiveUsersOut, False,
     "Daily, weekly and monthly active users, with their series"),
    ("users/retention", selectors.retention, io.RetentionQuery, io.RetentionOut, False,
     "Weekly retention cohorts: first-seen week, size, share seen again each week"),
]  # fmt: skip

urls = selector_urls(READS, tags=TAGS, name_prefix="usage")
