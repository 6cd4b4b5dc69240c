"""HTTP tests of sign-up, sign-in, sign-out and the account page (API tokens)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bids.accounts import user_for_token
from bids.models import ApiToken, Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("fast_passwords")


def signup(client, email="new@example.org", name="New Person", password=PASSWORD, **query):
    return client.post(
        "/signup",
        query_string=query,
        data={"display_name": name, "email": email, "password": password},
    )


def users(db) -> int:
    return db.session.scalar(select(func.count(User.id)))


# --- sign up ----------------------------------------------------------------------------


def test_signup_page_has_labelled_fields(client):
    html = client.get("/signup").get_data(as_text=True)
    for name in ("display_name", "email", "password"):
        assert f'for="{name}"' in html and f'name="{name}"' in html
    assert html.count("<h1") == 1


def test_signup_creates_account_and_signs_in(client, db):
    response = signup(client, email="Mixed.Case@Example.ORG")
    assert response.status_code == 302 and response.location == "/account"
    user = db.session.scalar(select(User))
    assert user.email == "mixed.case@example.org"
    assert user.password_hash != PASSWORD and user.check_password(PASSWORD)
    page = client.get("/account").get_data(as_text=True)
    assert "New Person" in page and "mixed.case@example.org" in page


def test_signup_with_taken_email_in_other_case_is_refused(client, db, factory):
    factory.user("taken@example.org")
    response = signup(client, email="TAKEN@example.org")
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert users(db) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-email"}, "valid email"),
        ({"password": "short"}, "at least 10 characters"),
        ({"name": ""}, "Tell us your name"),
    ],
)
def test_signup_bad_input_explains_and_changes_nothing(client, db, data, message):
    response = signup(client, **{"email": "ok@example.org", **data})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert users(db) == 0
    assert client.get("/account").status_code == 302  # still signed out


def test_signed_in_visitor_is_sent_on_from_signup_and_login(client):
    signup(client)
    assert client.get("/signup").location == "/account"
    assert client.get("/login?next=/orgs/new").location == "/orgs/new"
    assert client.get("/signup?next=https://evil.example/").location == "/account"


def test_signup_form_carries_next(client):
    page = client.get("/signup?next=/orgs/join/tok").get_data(as_text=True)
    assert 'name="next" type="hidden" value="/orgs/join/tok"' in page
    response = client.post(
        "/signup",
        data={
            "display_name": "N",
            "email": "n@example.org",
            "password": PASSWORD,
            "next": "/orgs/join/tok",
        },
    )
    assert response.location == "/orgs/join/tok"


# --- sign in / out ----------------------------------------------------------------------


def test_login_and_logout(client, auth, factory):
    factory.user("ann@example.org", "Ann Example")
    response = auth.login("ANN@example.org")
    assert response.status_code == 302 and response.location == "/account"
    assert "Ann Example" in client.get("/account").get_data(as_text=True)
    response = auth.logout()
    assert response.status_code == 302
    assert client.get("/account").status_code == 302


def test_logout_is_post_only(client, auth, factory):
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    assert client.get("/logout").status_code == 405
    assert client.get("/account").status_code == 200  # still signed in


def test_wrong_password_is_refused(client, auth, factory):
    factory.user("ann@example.org")
    response = auth.login("ann@example.org", "not the password")
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302
    assert auth.login("nobody@example.org").status_code == 401


def test_login_with_empty_fields_explains(client):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert "Enter your email address" in response.get_data(as_text=True)


def test_protected_page_sends_to_login_and_back(client, factory):
    factory.user("ann@example.org")
    response = client.get("/account")
    assert response.status_code == 302 and response.location.startswith("/login?next=")
    login_page = client.get(response.location).get_data(as_text=True)
    assert 'value="/account"' in login_page
    response = client.post(
        "/login", data={"email": "ann@example.org", "password": PASSWORD, "next": "/orgs/new"}
    )
    assert response.location == "/orgs/new"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "http:/evil",
        "javascript:alert(1)",
        "/ok\r\nLocation: https://evil.example",
    ],
)
def test_login_never_redirects_off_site(client, factory, target):
    factory.user("ann@example.org")
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert "evil" not in page and "javascript" not in page
    response = client.post(
        "/login", data={"email": "ann@example.org", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.location == "/account"


# --- account: organisations and tokens --------------------------------------------------


def test_account_lists_organisations(client, auth, factory):
    org = factory.org("Riverside Trust")
    factory.user("ann@example.org", org=org, role=Role.EDITOR)
    auth.login("ann@example.org")
    html = client.get("/account").get_data(as_text=True)
    assert f'href="/orgs/{org.slug}"' in html and "(editor)" in html


def test_account_without_organisation_points_to_creating_one(client, auth, factory):
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    html = client.get("/account").get_data(as_text=True)
    assert "do not belong to an organisation" in html and 'href="/orgs/new"' in html


def test_token_secret_is_shown_once_and_works(client, auth, factory, db):
    user = factory.user("ann@example.org")
    auth.login("ann@example.org")
    response = client.post("/account/tokens", data={"name": "Nightly sync"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    secret = re.search(r'id="new-token-secret"[^>]*value="(ob_[^"]+)"', html).group(1)
    assert "will not be shown again" in html
    assert user_for_token(secret).id == user.id
    again = client.get("/account").get_data(as_text=True)
    assert secret not in again and "Nightly sync" in again and secret[:10] in again
    # The secret never travels in the (readable) session cookie either.
    assert secret not in (response.headers.get("Set-Cookie") or "")


def test_token_name_too_long_is_refused(client, auth, factory, db):
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    response = client.post("/account/tokens", data={"name": "x" * 101})
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(ApiToken.id))) == 0


def test_revoke_token(client, auth, factory, db):
    from bids.accounts import create_api_token

    user = factory.user("ann@example.org")
    token, secret = create_api_token(user, "old")
    db.session.commit()
    auth.login("ann@example.org")
    response = client.post(f"/account/tokens/{token.id}/revoke")
    assert response.status_code == 302
    db.session.expire_all()  # the request committed in its own session
    assert user_for_token(secret) is None
    assert "Revoked" in client.get("/account").get_data(as_text=True)


def test_cannot_revoke_someone_elses_token(client, auth, factory, db):
    from bids.accounts import create_api_token

    owner = factory.user("owner@example.org")
    token, secret = create_api_token(owner, "theirs")
    db.session.commit()
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 404
    assert user_for_token(secret).id == owner.id


def test_account_and_tokens_need_sign_in(client):
    assert client.get("/account").status_code == 302
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 302
    assert client.post("/account/tokens/1/revoke").status_code == 302


# --- rate limits ------------------------------------------------------------------------


class TestRateLimits:
    @pytest.fixture
    def app_config(self):
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": "3 per minute"}

    def test_fourth_login_attempt_is_refused_readably(self, client, factory):
        factory.user("ann@example.org")
        for _ in range(3):
            assert (
                client.post(
                    "/login", data={"email": "ann@example.org", "password": "wrong password"}
                ).status_code
                == 401
            )
        response = client.post("/login", data={"email": "ann@example.org", "password": PASSWORD})
        assert response.status_code == 429
        html = response.get_data(as_text=True)
        assert "<h1>Slow down</h1>" in html and "wait a moment" in html
        assert client.get("/account").status_code == 302  # the correct password did not get in
        assert client.get("/login").status_code == 200  # reading the page is not limited

    def test_fourth_signup_attempt_is_refused(self, client, db):
        for n in range(3):
            assert signup(client, email=f"bad{n}", password="x").status_code == 422
        assert signup(client, email="good@example.org").status_code == 429
        assert users(db) == 0


def test_change_display_name(client, auth, factory, db):
    user = factory.user("ann@example.org", "Ann")
    auth.login("ann@example.org")
    response = client.post("/account/profile", data={"display_name": "Ann Updated"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.display_name == "Ann Updated"
    response = client.post("/account/profile", data={"display_name": "  "})
    assert response.status_code == 422 and "Tell us your name" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.display_name == "Ann Updated"


def test_change_password(client, auth, factory, db):
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    response = client.post(
        "/account/password",
        data={"current_password": "wrong one here", "new_password": "a brand new password"},
    )
    assert response.status_code == 422
    assert "not your current password" in response.get_data(as_text=True)
    response = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "a brand new password"},
    )
    assert response.status_code == 302
    auth.logout()
    assert auth.login("ann@example.org").status_code == 401
    assert auth.login("ann@example.org", "a brand new password").status_code == 302


def test_account_forms_have_unique_ids(client, auth, factory):
    factory.user("ann@example.org")
    auth.login("ann@example.org")
    html = client.get("/account").get_data(as_text=True)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
