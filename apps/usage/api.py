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
]
