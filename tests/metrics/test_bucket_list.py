"""Many buckets serialize to the same JSON the bucket serializer gives one at a time."""

from datetime import UTC, datetime, timedelta, timezone

from rest_framework.renderers import JSONRenderer

from apps.metrics.serializers import Bucket


def test_a_bucket_list_is_each_bucket_as_the_serializer_shows_it():
    start = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    buckets = [
        {"start": start, "count": 3, "value": 1.5},
        {"start": start + timedelta(minutes=5), "count": 0, "value": None},
        {"start": start + timedelta(minutes=10, microseconds=250), "count": 2, "value": 7},
        {"start": datetime(2026, 12, 6, 11, 0, tzinfo=timezone(timedelta(hours=2))),
         "count": 1, "value": 2.0},
    ]  # fmt: skip

    many = Bucket(buckets, many=True).data
    one_by_one = [Bucket(bucket).data for bucket in buckets]

    assert JSONRenderer().render(many) == JSONRenderer().render(one_by_one)
    assert many[0]["start"] == "2026-12-06T09:00:00Z" and many[3]["start"].endswith("Z")
    assert many[2]["value"] == 7 and isinstance(many[2]["value"], int)
