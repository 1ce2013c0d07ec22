"""Request and response shapes of the product usage API; the views answer through these."""

from rest_framework import serializers

from apps.core.params import NonEmptyQuery, bounded_int
from apps.core.serializers import UtcDateTimeField

DAYS = "Only the last N days (default: all that is kept)"


class TopUsersQuery(NonEmptyQuery):
    limit = bounded_int(1, 100, 10, "Users to return")
    days = bounded_int(1, 365, None, DAYS)


class PopularScenariosQuery(NonEmptyQuery):
    limit = bounded_int(1, 50, 10, "Scenarios to return")
    days = bounded_int(1, 365, None, DAYS)


class TopUserOut(serializers.Serializer):
    user_id = serializers.CharField()
    email = serializers.CharField(
        allow_null=True, help_text="As the user's latest event or activity gave it (`email`)."
    )
    activity_count = serializers.IntegerField(help_text="Events + activity + AI requests.")
    last_active = UtcDateTimeField()


class ScenarioOut(serializers.Serializer):
    scenario_id = serializers.CharField()
    name = serializers.CharField(help_text="`scenario_name` of its latest event, else the id.")
    start_count = serializers.IntegerField()
    completion_count = serializers.IntegerField()
    completion_rate = serializers.FloatField(help_text="Percent of the starts, at most 100.")


class UsageOut(serializers.Serializer):
    total_users = serializers.IntegerField(help_text="Different users ever seen.")
    active_users_24h = serializers.IntegerField()
    total_scenarios = serializers.IntegerField(help_text="Different scenarios ever started.")
    active_conversations = serializers.IntegerField(
        help_text="Different AI conversations in the last 24 hours."
    )
    total_quizzes_taken = serializers.IntegerField(help_text="Events of USAGE_QUIZ_EVENTS.")
    total_grammar_checks = serializers.IntegerField(
        help_text="Events of USAGE_GRAMMAR_CHECK_EVENTS."
    )


class ActiveUsersQuery(NonEmptyQuery):
    days = bounded_int(1, 365, 30, "Days of the series, today included")


class RetentionQuery(NonEmptyQuery):
    weeks = bounded_int(1, 52, 8, "Weekly cohorts, this week included")


class ActiveDayOut(serializers.Serializer):
    date = serializers.DateField()
    dau = serializers.IntegerField(help_text="Users seen that day.")
    wau = serializers.IntegerField(help_text="Users seen in the 7 days ending that day.")
    mau = serializers.IntegerField(help_text="Users seen in the 30 days ending that day.")


class ActiveUsersOut(serializers.Serializer):
    dau = serializers.IntegerField(help_text="Today (UTC) so far.")
    wau = serializers.IntegerField()
    mau = serializers.IntegerField()
    series = ActiveDayOut(many=True, help_text="Oldest first, today last.")


class CohortOut(serializers.Serializer):
    cohort_start = serializers.DateField(
        help_text="The Monday of the week its users were first seen."
    )
    size = serializers.IntegerField()
    retained = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Users of the cohort seen in its first week, the next one, ... up to this week.",
    )
    retention = serializers.ListField(
        child=serializers.FloatField(), help_text="The same as shares (0-1) of the size."
    )


class RetentionOut(serializers.Serializer):
    weeks = serializers.IntegerField()
    cohorts = CohortOut(many=True, help_text="Oldest first.")
