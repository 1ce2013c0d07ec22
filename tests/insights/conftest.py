import pytest


@pytest.fixture(autouse=True)
def _tracking_in_the_test_transaction(settings):
    # Threads read on connections of their own, which cannot see a test's uncommitted
    # rows; test_threads.py tracks with them, on committed data.
    settings.INSIGHTS_TRACKING_THREADS = 1
