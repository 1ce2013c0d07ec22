"""The fast response serializer bases answer exactly what DRF's own would."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

from rest_framework import serializers

from apps.core.serializers import RowSerializer, UtcDateTimeField

MOMENTS = [
    datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
    datetime(2026, 11, 24, 9, 30, 1, 250_000, tzinfo=UTC),
    datetime(2026, 11, 24, 11, 30, 1, 7, tzinfo=timezone(timedelta(hours=2))),
]


def test_utc_datetime_field_writes_what_datetime_field_writes():
    for moment in MOMENTS:
        assert UtcDateTimeField().to_representation(moment) == (
            serializers.DateTimeField().to_representation(moment)
        )
    assert UtcDateTimeField().to_representation(MOMENTS[2]) == "2026-11-24T09:30:01.000007Z"


class Plain(serializers.Serializer):
    event_id = serializers.UUIDField()
    at = serializers.DateTimeField()
    state = serializers.CharField(allow_null=True)
    extra = serializers.DictField()
    count = serializers.IntegerField()


class Fast(RowSerializer):
    event_id = serializers.UUIDField()
    at = UtcDateTimeField()
    state = serializers.CharField(allow_null=True)
    extra = serializers.DictField()
    count = serializers.IntegerField()


def test_row_serializer_answers_what_a_plain_serializer_answers():
    rows = [
        {
            "event_id": UUID(int=i),
            "at": MOMENTS[i % 3],
            "state": None if i == 1 else f"s{i}",
            "extra": {"k": i, "nested": {"a": [1, 2]}},
            "count": i,
            "not_declared": "left out",
        }
        for i in range(5)
    ]

    fast = Fast(rows, many=True).data

    assert fast == Plain(rows, many=True).data
    assert fast[1]["state"] is None and "not_declared" not in fast[0]
