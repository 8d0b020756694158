"""The README's commands as a person types them after ``make run``: no DEBUG, no SECRET_KEY in the shell."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.e2e


def manage(*args: str, var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in a shell that has only PATH and HOME (and ``env``), on the embedded default."""
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""),
             "VOICEBOT_VAR_DIR": str(var_dir), **env}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=clean,
                          capture_output=True, text=True, timeout=120)


def test_the_staff_commands_of_the_readme_work_as_written(tmp_path: Path) -> None:
    # make run migrates with DEBUG=1; the staff commands then run in a plain shell.
    assert manage("migrate", "--noinput", "-v0", var_dir=tmp_path, DEBUG="1").returncode == 0

    created = manage("createsuperuser", "--noinput", "--username", "staff", "--email", "staff@example.org",
                     var_dir=tmp_path, DJANGO_SUPERUSER_PASSWORD="a long password")
    report = manage("error_report", "--since", "24h", var_dir=tmp_path)
    failing = manage("error_report", "--since", "1h", "--fail-on", "high", "--format", "json", var_dir=tmp_path)
    prune = manage("prune_errors", "--older-than", "30d", "--dry-run", var_dir=tmp_path)

    for result in (created, report, failing, prune):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert "Superuser created successfully." in created.stdout
    assert "No errors." in report.stdout


def test_serving_without_a_secret_key_says_what_to_set_in_one_line(tmp_path: Path) -> None:
    result = manage("serve", "--port", "1", var_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: SECRET_KEY is not set. Set SECRET_KEY to a long random string")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "said"),
    [({"DEBUG": "maybe"}, "manage.py: DEBUG must be one of 1/0, true/false, yes/no, on/off; got 'maybe'."),
     ({"VOICEBOT_REDIS_LAYER": "files"}, "manage.py: VOICEBOT_REDIS_LAYER must be queues or pubsub; got 'files'.")],
    ids=["debug", "redis-layer"],
)
def test_a_wrong_setting_is_one_line_saying_what_to_set(tmp_path: Path, env: dict[str, str], said: str) -> None:
    result = manage("error_report", var_dir=tmp_path, **env)

    assert result.returncode == 1
    assert result.stderr == said + "\n"
