"""Settings come from the environment or a .env file (see .env.example)."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Keys anyone can read here sign nothing outside DEBUG: without a key of its own (the
# environment, or the .env that `make install` writes for a development checkout) the app
# refuses to start instead of signing sessions with a public one.
DEVELOPMENT_SECRET_KEY = "insecure-dev-key-set-SECRET_KEY-in-production-0123456789abcdef"
PUBLIC_SECRET_KEYS = {"", DEVELOPMENT_SECRET_KEY, "change-me-to-a-long-random-string"}
SECRET_KEY = env("SECRET_KEY", default="")
if SECRET_KEY in PUBLIC_SECRET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set, or is an example value, and DEBUG is off: set SECRET_KEY "
            "in the environment (or .env) to a long random string, the same for the web "
            "server and every worker, e.g. the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'. "
            "For a development checkout, `make install` writes one into .env."
        )
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS (see README, "Running in production"). Off by default so the demo and the tests run
# over plain http on this machine; production turns them on.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
# Behind a proxy that terminates TLS: the header it sets and the value meaning https, e.g.
# HTTP_X_FORWARDED_PROTO,https. Only when the proxy always sets it (or strips a client's).
SECURE_PROXY_SSL_HEADER = (
    tuple(env.list("SECURE_PROXY_SSL_HEADER"))
    if env("SECURE_PROXY_SSL_HEADER", default="")
    else None
)

# Newest key first: values are encrypted with the first and decrypted with any.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "syncadmin.apps.SyncAdminConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the collected static files (the admin's CSS and scripts) from the app server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "syncadmin.urls"
WSGI_APPLICATION = "syncadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and a worker share the file: WAL lets readers run beside a writer,
    # IMMEDIATE takes the write lock at BEGIN (no upgrade deadlock), and the timeout waits
    # for a busy writer instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies made by collectstatic; no hashed names, so the tests and the demo
    # need no collectstatic (WhiteNoise then has browsers re-check files after 60 s).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Runs: the lease that keeps them one at a time is renewed every heartbeat and lapses after
# the TTL, so a killed run's lease frees within the TTL. A run stops by itself at the next
# record boundary once it has run for the deadline (the next run picks up where it stopped).
SYNC_LEASE_TTL_SECONDS = env.float("SYNC_LEASE_TTL_SECONDS", default=30.0)
SYNC_LEASE_HEARTBEAT_SECONDS = env.float(
    "SYNC_LEASE_HEARTBEAT_SECONDS", default=SYNC_LEASE_TTL_SECONDS / 6
)
SYNC_RUN_DEADLINE_SECONDS = env.float("SYNC_RUN_DEADLINE_SECONDS", default=12 * 3600)

# Near-real-time hooks: a record's event sync waits this long after its last event, so that
# several edits of one record in a few seconds make one sync; calls with a larger body are
# refused (a change notification is a few hundred bytes).
HOOKS_COALESCE_SECONDS = env.float("HOOKS_COALESCE_SECONDS", default=2.0)
HOOKS_MAX_BODY_BYTES = env.int("HOOKS_MAX_BODY_BYTES", default=16 * 1024)

# Queue: the ORM broker needs nothing extra; set Q_BROKER_URL=redis://... to use Redis.
Q_BROKER_URL = env("Q_BROKER_URL", default="")
_Q_TIMEOUT = env.int("Q_TIMEOUT", default=int(SYNC_RUN_DEADLINE_SECONDS) + 3600)
Q_CLUSTER = {
    "name": "syncadmin",
    "workers": env.int("Q_WORKERS", default=1),
    # A run ends itself at its deadline; the queue's timeout is only a backstop an hour after
    # it, so it never kills a long initial sync. A sync run reports its own per-account
    # failures and never needs a broker retry: retry sits above the timeout (django-q2 asks
    # for that) and failed tasks are acknowledged.
    "timeout": _Q_TIMEOUT,
    "retry": env.int("Q_RETRY", default=_Q_TIMEOUT + 3600),
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "label": "Task queue",
}
if Q_BROKER_URL.startswith("redis"):
    Q_CLUSTER["redis"] = Q_BROKER_URL
else:
    Q_CLUSTER["orm"] = "default"

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="syncadmin@localhost")
ADMINS = [("Admin", a) for a in env.list("ALERT_EMAILS", default=[])]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # At DEBUG, oauthlib and requests-oauthlib log what they sign and the signed headers.
    "loggers": {
        name: {"level": "WARNING"} for name in ("urllib3", "oauthlib", "requests_oauthlib")
    },
}
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
