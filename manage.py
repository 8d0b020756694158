#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

A setting that is missing or wrong ends the command with one line saying
what to set (exit status 1), never a traceback.
"""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"{os.path.basename(sys.argv[0])}: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
