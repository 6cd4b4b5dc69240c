"""Extension singletons, bound to the app in `create_app`."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from bids.database import db

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"

csrf = CSRFProtect()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address)

__all__ = ["csrf", "db", "limiter", "login_manager", "migrate"]
