"""Sign up, sign in, sign out and the account page (organisations and API tokens)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from bids.accounts import (
    authenticate,
    change_password,
    create_api_token,
    create_user,
    revoke_api_token,
    update_display_name,
    user_tokens,
)
from bids.organisations import user_memberships
from portal.auth import bp
from portal.auth.forms import LoginForm, PasswordForm, ProfileForm, SignupForm, TokenForm
from portal.extensions import limiter
from portal.views import commit_or_errors

DUPLICATE_EMAIL = "An account with this email already exists: sign in instead."


def login_rate_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def safe_next_url(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    target = target.strip()
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in target)
    ):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(login_rate_limit, methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")) or url_for("auth.account"))
    form = SignupForm()
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next")) or ""
    if form.validate_on_submit():
        # on_conflict: another request registered the same email between our check and insert.
        with commit_or_errors(form, on_conflict={"email": DUPLICATE_EMAIL}) as saved:
            user = create_user(form.email.data, form.display_name.data, form.password.data)
        if saved:
            login_user(user)
            flash(f"Welcome to Open Bids, {user.display_name}.", "success")
            return redirect(safe_next_url(form.next.data) or url_for("auth.account"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_rate_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")) or url_for("auth.account"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next")) or ""
    status = 200
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            flash(f"Signed in as {user.display_name}.", "success")
            return redirect(safe_next_url(form.next.data) or url_for("auth.account"))
        form.form_errors.append("That email and password do not match an account.")
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        logout_user()
        flash("You are signed out.", "success")
    return redirect(url_for("main.home"))


def render_account(
    token_form: TokenForm | None = None,
    new_secret: str | None = None,
    status: int = 200,
    profile_form: ProfileForm | None = None,
    password_form: PasswordForm | None = None,
):
    response = make_response(
        render_template(
            "auth/account.html",
            memberships=user_memberships(current_user),
            tokens=user_tokens(current_user),
            token_form=token_form or TokenForm(formdata=None),
            profile_form=profile_form
            or ProfileForm(formdata=None, display_name=current_user.display_name),
            password_form=password_form or PasswordForm(formdata=None),
            new_secret=new_secret,
        ),
        status,
    )
    # A freshly created token secret must not linger in any cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account")
@login_required
def account():
    return render_account()


@bp.route("/account/profile", methods=["POST"])
@login_required
def profile():
    form = ProfileForm()
    if form.validate_on_submit():
        with commit_or_errors(form) as saved:
            update_display_name(current_user, form.display_name.data)
        if saved:
            flash("Your name is saved.", "success")
            return redirect(url_for("auth.account"))
    return render_account(profile_form=form, status=422)


@bp.route("/account/password", methods=["POST"])
@login_required
@limiter.limit(login_rate_limit, methods=["POST"])
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        with commit_or_errors(form) as saved:
            change_password(current_user, form.current_password.data, form.new_password.data)
        if saved:
            flash("Your password is changed.", "success")
            return redirect(url_for("auth.account"))
    return render_account(password_form=form, status=422)


@bp.route("/account/tokens", methods=["POST"])
@login_required
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return render_account(token_form=form, status=422)
    with commit_or_errors():
        _, secret = create_api_token(current_user, form.name.data or "")
    # Shown in this response only: neither stored nor put in the (readable) session cookie.
    return render_account(new_secret=secret, status=201)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    with commit_or_errors():
        revoke_api_token(current_user, token_id)
    flash("The token is revoked: programs using it can no longer sign in.", "success")
    return redirect(url_for("auth.account"))
