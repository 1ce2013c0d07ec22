"""free_port() only finds a port free for a moment: a test running beside this one can
listen on it before gunicorn binds it, and every request then went to that other
process (tests/serving/test_nginx.py once saw all its writes on one host). The stack's
web moves to another port instead."""

import socket

import pytest

from bench.stack import health_ok
from tests.live import Stack

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_the_web_moves_to_another_port_when_its_own_was_taken(tmp_path):
    stack = Stack(tmp_path)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", stack.web_port))
    squatter.listen()
    taken = stack.web_port
    try:
        stack.start_redis()
        stack.start_web(workers=1)
        assert stack.web_port != taken
        assert health_ok(stack.web_port)
    finally:
        squatter.close()
        stack.close()
