"""Every setting the code reads exists in analytics_project/settings.py.

`settings.INGESTOUTBOX_STALE_SECONDS` (a one-letter slip) crashed beat's outbox sweeper
every 30 s while every test passed, because each test handed the sweeper its argument.
This reads the source as text, so a slip fails here whether or not a test reaches it.
A `getattr(settings, NAME, default)` counts too: its default hides a misspelt name as
well, so a setting's default lives in settings.py, once.
"""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("apps", "analytics_project")


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "TEXT" assignments, for getattr(settings, NAME)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _imports_django_settings(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "django.conf"
        and any(alias.name == "settings" and alias.asname is None for alias in node.names)
        for node in ast.walk(tree)
    )


def settings_read(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every setting the module reads through django.conf.settings."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if not _imports_django_settings(tree):
        return []
    strings = _module_strings(tree)
    reads = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "settings"
            and node.attr.isupper()
        ):
            reads.append((node.lineno, node.attr))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"}
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "settings"
        ):
            name_node = node.args[1]
            if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
                reads.append((node.lineno, name_node.value))
            elif isinstance(name_node, ast.Name) and name_node.id in strings:
                reads.append((node.lineno, strings[name_node.id]))
            else:
                reads.append((node.lineno, f"<computed: {ast.unparse(name_node)}>"))
    return reads


def _sources() -> list[Path]:
    return [
        path
        for folder in SOURCES
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_every_setting_the_code_reads_exists():
    missing = [
        f"{path.relative_to(ROOT)}:{line}: settings.{name}"
        for path in _sources()
        for line, name in settings_read(path)
        if not hasattr(settings, name)
    ]
    assert not missing, "settings read but never defined:\n" + "\n".join(missing)


def test_the_reader_finds_a_misspelt_setting(tmp_path):
    # The check above is only as good as the reader: it must see both spellings of a read.
    module = tmp_path / "slip.py"
    module.write_text(
        "from django.conf import settings\n"
        "NAME = 'ALSO_MISSING'\n"
        "def stale():\n"
        "    return settings.INGESTOUTBOX_STALE_SECONDS, getattr(settings, NAME, 1)\n"
    )
    reads = settings_read(module)
    assert (4, "INGESTOUTBOX_STALE_SECONDS") in reads
    assert (4, "ALSO_MISSING") in reads
    assert all(not hasattr(settings, name) for _, name in reads)
