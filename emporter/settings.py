"""Emporter settings: one module, driven by environment variables.

The defaults need nothing installed: SQLite in ``data/``, a local mail sink, DEBUG on
for a developer machine. Production sets ``DATABASE_URL``, ``SECRET_KEY``,
``DEBUG=0`` and ``ALLOWED_HOSTS`` (see docs/deploy.md).
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMPORTER_DATA_DIR", BASE_DIR / "data"))
# Made if missing: SQLite cannot create its file in a folder that does not exist, and
# says only "unable to open database file".
DATA_DIR.mkdir(parents=True, exist_ok=True)


def envbool(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str, *, least: int | None = None) -> int:
    text = os.environ.get(name, default)
    try:
        value = int(text)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {text!r}") from None
    if least is not None and value < least:
        raise ImproperlyConfigured(f"{name} must be at least {least}, not {value}")
    return value


def envlist(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


DEBUG = envbool("DEBUG", "1")
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret" if DEBUG else "")
# Keys the pseudonym the statistics count people by (holds.models.patron_pseudonym). The
# SECRET_KEY by default; set it to the current SECRET_KEY before rotating that one, or
# every patron counts twice across the rotation.
PSEUDONYM_KEY = os.environ.get("PSEUDONYM_KEY", "") or SECRET_KEY
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
# A stale form's page says what to do, and links back to where it was (emporter.http).
CSRF_FAILURE_VIEW = "emporter.http.csrf_failure"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "testserver"}
# Fail closed: the defaults suit a developer's machine only. Served to others with DEBUG
# still on, every error page would show settings and PINs; with DEBUG off and no key,
# every request would fail and the pseudonyms be guessable.
if DEBUG and not set(ALLOWED_HOSTS) <= LOCAL_HOSTS and not envbool("DEBUG_ON_PURPOSE"):
    raise ImproperlyConfigured(
        f"DEBUG is on while serving {', '.join(ALLOWED_HOSTS)}: set DEBUG=0 (docs/deploy.md)."
    )
# A reverse proxy sends Host: 127.0.0.1 by default: the hosts alone do not tell a
# developer's machine from a server. These settings only a server has.
SERVER_ONLY = [name for name in ("HTTPS", "BEHIND_HTTPS_PROXY") if envbool(name)] + [
    name for name in ("TRUSTED_PROXIES", "CSRF_TRUSTED_ORIGINS") if envlist(name)
]
if DEBUG and SERVER_ONLY and not envbool("DEBUG_ON_PURPOSE"):
    raise ImproperlyConfigured(
        f"DEBUG is on with {', '.join(SERVER_ONLY)} set: set DEBUG=0 (docs/deploy.md)."
    )
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is not set (docs/deploy.md).")

# HTTPS, as the production set-up serves it (docs/deploy.md): cookies only over HTTPS,
# the scheme as the reverse proxy says it, HSTS when the operator opts in.
# On by default in production (DEBUG off): a session cookie sent over plain HTTP can be
# read on the library's Wi-Fi. HTTPS=0 for an intranet served without TLS.
HTTPS = envbool("HTTPS", "0" if DEBUG else "1")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
BEHIND_HTTPS_PROXY = envbool("BEHIND_HTTPS_PROXY")
if BEHIND_HTTPS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The reverse proxies (addresses or networks) whose X-Forwarded-For is believed: the
# sign-in locks count failures per client address (patrons.backends.client_address).
try:
    TRUSTED_PROXIES = [ipaddress.ip_network(v, strict=False) for v in envlist("TRUSTED_PROXIES")]
except ValueError as error:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {error}") from None
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0")
# Library computers are shared: a session ends with the browser, and after a working
# day at most (its age counts from its last change: a basket, a scan).
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(12 * 3600))

INSTALLED_APPS = [
    "emporter.admin_site.EmporterAdminConfig",  # Django's admin, closed to card accounts
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "emporter.admin_site.TasksConfig",  # django_tasks_db, named in French too
    "ninja",
    "emporter.network",
    "emporter.catalogue",
    "emporter.patrons",
    "emporter.holds",
    "emporter.phonedesk",
    "emporter.picking",
    "emporter.notices",
    "emporter.curbside",
    "emporter.desk",
    "emporter.stats",
    "emporter.discovery",
    "emporter.imports",
    "emporter.privacy",
    "emporter.demo",
    "emporter.jobs",
    "emporter.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "emporter.http.PrivatePagesMiddleware",
]

# Scripts only from our own files (none is inline): an injected <script> would not run.
# Inline styles stay allowed: a selection's colour is a style attribute.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Uploads (the imports page, covers): small ones in memory, the rest on disk up to the
# cap, past which they are dropped as they arrive (emporter.http.CappedUploadHandler).
MAX_UPLOAD_BYTES = envint("MAX_UPLOAD_MB", "200") * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "emporter.http.CappedUploadHandler",
]

ROOT_URLCONF = "emporter.urls"
WSGI_APPLICATION = "emporter.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "emporter" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["emporter.dates"],  # |longdate: "mardi 1er décembre"
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "emporter.patrons.context_processors.staff_menu",
            ],
        },
    },
]

# Each process's own memory: what is cached here is cheap to compute again and may be a
# few minutes old ("more like this" of a record, whether card numbers are all digits).
# Django's default holds 300 entries: busy record pages pushed the rest out.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": envint("CACHE_MAX_ENTRIES", "20000")},
    }
}

# SQLite when nothing is said; DATABASE_URL=postgres://… switches to PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'emporter.sqlite3'}",
        conn_max_age=envint("DB_CONN_MAX_AGE", "0"),
        # A connection kept open (DB_CONN_MAX_AGE) is checked before a request reuses it:
        # after a PostgreSQL restart or failover, each thread's first page failed (500).
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout makes a
    # writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # JIT compilation costs ~300 ms on broad full-text searches and saves nothing on
    # the short queries this application makes.
    options = "-c jit=off"
    # A backstop for the web processes (set in their environment only: imports,
    # migrations and the workers' sweeps may rightly run longer): a statement slower than
    # this is cancelled, rather than going on after the page gave up (0: none).
    if timeout := envint("DB_STATEMENT_TIMEOUT_MS", "0", least=0):
        options += f" -c statement_timeout={timeout}"
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = options

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Staff passwords (patrons have PINs, checked by their own rules): long, not a common
# password, not all digits, not the user's name.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
# English dates as written here, day first (emporter/formats/en/formats.py).
FORMAT_MODULE_PATH = ["emporter.formats"]
LOCALE_PATHS = [BASE_DIR / "emporter" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# The project-wide stylesheet lives beside the templates, outside any app.
STATICFILES_DIRS = [BASE_DIR / "emporter" / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_ROOT.mkdir(exist_ok=True)  # backed up nightly (docs/deploy.md) even before any upload
# In production, static files are served under names carrying a hash of their content
# (picking.a1b2c3.js), so a release's pages get its own scripts and styles: with plain
# names, a copy keeping its files' dates (tar, rsync -a) left collectstatic skipping the
# new ones, and the processes still running between collectstatic and their restart
# sent the new files cut to the old sizes. A developer's DEBUG pages use plain names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Patrons' PINs are hashed with Django's PBKDF2 at far fewer rounds than staff passwords
# (emporter/patrons/pins.py: a second of CPU per card signing in would stall the site).
PIN_HASH_ROUNDS = envint("PIN_HASH_ROUNDS", "50000", least=1000)

# One backend for every door, with the lock-outs (emporter/patrons/backends.py).
AUTHENTICATION_BACKENDS = ["emporter.patrons.backends.SignInBackend"]
LOGIN_URL = "patrons:login"
# Patrons land on the home page; staff on their first screen (StaffLoginView).
LOGIN_REDIRECT_URL = "home"
# Links in emails point here (no request to guess it from when the worker sends).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "emporter.notices.sms.ConsoleProvider")

# Seconds a closed library waits before its requests are moved and its patrons told
# (network.models.closed_for_a_while; its pickup times stand, in case it reopens in
# time): a closing undone within minutes (the wrong row clicked) has done nothing.
CLOSING_GRACE = envint("CLOSING_GRACE", "600")

TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        # "imports" has a worker of its own (bin/serve, docs/deploy.md): a file of 100,000
        # patrons takes hours, and must not hold up the morning lists or a reopening.
        "QUEUES": ["default", "imports"],
    }
}

# Django 6.1 mailers. With EMAIL_HOST set, real SMTP; otherwise a file sink under
# data/mail that staff can browse (the demo shows its emails without a mail server).
if os.environ.get("EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ["EMAIL_HOST"],
                "port": envint("EMAIL_PORT", "25"),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": envbool("EMAIL_USE_TLS"),
                "use_ssl": envbool("EMAIL_USE_SSL"),
                "timeout": envint("EMAIL_TIMEOUT", "20"),
            },
        }
    }
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(DATA_DIR / "mail")},
        }
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Emporter <emporter@localhost>")
# The envelope sender (MAIL FROM), where bounces go: a mailbox someone reads, when
# DEFAULT_FROM_EMAIL (still the From header) is a no-reply address. Empty: that address.
EMAIL_BOUNCE_ADDRESS = os.environ.get("EMAIL_BOUNCE_ADDRESS", "")
# How long a sent or failed notice (who was told what) is kept after its last attempt;
# at least 8 days: staff answering a patron about last week's emails must still find
# them (notices.retention).
NOTICE_RETENTION_DAYS = envint("NOTICE_RETENTION_DAYS", "30")
# How long a request that became no loan (cancelled, expired, not found) and a closed
# surprise bag keep their patron: 8 to 120 days (privacy.services.forget_closed).
REQUEST_HISTORY_DAYS = envint("REQUEST_HISTORY_DAYS", "30")
# Days after its card expired that a patron with nothing under way is erased (0: never;
# privacy.services.erase_expired_cards, daily).
EXPIRED_CARDS_ERASED_AFTER_DAYS = envint("EXPIRED_CARDS_ERASED_AFTER_DAYS", "0", least=0)
# Who answers for the patrons' data, and where they write to exercise their rights: the
# privacy page (/privacy/) names them.
PRIVACY_CONTROLLER = os.environ.get("PRIVACY_CONTROLLER", "")
PRIVACY_CONTACT = os.environ.get("PRIVACY_CONTACT", "")

# Each line says when (with its offset: the autumn's repeated hour is not ambiguous), how
# grave and from where: a worker's or the scheduler's standard error is read outside
# journald too.
LOG_DATEFMT = "%Y-%m-%dT%H:%M:%S%z"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s", "datefmt": LOG_DATEFMT},
        "audit": {"format": "%(asctime)s %(message)s", "datefmt": LOG_DATEFMT},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # 4xx answers (a refused request, a wrong PIN) are the service working, not errors.
    "loggers": {
        # Through the root's handler only: Django's own console handler (DEBUG only) on
        # "django" printed every line a second time, bare, under `make run`.
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        # The task worker logs every state change of every task at INFO.
        "django_tasks_db": {"level": "WARNING"},
        "django.tasks": {"level": "WARNING"},
    },
}
# Who looked at which patron (emporter.audit): to a file of its own when AUDIT_LOG_FILE
# names one, instead of mixed into the process's standard error. Every web and task
# process appends to it; the system's logrotate turns it over (a handler rotating it
# from each process would clobber the others' files), reopened when moved.
if AUDIT_LOG_FILE := os.environ.get("AUDIT_LOG_FILE", ""):
    LOGGING["handlers"]["audit"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": AUDIT_LOG_FILE,
        "formatter": "audit",
    }
    LOGGING["loggers"]["emporter.audit"] = {"handlers": ["audit"], "level": "INFO", "propagate": False}
