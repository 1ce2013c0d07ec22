#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_project.settings")
    from analytics_project.env import load_settings_or_exit

    load_settings_or_exit()  # a wrong setting: its sentence alone, not a traceback
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
