"""Settings for the test suite: the real settings, with test-only defaults.

The environment still decides the database and the channel layer
(DATABASE_URL, REDIS_URL), so the same suite runs on the embedded default and
on Postgres with Redis.
"""
import os
import uuid

os.environ.setdefault("SECRET_KEY", "test-" + uuid.uuid4().hex)
# A prefix of their own, so that a real Redis shared with other runs never mixes groups.
os.environ.setdefault("VOICEBOT_CHANNEL_PREFIX", "voicebot-test-" + uuid.uuid4().hex[:8])
# Tests that need the presence task start it themselves.
os.environ.setdefault("VOICEBOT_PRESENCE_ENABLED", "0")
# Errors are stored when a test flushes them: a writer thread would race the
# test database's flushes.
os.environ.setdefault("VOICEBOT_ERROR_WRITER", "manual")
# The database thread closes its connection after each call, as a server with
# VOICEBOT_DB_CONN_MAX_AGE=0 does: a connection it kept open would stop the test
# database from being dropped at the end of the run. Servers started by the
# tests (end to end, outages) keep theirs, as by default.
os.environ.setdefault("VOICEBOT_DB_CONN_MAX_AGE", "0")
# A failing test's captured log names the file and line of each record.
os.environ.setdefault("VOICEBOT_LOG_CALLER", "1")

from voicebot_site.settings import *  # noqa: E402,F401,F403

# A test database of this run's own, so that two runs at once (on one
# developer machine) never flush or drop each other's tables.
_run = f"{os.getpid()}"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-voicebot-{_run}.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_run}"}  # noqa: F405

# PBKDF2 at full strength costs ~0.3 s a lobby password here; tests that are
# about hashing itself override this back.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
