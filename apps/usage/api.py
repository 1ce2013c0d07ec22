from django.urls import path

from apps.core.api import selector_view

from . import selectors
from . import serializers as io

TAGS = ["usage"]

urls = [
    path(
        "top-users",
        selector_view(
            selectors.top_users,
            query=io.TopUsersQuery,
            answer=io.TopUserOut,
            many=True,
            summary="The most active users (events, activity and AI requests), busiest first",
            tags=TAGS,
        ).as_view(),
        name="usage-top-users",
    ),
    path(
        "popular-scenarios",
        selector_view(
            selectors.popular_scenarios,
            query=io.PopularScenariosQuery,
            answer=io.ScenarioOut,
            many=True,
            summary="The most started scenarios, with their completion rate",
            tags=TAGS,
        ).as_view(),
        name="usage-popular-scenarios",
    ),
    path(
        "users/active",
        selector_view(
            selectors.active_users,
            query=io.ActiveUsersQuery,
            answer=io.ActiveUsersOut,
            summary="Daily, weekly and monthly active users, with their series",
            tags=TAGS,
        ).as_view(),
        name="usage-active-users",
    ),
    path(
        "users/retention",
        selector_view(
            selectors.retention,
            query=io.RetentionQuery,
            answer=io.RetentionOut,
            summary="Weekly retention cohorts: first-seen week, size, share seen again each week",
            tags=TAGS,
        ).as_view(),
        name="usage-retention",
    ),
]
