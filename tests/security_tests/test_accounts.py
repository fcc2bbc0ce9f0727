"""Accounts: lockout keyed on the real client IP, password reset by e-mail, expiring and revocable API
tokens, sign-up that does not confirm which usernames exist."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from common.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"


def login(client, username, password, *, remote=PROXY, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


@pytest.mark.axes_on
def test_behind_a_trusted_proxy_an_attacker_cannot_lock_out_a_colleague(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    UserFactory(username="dr-who")
    for _ in range(3):
        login(client, "dr-who", "wrong", forwarded="203.0.113.9")
    assert login(client, "dr-who", "correct-horse-battery", forwarded="203.0.113.9").status_code == 429
    # The same account from the real user's own address (the proxy adds it last) still logs in.
    ok = login(client, "dr-who", "correct-horse-battery", forwarded="198.51.100.7")
    assert ok.status_code == 302 and ok.wsgi_request.user.is_authenticated


@pytest.mark.axes_on
def test_a_forged_forwarded_header_is_ignored_unless_the_connection_is_a_trusted_proxy(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    UserFactory(username="dr-who")
    for i in range(3):  # straight from the internet, a new made-up X-Forwarded-For each time
        login(client, "dr-who", "wrong", remote="203.0.113.9", forwarded=f"192.0.2.{i}")
    locked = login(client, "dr-who", "correct-horse-battery", remote="203.0.113.9", forwarded="192.0.2.99")
    assert locked.status_code == 429
    # A client prepending addresses through the proxy does not escape either: the right-most counts.
    for _ in range(3):
        login(client, "dr-who", "wrong", forwarded="192.0.2.50, 203.0.113.77")
    assert login(client, "dr-who", "correct-horse-battery",
                 forwarded="192.0.2.51, 203.0.113.77").status_code == 429


@pytest.mark.axes_on
def test_failures_for_unknown_usernames_lock_the_client_ip(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    for i in range(3):
        login(client, f"nobody-{i}", "guess", forwarded="203.0.113.20")
    assert login(client, "nobody-9", "guess", forwarded="203.0.113.20").status_code == 429
    assert login(client, "nobody-9", "guess", forwarded="203.0.113.21").status_code == 200  # another client


def test_password_reset_by_email_sets_a_new_password(client):
    user = UserFactory(username="reader-r", email="r@clinic.example")
    page = client.get("/accounts/login/")
    assert b"/accounts/password-reset/" in page.content
    sent = client.post("/accounts/password-reset/", {"email": "r@clinic.example"})
    assert sent.status_code == 302 and sent.url == "/accounts/password-reset/sent/"
    unknown = client.post("/accounts/password-reset/", {"email": "stranger@example.org"})
    assert unknown.status_code == 302 and unknown.url == sent.url  # no hint whether the address is known
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["r@clinic.example"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"Choose a new password" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "a-New-passphrase-2026",
                                                     "new_password2": "a-New-passphrase-2026"})
    assert done.status_code == 302 and done.url == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password("a-New-passphrase-2026")
    assert b"no longer works" in client.get(link, follow=True).content  # single use


def me(client, key):
    return client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}")


def test_api_tokens_expire(client, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    user = UserFactory(username="api-user")
    token = Token.objects.create(user=user)
    assert me(client, token.key).status_code == 200
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - dt.timedelta(days=31))
    expired = me(client, token.key)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]
    out = io.StringIO()
    call_command("api_token", "api-user", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() != token.key  # the command replaces an expired token
    assert me(client, out.getvalue().strip()).status_code == 200


def test_a_password_change_revokes_api_tokens(client):
    user = UserFactory(username="api-user2")
    token = Token.objects.create(user=user)
    assert me(client, token.key).status_code == 200
    user.set_password("another-Passphrase-2026")
    user.save()  # the same path as the reset/change views, the admin and manage.py changepassword
    assert not Token.objects.filter(user=user).exists()
    assert me(client, token.key).status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoke", object_id=str(user.pk)).exists()
    call_command("api_token", "api-user2", stdout=io.StringIO(), stderr=io.StringIO())
    assert Token.objects.filter(user=user).count() == 1  # a new one can be issued


def test_sign_up_does_not_say_a_username_exists_and_is_throttled(client, settings):
    from readerstudy import models as m
    from readerstudy.services.studies import invitation_create
    from tests.readerstudy_tests.reader_setup import build_study

    cache.clear()
    settings.SIGNUP_RATE_LIMIT = 3
    UserFactory(username="dr-taken")
    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    invitation = invitation_create(study=built.study, actor=None, single_use=False)
    url = f"/join/{invitation.token}/"

    def signup(username):
        return client.post(url, {"action": "signup", "signup-username": username,
                                 "signup-password1": "a-Long-passphrase-2026",
                                 "signup-password2": "a-Long-passphrase-2026"}, REMOTE_ADDR="203.0.113.30")

    taken = signup("dr-taken")
    assert b"already exists" not in taken.content and b"cannot be used" in taken.content
    signup("DR-TAKEN")
    signup("dr-taken")
    blocked = signup("brand-new-name")  # 3 refusals from this address: sign-up closes for an hour
    assert b"Too many sign-up attempts" in blocked.content
    assert not get_user_model().objects.filter(username="brand-new-name").exists()
    allowed = client.post(url, {"action": "signup", "signup-username": "brand-new-name",
                                "signup-password1": "a-Long-passphrase-2026",
                                "signup-password2": "a-Long-passphrase-2026"}, REMOTE_ADDR="198.51.100.30")
    assert allowed.status_code == 302  # another address is not affected
