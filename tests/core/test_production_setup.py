"""Production sets up what `make run` sets up, and runs what the Procfile runs.

The production steps migrated and synced the schedules but never installed the
built-in alert rules and monitoring checks, and the docs left out the live process.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"


def make_migrate_commands() -> list[str]:
    """The manage.py commands of the Makefile's `migrate` target, in order."""
    recipe = re.search(r"^migrate:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile has no migrate target"
    return re.findall(r"manage\.py (\S.*)", recipe.group(1))


def unit_values(name: str, key: str) -> list[str]:
    return [
        line.partition("=")[2].strip()
        for line in (UNITS / name).read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


def test_the_set_up_unit_runs_what_make_migrate_runs_in_the_same_order():
    expected = make_migrate_commands()
    assert "install_alert_rules" in expected and "install_monitoring_checks" in expected

    ran = [
        re.search(r"manage\.py (\S.*)", command).group(1)
        for command in unit_values("analytics-setup.service", "ExecStart")
    ]

    assert [command for command in ran if command in expected] == expected


def test_the_processes_start_after_the_set_up():
    beat = " ".join(unit_values("analytics-beat.service", "Wants"))
    assert "analytics-setup.service" in beat  # beat (one per deployment) brings it
    for process in ("web", "worker", "beat", "live"):
        after = " ".join(unit_values(f"analytics-{process}.service", "After"))
        assert "analytics-setup.service" in after, process


def test_every_procfile_process_has_a_unit_and_a_line_in_the_docs():
    processes = [line.split(":")[0] for line in (ROOT / "Procfile").read_text().splitlines()]
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    deploy = (ROOT / "deploy" / "README.md").read_text()
    readme = (ROOT / "README.md").read_text()

    assert "live" in processes
    for process in processes:
        assert (UNITS / f"analytics-{process}.service").exists(), process
        assert f"| `{process}` |" in architecture, process
        assert f"analytics-{process}" in deploy, process
        assert f"`analytics-{process}`" in readme, process


def test_the_production_steps_install_the_built_ins():
    deploy = (ROOT / "deploy" / "README.md").read_text()
    readme = (ROOT / "README.md").read_text()

    for command in ("install_alert_rules", "install_monitoring_checks"):
        assert command in deploy, command
        assert command in readme, command
