"""CHUNGUS settings: one module, every value from a typed environment reader."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from chungus.lib.env import envbool, envfloat, envint, envpath, envstr
from chungus.lib.private_files import private_home, secret_key

BASE_DIR = Path(__file__).resolve().parent

# 0700, and umask 077 for this process and its engines and jobs (chungus.lib.private_files).
CHUNGUS_HOME = private_home(envpath("CHUNGUS_HOME", ".chungus"))
# CHUNGUS_SECRET_KEY, else a random key kept in CHUNGUS_HOME (0600 from the start).
SECRET_KEY = envstr("CHUNGUS_SECRET_KEY", "") or secret_key(CHUNGUS_HOME / "secret_key")
DEBUG = envbool("CHUNGUS_DEBUG", False)
ALLOWED_HOSTS = envstr("CHUNGUS_ALLOWED_HOSTS", "*").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "chungus.core",
    "chungus.accounts",
    "chungus.fleet",
    "chungus.fleet.jobs",
    "chungus.fleet.fah",
    "chungus.batches",
    "chungus.telemetry",
    "chungus.dashboard",
    "chungus.api",
    "chungus.runtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chungus.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = envstr("DATABASE_URL", "")
if DATABASE_URL:
    # Health checks: a kept connection is pinged before reuse, so one that a PostgreSQL
    # restart broke is replaced instead of failing (see chungus.lib.dbthreads).
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(CHUNGUS_HOME / "chungus.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not memory, so tests with several threads share one test database.
            "TEST": {"NAME": str(CHUNGUS_HOME / "test.sqlite3")},
            # Kept open between a thread's units of work: the request log's writer would
            # otherwise open the file and run the PRAGMAs again for every flush.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Every password set through Django's forms and `changepassword` is checked; users made
# in code (create_user, test fixtures) are not.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
# Static files are served by the ASGI app itself (Starlette's StaticFiles, from the
# apps' static folders): no collectstatic step, and no CDN at run time.
STATIC_URL = "/static/"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/"
CSRF_COOKIE_HTTPONLY = False  # the dashboard's scripts send it back in X-CSRFToken
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Served over TLS (usually a proxy in front that terminates it and sets X-Forwarded-Proto:
# set CHUNGUS_TLS only then, since the header is trusted): cookies go over https only,
# and browsers are told by HSTS to use https for CHUNGUS_HSTS_SECONDS.
CHUNGUS_TLS = envbool("CHUNGUS_TLS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = CHUNGUS_TLS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if CHUNGUS_TLS else None
SECURE_HSTS_SECONDS = envint("CHUNGUS_HSTS_SECONDS", 31_536_000 if CHUNGUS_TLS else 0, minimum=0)

# Sign-in throttling (dashboard and admin): after this many failures in the window, 429.
CHUNGUS_LOGIN_FAILURES_PER_USER = envint("CHUNGUS_LOGIN_FAILURES_PER_USER", 5, minimum=1)
CHUNGUS_LOGIN_FAILURES_PER_IP = envint("CHUNGUS_LOGIN_FAILURES_PER_IP", 20, minimum=1)
CHUNGUS_LOGIN_WINDOW_SECONDS = envint("CHUNGUS_LOGIN_WINDOW_SECONDS", 900, minimum=1)
# The playground's key expires with the session, and after this long at most.
CHUNGUS_PLAYGROUND_KEY_SECONDS = envint("CHUNGUS_PLAYGROUND_KEY_SECONDS", 8 * 3600, minimum=60)

# Request-log retention: raw rows older than this are pruned; rollups are kept.
CHUNGUS_LOG_RETENTION_DAYS = envint("CHUNGUS_LOG_RETENTION_DAYS", 30, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"chungus": {"handlers": ["console"], "level": envstr("CHUNGUS_LOG_LEVEL", "INFO")}},
}

# Data plane.
CHUNGUS_MAX_BODY_BYTES = envint("CHUNGUS_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
CHUNGUS_REFRESH_SECONDS = envfloat("CHUNGUS_REFRESH_SECONDS", 1.0, minimum=0.05)
CHUNGUS_UPSTREAM_CONNECT_TIMEOUT = envfloat("CHUNGUS_UPSTREAM_CONNECT_TIMEOUT", 5.0, minimum=0.1)
CHUNGUS_UPSTREAM_READ_TIMEOUT = envfloat("CHUNGUS_UPSTREAM_READ_TIMEOUT", 600.0, minimum=1.0)
CHUNGUS_LOG_PROMPTS = envbool("CHUNGUS_LOG_PROMPTS", False)
CHUNGUS_LOG_FLUSH_SECONDS = envfloat("CHUNGUS_LOG_FLUSH_SECONDS", 1.0, minimum=0.05)
# Base values: busy buffers write batches up to 8x this (chungus.telemetry.requestlog).
CHUNGUS_LOG_BATCH_SIZE = envint("CHUNGUS_LOG_BATCH_SIZE", 500, minimum=1)
REDIS_URL = envstr("REDIS_URL", "")

# Request bodies and the HTTP server. A body over its limit is answered 413 before it is
# read (chungus.lib.body_limit): /v1 by CHUNGUS_MAX_BODY_BYTES, the job upload
# (POST /api/jobs/, a structure file of up to 64 MB) by CHUNGUS_MAX_UPLOAD_BYTES, every
# other page and API call by CHUNGUS_MAX_PAGE_BODY_BYTES (also Django's own limit).
CHUNGUS_MAX_PAGE_BODY_BYTES = envint("CHUNGUS_MAX_PAGE_BODY_BYTES", 2_621_440, minimum=1024)
CHUNGUS_MAX_UPLOAD_BYTES = envint("CHUNGUS_MAX_UPLOAD_BYTES", 65 * 1024 * 1024, minimum=1024)
# Files of /v1/files (batch inputs and outputs): a directory every CHUNGUS process on one
# database must share. A file uploaded there is streamed to disk as it arrives.
CHUNGUS_FILES_DIR = envpath("CHUNGUS_FILES_DIR", str(CHUNGUS_HOME / "files"))
CHUNGUS_MAX_FILE_BYTES = envint("CHUNGUS_MAX_FILE_BYTES", 200 * 1024 * 1024, minimum=1024)

# Batches (chungus.batches): lines per batch (OpenAI's limit), lines each process runs at
# once, how long a claimed line stays its process's without a renewal, and how often an
# idle process looks for lines.
CHUNGUS_BATCH_MAX_LINES = envint("CHUNGUS_BATCH_MAX_LINES", 50_000, minimum=1)
CHUNGUS_BATCH_CONCURRENCY = envint("CHUNGUS_BATCH_CONCURRENCY", 8, minimum=1)
CHUNGUS_BATCH_LEASE_SECONDS = envfloat("CHUNGUS_BATCH_LEASE_SECONDS", 120.0, minimum=1.0)
CHUNGUS_BATCH_INTERVAL = envfloat("CHUNGUS_BATCH_INTERVAL", 1.0, minimum=0.05)
DATA_UPLOAD_MAX_MEMORY_SIZE = CHUNGUS_MAX_PAGE_BODY_BYTES
# uvicorn: connections and requests at once before it answers 503 (streams hold theirs).
CHUNGUS_LIMIT_CONCURRENCY = envint("CHUNGUS_LIMIT_CONCURRENCY", 1024, minimum=1)
# uvicorn: seconds an idle kept-alive connection stays open. Request heads (request line and
# headers): the most seconds one may take to arrive after the connection or the last
# response before the connection is closed, and the largest (431 past it); see
# chungus.lib.request_heads.
CHUNGUS_KEEP_ALIVE_SECONDS = envint("CHUNGUS_KEEP_ALIVE_SECONDS", 5, minimum=1)
CHUNGUS_HEADER_TIMEOUT_SECONDS = envfloat("CHUNGUS_HEADER_TIMEOUT_SECONDS", 10.0, minimum=0.1)
CHUNGUS_MAX_HEADER_BYTES = envint("CHUNGUS_MAX_HEADER_BYTES", 16 * 1024, minimum=1024)

# Fleet routing: health checks, failover, admission queues.
CHUNGUS_HEALTH_INTERVAL = envfloat("CHUNGUS_HEALTH_INTERVAL", 3.0, minimum=0.1)
CHUNGUS_HEALTH_TIMEOUT = envfloat("CHUNGUS_HEALTH_TIMEOUT", 2.0, minimum=0.1)
CHUNGUS_MAX_ATTEMPTS = envint("CHUNGUS_MAX_ATTEMPTS", 3, minimum=1)
CHUNGUS_FAILOVER_SECONDS = envfloat("CHUNGUS_FAILOVER_SECONDS", 30.0, minimum=0.0)
CHUNGUS_QUEUE_MAX = envint("CHUNGUS_QUEUE_MAX", 256, minimum=0)
CHUNGUS_QUEUE_TIMEOUT = envfloat("CHUNGUS_QUEUE_TIMEOUT", 30.0, minimum=0.0)
# The most of a model's queue (CHUNGUS_QUEUE_MAX places) one key may hold; 1: all of it.
CHUNGUS_QUEUE_KEY_SHARE = envfloat("CHUNGUS_QUEUE_KEY_SHARE", 0.5, minimum=0.0)
# Slots of each backend that batch and background work leaves free for interactive traffic.
CHUNGUS_BATCH_HEADROOM = envint("CHUNGUS_BATCH_HEADROOM", 1, minimum=0)

# GPU inventory: this host through NVML, plus a declared (simulated) inventory file.
CHUNGUS_INVENTORY = envstr("CHUNGUS_INVENTORY", "")
# Seconds between inventory samples for the dashboard's GPU chart; 0 turns sampling off.
CHUNGUS_INVENTORY_SAMPLE_SECONDS = envfloat("CHUNGUS_INVENTORY_SAMPLE_SECONDS", 30.0, minimum=0.0)

# Deployments: the reconciler (one process at a time holds its lease), warm-up, cold starts.
CHUNGUS_RECONCILE_SECONDS = envfloat("CHUNGUS_RECONCILE_SECONDS", 2.0, minimum=0.1)
CHUNGUS_LEASE_SECONDS = envfloat("CHUNGUS_LEASE_SECONDS", 15.0, minimum=1.0)
CHUNGUS_WARMUP_SECONDS = envfloat("CHUNGUS_WARMUP_SECONDS", 180.0, minimum=1.0)
CHUNGUS_COLD_START_SECONDS = envfloat("CHUNGUS_COLD_START_SECONDS", 120.0, minimum=0.0)
CHUNGUS_SWAP_IDLE_SECONDS = envfloat("CHUNGUS_SWAP_IDLE_SECONDS", 30.0, minimum=0.0)
# A stopping deployment leaves routing, then finishes its requests for at most this long.
CHUNGUS_DRAIN_SECONDS = envfloat("CHUNGUS_DRAIN_SECONDS", 30.0, minimum=0.0)
CHUNGUS_SLURM_PARTITION = envstr("CHUNGUS_SLURM_PARTITION", "")
CHUNGUS_SLURM_ACCOUNT = envstr("CHUNGUS_SLURM_ACCOUNT", "")
CHUNGUS_SLURM_TIME = envstr("CHUNGUS_SLURM_TIME", "")
CHUNGUS_RAY_ADDRESS = envstr("CHUNGUS_RAY_ADDRESS", "auto")
# `ollama` for Ollama deployments: a path, or a name looked up on PATH (on the node that runs it).
CHUNGUS_OLLAMA_BINARY = envstr("CHUNGUS_OLLAMA_BINARY", "ollama")
# Folding@Home on idle GPUs (chungus fah enable): the v8 client, a path or a name on PATH,
# and the seconds a preempted client has between SIGTERM and SIGKILL (short: inference
# waits for it; Folding@Home resumes the work unit from its own checkpoint).
CHUNGUS_FAH_BINARY = envstr("CHUNGUS_FAH_BINARY", "fah-client")
CHUNGUS_FAH_GRACE_SECONDS = envint("CHUNGUS_FAH_GRACE_SECONDS", 2, minimum=1)

# Default model: the packaged Gemma 3 270M on a local llama-server.
CHUNGUS_DEFAULT_MODEL = envbool("CHUNGUS_DEFAULT_MODEL", True)
CHUNGUS_DEFAULT_MODEL_NAME = envstr("CHUNGUS_DEFAULT_MODEL_NAME", "gemma3-270m")
CHUNGUS_LLAMA_THREADS = envint("CHUNGUS_LLAMA_THREADS", 1, minimum=1)
CHUNGUS_LLAMA_PARALLEL = envint("CHUNGUS_LLAMA_PARALLEL", 2, minimum=1)
CHUNGUS_LLAMA_CONTEXT = envint("CHUNGUS_LLAMA_CONTEXT", 4096, minimum=256)
CHUNGUS_MODEL_READY_TIMEOUT = envfloat("CHUNGUS_MODEL_READY_TIMEOUT", 120.0, minimum=1.0)
# vLLM and Ollama deployments may download their weights before their health check passes.
CHUNGUS_ENGINE_READY_TIMEOUT = envfloat("CHUNGUS_ENGINE_READY_TIMEOUT", 1800.0, minimum=1.0)
