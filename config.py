"""Configuration from environment variables.

Every setting can be overridden by an environment variable of the same name;
`portal.create_app` takes one of the classes below (or a mapping for tests).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEFAULT_INSTANCE = BASE_DIR / "instance"
DEV_SECRET_KEY = "dev-only-not-secret"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Defaults shared by every environment."""

    ENV_NAME = "development"

    INSTANCE_DIR = os.environ.get("INSTANCE_DIR", str(DEFAULT_INSTANCE))
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{DEFAULT_INSTANCE / 'openbids.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # SQLite (journalled in WAL mode): how long a write waits for another writer before the
    # request is answered 503 with Retry-After (nothing changed).
    SQLITE_BUSY_TIMEOUT_S = float(os.environ.get("SQLITE_BUSY_TIMEOUT_S", "15"))
    # PostgreSQL: JIT compilation of queries (off: the site's queries are short; see
    # bids.database.tune_postgresql).
    POSTGRES_JIT = _env_bool("POSTGRES_JIT", False)
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(DEFAULT_INSTANCE / "uploads"))
    SEARCH_INDEX_DIR = os.environ.get("SEARCH_INDEX_DIR", str(DEFAULT_INSTANCE / "search-index"))
    # "whoosh" (files in SEARCH_INDEX_DIR) or "postgres" (full-text search in the database,
    # shared by every node); empty: postgres when DATABASE_URL is PostgreSQL, else whoosh.
    SEARCH_BACKEND = os.environ.get("SEARCH_BACKEND", "")
    SIMILARITY_DIR = os.environ.get("SIMILARITY_DIR", str(DEFAULT_INSTANCE / "similarity"))
    # files (SIMILARITY_DIR) or database (shared by every node; the default on PostgreSQL).
    SIMILARITY_BACKEND = os.environ.get("SIMILARITY_BACKEND", "")
    MAX_UPLOAD_MB = _env_int("MAX_UPLOAD_MB", 20)
    # PDF text extraction runs in a child process with these limits.
    PDF_EXTRACT_TIMEOUT_S = _env_int("PDF_EXTRACT_TIMEOUT_S", 20)
    PDF_EXTRACT_MEMORY_MB = _env_int("PDF_EXTRACT_MEMORY_MB", 512)
    BIDS_PER_PAGE = _env_int("BIDS_PER_PAGE", 20)
    # Search (either backend): a trailing wildcard reaches at most this many words (the most
    # frequent), and results can be paged through only this far (the export has them all; as
    # Elasticsearch's 10,000 result window).
    SEARCH_PREFIX_TERMS = _env_int("SEARCH_PREFIX_TERMS", 50)
    SEARCH_MAX_RESULT_WINDOW = _env_int("SEARCH_MAX_RESULT_WINDOW", 1000)
    # 360Giving exports: the site's registered identifier prefix, and who publishes.
    OPENBIDS_360G_PREFIX = os.environ.get("OPENBIDS_360G_PREFIX", "360G-openbids")
    OPENBIDS_PUBLISHER_NAME = os.environ.get("OPENBIDS_PUBLISHER_NAME", "Open Bids")
    OPENBIDS_PUBLISHER_IDENTIFIER = os.environ.get("OPENBIDS_PUBLISHER_IDENTIFIER", "")
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "10 per minute")
    RATELIMIT_SIMILAR = os.environ.get("RATELIMIT_SIMILAR", "30 per minute")
    # API v1: anonymous callers per address, token holders per user.
    RATELIMIT_API_ANON = os.environ.get("RATELIMIT_API_ANON", "120 per minute")
    RATELIMIT_API_TOKEN = os.environ.get("RATELIMIT_API_TOKEN", "600 per minute")
    # 429s carry Retry-After and RateLimit-* headers (draft IETF names), as clients expect.
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_HEADER_LIMIT = "RateLimit-Limit"
    RATELIMIT_HEADER_REMAINING = "RateLimit-Remaining"
    RATELIMIT_HEADER_RESET = "RateLimit-Reset"
    # Number of trusted reverse proxies in front of the app (X-Forwarded-For etc.); 0 trusts none.
    PROXY_HOPS = _env_int("PROXY_HOPS", 0)
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")  # "json" in production
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # "worker": requests only record index work and `flask --app portal worker` applies it;
    # "inline": each commit applies its own (tests, tiny sites without a worker).
    INDEX_MODE = os.environ.get("INDEX_MODE", "worker")
    # Periodic jobs the worker runs, name=interval (s, m, h, d); empty for none (use cron).
    WORKER_JOBS = os.environ.get(
        "WORKER_JOBS", "similarity-rebuild=1d,overlaps-refresh=1d,attachments-prune=1d"
    )
    # The worker merges the search index's small segments after this long with nothing to do.
    WORKER_TIDY_AFTER_S = _env_int("WORKER_TIDY_AFTER_S", 10)
    # ... and computes the insights' whole-field figures after this long with nothing to do.
    WORKER_FIGURES_AFTER_S = _env_int("WORKER_FIGURES_AFTER_S", 2)
    OUTBOX_MAX_ATTEMPTS = _env_int("OUTBOX_MAX_ATTEMPTS", 8)  # then a failing row is set aside
    OUTBOX_BACKOFF_S = _env_int("OUTBOX_BACKOFF_S", 2)  # doubled after each failure ...
    OUTBOX_BACKOFF_MAX_S = _env_int("OUTBOX_BACKOFF_MAX_S", 300)  # ... up to this
    OUTBOX_LEASE_S = _env_int("OUTBOX_LEASE_S", 300)  # a killed worker's rows return after this
    # After an import that changed at least IMPORT_REBUILD_MIN bids and at least this share
    # of the corpus, derived stores are rebuilt from the database instead of row by row.
    IMPORT_REBUILD_MIN = _env_int("IMPORT_REBUILD_MIN", 2000)
    IMPORT_REBUILD_SHARE = float(os.environ.get("IMPORT_REBUILD_SHARE", "0.5"))
    # /healthz answers 503 when the oldest pending outbox row is older than this.
    HEALTH_MAX_LAG_S = _env_int("HEALTH_MAX_LAG_S", 300)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    SEED_DEMO = _env_bool("SEED_DEMO", True)
    TESTING = False

    @property
    def MAX_CONTENT_LENGTH(self) -> int:  # noqa: N802 - Flask's name
        # A little headroom over the file limit for the multipart envelope and form fields.
        return (self.MAX_UPLOAD_MB + 1) * 1024 * 1024


class DevelopmentConfig(Config):
    DEBUG = True


class TestConfig(Config):
    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    INDEX_MODE = "inline"
    SEED_DEMO = False


class ProductionConfig(Config):
    ENV_NAME = "production"
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    """The config class named by OPENBIDS_ENV (development unless told)."""
    name = os.environ.get("OPENBIDS_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"OPENBIDS_ENV must be one of {sorted(CONFIGS)}, not {name!r}") from None
