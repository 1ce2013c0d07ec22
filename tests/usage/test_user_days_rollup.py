"""DAU/WAU/MAU and retention read the users seen each day from the rollup the hourly
insights run keeps (apps.usage.models.UserDay), plus the raw rows it does not cover, and
answer what the raw rows alone answer: whatever the rollup's layout, items arriving late
(after the next hourly run), and a deployment whose rollup started after its data."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.events.models import Event
from apps.insights.models import RollupChunk
from apps.insights.services import dashboard_rollup
from apps.insights.tasks import track_period
from apps.usage import selectors
from apps.usage.models import UserDay, UserDaysCovered
from apps.usage.services import user_days_forget
from tests.helpers import drain_outbox, post_json

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)  # a Friday, half past noon
API = "/api/v1/analytics"
KINDS = {
    "events": lambda user, when: {"event_type": "login", "user_id": user, "timestamp": when},
    "user-activity": lambda user, when: {
        "activity_type": "click",
        "user_id": user,
        "timestamp": when,
    },
    "log-ai-usage": lambda user, when: {"feature": "chat", "user_id": user, "timestamp": when},
}
DAYS = (1, 7, 30, 80)
WEEKS = (1, 4, 12)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def ship(client, sightings: list[tuple[str, str, datetime]]) -> None:
    """(kind, user, when) sightings, one request per kind."""
    for kind, make in KINDS.items():
        items = [make(user, when.isoformat()) for k, user, when in sightings if k == kind]
        for at in range(0, len(items), 1000):
            response = post_json(client, f"{API}/{kind}", items[at : at + 1000])
            assert response.status_code == 202 and not response.json()["rejected"]
    drain_outbox()


def sightings(seed: int, users: int, count: int, since: datetime, until: datetime) -> list:
    """`count` sightings of `users` users at random minutes of [since, until)."""
    pick = random.Random(seed)
    minutes = int((until - since).total_seconds() // 60)
    return [
        (
            pick.choice(list(KINDS)),
            f"user-{pick.randrange(users)}",
            since + timedelta(minutes=pick.randrange(minutes)),
        )
        for _ in range(count)
    ]


def answers() -> dict:
    return {
        **{("active", n): selectors.active_users(days=n) for n in DAYS},
        **{("retention", n): selectors.retention(weeks=n) for n in WEEKS},
    }


def raw_answers() -> dict:
    """What the raw rows alone answer (the rollup forgotten for the read, then restored)."""
    kept = list(UserDay.objects.values_list("day", "user_id"))
    covered = UserDaysCovered.objects.values_list("start", "end").first()
    user_days_forget()
    found = answers()
    UserDay.objects.bulk_create(UserDay(day=day, user_id=user) for day, user in kept)
    if covered:
        UserDaysCovered.objects.create(pk=1, start=covered[0], end=covered[1])
    return found


@pytest.fixture
def history(ingest_client):
    """80 days of 120 users, the last minutes included."""
    ship(ingest_client, sightings(1, 120, 2500, NOW - timedelta(days=80), NOW))
    ship(ingest_client, sightings(2, 30, 40, NOW - timedelta(minutes=25), NOW))


# When the hourly run rolled up: all but the last half hour; all but the last three and a
# half hours; a pause of two days (a chunk from the 18th 11:00 spans a midnight); and a
# deployment from before the user-days (its next run rolls them up for what it holds).
LAYOUTS = {
    "now": [NOW],
    "tail": [NOW - timedelta(hours=3)],
    "pause": [datetime(2026, 11, 18, 11, 30, tzinfo=UTC), NOW],
    "late start": [NOW - timedelta(hours=3), "forget", NOW],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.usefixtures("history")
def test_the_rollup_answers_what_the_rows_do(layout):
    raw = answers()
    for moment in LAYOUTS[layout]:
        if moment == "forget":
            user_days_forget()
        else:
            dashboard_rollup(now=moment)

    assert UserDay.objects.exists()
    assert answers() == raw


@pytest.mark.usefixtures("history")
def test_a_chunk_across_midnight_keeps_each_day_apart():
    dashboard_rollup(now=datetime(2026, 11, 18, 11, 30, tzinfo=UTC))
    dashboard_rollup(now=NOW)

    days = set(UserDay.objects.values_list("day", flat=True))
    assert {datetime(2026, 11, d, tzinfo=UTC).date() for d in (18, 19, 20)} <= days
    seen_on_19th = {
        user
        for kind, user, when in sightings(1, 120, 2500, NOW - timedelta(days=80), NOW)
        if when.date() == datetime(2026, 11, 19).date()
    }
    assert (
        set(
            UserDay.objects.filter(day=datetime(2026, 11, 19).date()).values_list(
                "user_id", flat=True
            )
        )
        == seen_on_19th
    )


@pytest.mark.usefixtures("history")
def test_items_arriving_late_count_after_the_next_hourly_run(ingest_client):
    track_period.apply(kwargs={"period_type": "hour"})  # as beat sends it
    # A phone offline for a week sends its items: new users on old days.
    late = [("events", f"late-{n}", NOW - timedelta(days=n, hours=2)) for n in range(1, 9)]
    ship(ingest_client, late)
    before = selectors.active_users(days=30)
    assert before != raw_answers()[("active", 30)]  # not rolled up yet

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        track_period.apply(kwargs={"period_type": "hour"})
        after = answers()
        assert after == raw_answers()
    assert after[("active", 30)]["mau"] == before["mau"] + 8


@pytest.mark.usefixtures("history")
def test_days_rolled_up_outlive_their_raw_rows():
    """Retention purges raw rows; the users seen on those days still count."""
    dashboard_rollup(now=NOW)
    rolled = answers()
    Event.objects.filter(timestamp__lt=NOW - timedelta(days=40)).delete()

    assert answers() == rolled
    assert raw_answers() != rolled


@pytest.mark.usefixtures("history")
def test_a_deployment_rolled_up_before_the_user_days_gets_them_at_the_next_run():
    dashboard_rollup(now=NOW - timedelta(hours=3))
    oldest = RollupChunk.objects.order_by("start").first().start
    user_days_forget()  # as a deployment upgraded from before them
    raw = answers()

    dashboard_rollup(now=NOW)

    assert UserDaysCovered.objects.values_list("start", "end").get() == (
        oldest,
        NOW.replace(minute=0),
    )
    assert answers() == raw


def test_nothing_seen_nothing_counted():
    dashboard_rollup(now=NOW)

    assert UserDaysCovered.objects.exists() and not UserDay.objects.exists()
    found = selectors.active_users(days=7)
    assert (found["dau"], found["wau"], found["mau"]) == (0, 0, 0)
    assert all(c["size"] == 0 for c in selectors.retention(weeks=4)["cohorts"])


@pytest.mark.usefixtures("history")
def test_a_rebuild_forgets_and_rolls_up_again():
    dashboard_rollup(now=NOW)
    rolled = answers()
    UserDay.objects.filter(day=datetime(2026, 11, 19).date()).delete()  # damaged
    assert answers() != rolled

    dashboard_rollup(now=NOW, rebuild=True)

    assert answers() == rolled
