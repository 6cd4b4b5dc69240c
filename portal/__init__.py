"""Open Bids web portal: `create_app(config)` builds the Flask application."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from config import CONFIGS, DEV_SECRET_KEY, Config, config_from_env

BLUEPRINTS = (
    ("portal.main", None),
    ("portal.auth", None),
    ("portal.orgs", "/orgs"),
    ("portal.bids", "/bids"),
    ("portal.search", None),
    ("portal.overlaps", None),
    ("portal.pools", "/pools"),
    ("portal.insights", None),
    ("portal.network", None),
    ("portal.api", "/api/v1"),
    ("portal.feeds", None),
)


def create_app(config: type[Config] | Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the app from a config class, instance or mapping (environment-driven by default)."""
    app = Flask(__name__, instance_relative_config=False)
    load_config(app, config)
    prepare_folders(app)
    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_commands(app)
    register_operations(app)
    return app


def load_config(app: Flask, config: Any) -> None:
    if config is None:
        app.config.from_object(config_from_env()())
    elif isinstance(config, Mapping):
        # A mapping overrides the class it names by ENV_NAME (tests pass ENV_NAME="test").
        base = CONFIGS[config["ENV_NAME"]] if "ENV_NAME" in config else config_from_env()
        app.config.from_object(base())
        app.config.update(config)
    else:
        app.config.from_object(config() if isinstance(config, type) else config)
    if "MAX_CONTENT_LENGTH" not in app.config or app.config["MAX_CONTENT_LENGTH"] is None:
        app.config["MAX_CONTENT_LENGTH"] = (int(app.config["MAX_UPLOAD_MB"]) + 1) * 1024 * 1024
    if app.config.get("ENV_NAME") == "production" and app.config["SECRET_KEY"] in (
        None,
        "",
        DEV_SECRET_KEY,
    ):
        raise RuntimeError("Set SECRET_KEY: production refuses to start with the default key.")


def prepare_folders(app: Flask) -> None:
    for key in ("INSTANCE_DIR", "UPLOAD_DIR", "SEARCH_INDEX_DIR", "SIMILARITY_DIR"):
        Path(app.config[key]).mkdir(parents=True, exist_ok=True)


def register_extensions(app: Flask) -> None:
    from portal.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).resolve().parent.parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    import bids
    import search_index

    bids.init_app(app)
    search_index.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        from bids.models import User

        return db.session.get(User, int(user_id))


def register_url_converters(app: Flask) -> None:
    from portal.converters import init_app

    init_app(app)


def register_blueprints(app: Flask) -> None:
    import importlib

    for module_name, prefix in BLUEPRINTS:
        module = importlib.import_module(module_name)
        app.register_blueprint(module.bp, url_prefix=prefix)


def register_errorhandlers(app: Flask) -> None:
    from portal.errors import init_app

    init_app(app)


def register_security_headers(app: Flask) -> None:
    csp = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )

    @app.after_request
    def set_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"
        )
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def register_template_helpers(app: Flask) -> None:
    from portal import links
    from portal.templating import init_app

    init_app(app)
    links.init_app(app)


def register_operations(app: Flask) -> None:
    from portal.ops import init_app

    init_app(app)


def register_commands(app: Flask) -> None:
    from portal.commands import init_app

    init_app(app)
