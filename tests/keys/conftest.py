import pytest

from apps.keys import authentication, throttling


class FakeClock:
    """Stands in for time.monotonic, which time-machine does not move."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def throttle_prefix(monkeypatch):
    """Each test counts under its own Redis namespace (tests/conftest.py) and starts with
    empty key caches."""
    monkeypatch.setattr(throttling, "_redis_paused_until", 0.0)
    monkeypatch.setattr(throttling, "_redis_failing", False)
    authentication._valid_keys.clear()
    authentication._invalid_keys.clear()
    yield
    authentication._valid_keys.clear()
    authentication._invalid_keys.clear()


@pytest.fixture
def auth_clock(monkeypatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(authentication, "_clock", clock)
    return clock
