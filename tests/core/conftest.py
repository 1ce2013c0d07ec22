import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Registered here, beside the fuzz test, so `--strict-markers` knows it.
    config.addinivalue_line(
        "markers", "fuzz: schemathesis against the live OpenAPI document (tests/core/test_fuzz.py)"
    )
