"""Security: headers, session cookie flags, production secret key, CSRF on forms, escaping."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bids.models import Membership, Organisation, User
from config import DEV_SECRET_KEY
from portal import create_app
from tests.conftest import PASSWORD, make_config

pytestmark = pytest.mark.usefixtures("fast_passwords")

XSS_PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def csrf_token_from(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def assert_escaped(html: str, payload: str) -> None:
    assert payload not in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped.replace('"', "&#34;") in html or escaped.replace('"', "&quot;") in html


# --- headers and cookies ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/signup", "/orgs/", "/orgs/no-such-org"])
def test_security_headers_on_pages(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_scripts(client, auth, factory):
    factory.user("ann@example.org")
    pages = [client.get("/login"), client.get("/signup")]
    auth.login("ann@example.org")
    pages += [client.get("/account"), client.get("/orgs/new")]
    for response in pages:
        html = response.get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
        assert " onclick=" not in html and " onload=" not in html


def test_session_cookie_is_httponly_and_lax(client, factory):
    factory.user("ann@example.org")
    response = client.post("/login", data={"email": "ann@example.org", "password": PASSWORD})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in development and tests


def test_session_cookie_is_secure_in_production(tmp_path):
    app = create_app(
        make_config(tmp_path, ENV_NAME="production", SECRET_KEY="s" * 40, RATELIMIT_ENABLED=False)
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["WTF_CSRF_ENABLED"] is not False
    with app.app_context():
        from bids.database import db

        db.create_all()
        try:
            response = app.test_client().get("/login")  # the CSRF token starts a session
            cookie = next(
                c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")
            )
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        finally:
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.mark.parametrize("secret", [DEV_SECRET_KEY, "", None])
def test_production_refuses_the_default_secret_key(tmp_path, secret):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(make_config(tmp_path, ENV_NAME="production", SECRET_KEY=secret))


# --- CSRF -------------------------------------------------------------------------------


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_signup_without_token_is_refused(self, client, db):
        response = client.post(
            "/signup",
            data={"display_name": "Eve", "email": "eve@example.org", "password": PASSWORD},
        )
        assert response.status_code == 400
        assert "Reload the page" in response.get_data(as_text=True)
        assert count(db, User) == 0

    def test_signup_with_token_works(self, client, db):
        token = csrf_token_from(client.get("/signup").get_data(as_text=True))
        response = client.post(
            "/signup",
            data={
                "display_name": "Eve",
                "email": "eve@example.org",
                "password": PASSWORD,
                "csrf_token": token,
            },
        )
        assert response.status_code == 302 and count(db, User) == 1

    def test_login_without_token_is_refused(self, client, factory):
        factory.user("ann@example.org")
        response = client.post("/login", data={"email": "ann@example.org", "password": PASSWORD})
        assert response.status_code == 400
        assert client.get("/account").status_code == 302  # not signed in
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"email": "ann@example.org", "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302 and client.get("/account").status_code == 200

    def _sign_in(self, client, user):
        with client.session_transaction() as session:
            session["_user_id"] = str(user.id)
            session["_fresh"] = True

    def test_new_organisation_without_token_is_refused(self, client, factory, db):
        self._sign_in(client, factory.user())
        response = client.post("/orgs/new", data={"name": "Forged Org", "kind": "applicant"})
        assert response.status_code == 400
        assert count(db, Organisation) == 0
        token = csrf_token_from(client.get("/orgs/new").get_data(as_text=True))
        response = client.post(
            "/orgs/new", data={"name": "Real Org", "kind": "applicant", "csrf_token": token}
        )
        assert response.status_code == 302 and count(db, Organisation) == 1

    def test_logout_and_membership_changes_without_token_are_refused(self, client, factory, db):
        org = factory.org("Team")
        owner = factory.user(org=org)
        editor = factory.user(org=org, role="editor")
        self._sign_in(client, owner)
        assert client.post("/logout").status_code == 400
        assert client.get("/account").status_code == 200  # still signed in
        assert client.post(f"/orgs/{org.slug}/members/{editor.id}/remove").status_code == 400
        assert (
            client.post(f"/orgs/{org.slug}/invitations", data={"role": "owner"}).status_code == 400
        )
        assert client.post("/account/tokens", data={"name": "x"}).status_code == 400
        assert count(db, Membership) == 2


# --- escaping ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_display_name_is_escaped(client, db, payload):
    response = client.post(
        "/signup",
        data={"display_name": payload, "email": "x@example.org", "password": PASSWORD},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert db.session.scalar(select(User.display_name)) == payload  # kept as typed
    assert_escaped(response.get_data(as_text=True), payload)  # account page and header


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_organisation_name_and_description_are_escaped(client, auth, factory, db, payload):
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    response = client.post(
        "/orgs/new",
        data={
            "name": f"Org {payload}",
            "kind": "applicant",
            "description": payload,
            "other_regions": payload,
        },
    )
    assert response.status_code == 302
    org = db.session.scalar(select(Organisation))
    assert org.name == f"Org {payload}" and org.description == payload
    for path in (
        f"/orgs/{org.slug}",
        "/orgs/",
        "/account",
        f"/orgs/{org.slug}/members",
        f"/orgs/{org.slug}/edit",
    ):
        assert_escaped(client.get(path).get_data(as_text=True), payload)


def test_form_errors_echo_input_escaped(client):
    payload = XSS_PAYLOADS[1]
    response = client.post(
        "/signup", data={"display_name": "N", "email": payload, "password": PASSWORD}
    )
    assert response.status_code == 422
    assert_escaped(response.get_data(as_text=True), payload)


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_token_name_is_escaped(client, auth, factory, payload):
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    assert client.post("/account/tokens", data={"name": payload}).status_code == 201
    assert_escaped(client.get("/account").get_data(as_text=True), payload)
