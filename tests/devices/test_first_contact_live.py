"""First contact after a restart, with the real web server: its master opens the epoch."""

import pytest
import redis

from tests.live import Stack, wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_each_start_of_the_web_server_opens_a_new_epoch(tmp_path):
    stack = Stack(tmp_path)
    try:
        stack.start_redis()
        client = redis.Redis(port=stack.redis_port)
        epoch_key = stack.redis_key("smartfilter", "epoch")  # as the web server names it
        stack.start_web(workers=2)
        first = wait_until(lambda: client.get(epoch_key), timeout=30, what="epoch")

        stack.stop("web")
        stack.start_web(workers=2)
        second = wait_until(
            lambda: (value := client.get(epoch_key)) != first and value,
            timeout=30,
            what="a new epoch",
        )

        assert first and second and first != second
    finally:
        stack.close()
