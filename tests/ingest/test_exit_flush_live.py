"""What a short-lived process records reaches its table at once, not after the sweeper.

The README's in-process snippet, run in `manage.py shell`, returned True and stored
nothing: the process wrote its batch at exit and ended before its publisher thread told
the broker, so the batch waited for the sweeper (which was broken). The last flush now
waits for the publisher too.
"""

import pytest

from apps.events.models import Event
from tests.helpers import new_id
from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_OUTBOX_STALE_SECONDS", "600")  # the sweeper cannot be it
    stack = Stack(tmp_path)
    stack.start_redis()
    stack.start_worker()
    yield stack
    stack.close()


def test_an_event_emitted_in_manage_py_shell_is_stored_without_the_sweeper(stack):
    event_id = new_id()
    said = stack.manage_ok(
        "shell",
        "-c",
        "from apps import analytics; "
        f"print(analytics.emit_event('shell_probe', user_id='u1', event_id='{event_id}'))",
    )
    assert said.splitlines()[-1] == "True"
    wait_until(
        lambda: Event.objects.filter(event_id=event_id).exists(),
        timeout=20,
        interval=0.2,
        what=f"the event from the shell\n{stack.tail('worker')}",
    )
