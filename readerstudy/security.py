"""Who is asking, and with what: client IP behind trusted proxies, login lockout keys, API token lifetime.

- :func:`client_ip` is the one place that decides a request's client address (django-axes and the
  sign-up throttle, :func:`signup_blocked`, use it): ``X-Forwarded-For`` counts only when the connection comes from a
  proxy listed in ``TRUSTED_PROXIES``, and then the right-most address that is not itself a trusted
  proxy is the client (a client can prepend anything it likes to the header, never append).
- :func:`login_lockout_parameters`: failures for an existing username lock that username *from that
  client IP* only (so nobody can lock a colleague out from elsewhere); failures for usernames that do
  not exist lock the client IP (password spraying, probing names).
- :class:`ExpiringTokenAuthentication`: DRF tokens expire ``API_TOKEN_TTL_DAYS`` after issue.
- :class:`RevokeTokensOnPasswordChange`: a password "validator" whose ``password_changed`` hook
  (called by Django whenever a user is saved with a new password) deletes the user's API tokens.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

logger = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or from X-Forwarded-For when REMOTE_ADDR is a trusted proxy."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if not settings.TRUSTED_PROXIES or not _trusted(remote):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        if not _trusted(address):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return remote  # a malformed hop: don't trust anything to its left
    return remote


def login_lockout_parameters(request, credentials: dict | None = None) -> list:
    """django-axes lockout keys: username + IP for an existing user, the IP alone for unknown names."""
    username = (credentials or {}).get(get_user_model().USERNAME_FIELD) or (credentials or {}).get("username")
    if username and get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).exists():
        return [["username", "ip_address"]]
    return ["ip_address"]


# --- sign-up throttle ------------------------------------------------------------------------------

def _signup_key(request: HttpRequest) -> str:
    return f"signup-failures:{client_ip(request)}"


def signup_blocked(request: HttpRequest) -> bool:
    """True once this client IP had SIGNUP_RATE_LIMIT refused sign-ups in the last hour (0: no limit).

    Counted in the default cache: per process unless CACHE_URL names a shared Redis.
    """
    limit = settings.SIGNUP_RATE_LIMIT
    return limit > 0 and (cache.get(_signup_key(request)) or 0) >= limit


def signup_failed(request: HttpRequest) -> None:
    """Count a refused sign-up (e.g. a taken username: the way names would be probed)."""
    key = _signup_key(request)
    if cache.add(key, 1, timeout=3600):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)


# --- API tokens ------------------------------------------------------------------------------------

def token_expired(token) -> bool:
    """True for a token issued more than API_TOKEN_TTL_DAYS ago (never with 0); False for None."""
    ttl = dt.timedelta(days=settings.API_TOKEN_TTL_DAYS)
    return token is not None and ttl.total_seconds() > 0 and token.created < timezone.now() - ttl


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, refused once the token is older than API_TOKEN_TTL_DAYS."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise exceptions.AuthenticationFailed(
                "Token expired: issue a new one with `manage.py api_token USERNAME --reset`.")
        return user, token


class RevokeTokensOnPasswordChange:
    """Accepts every password; after a password change, deletes the user's API tokens."""

    def validate(self, password, user=None) -> None:
        return None

    def password_changed(self, password, user=None) -> None:
        if user is None or user.pk is None:
            return
        from rest_framework.authtoken.models import Token

        from common.audit import audit_record

        deleted, _ = Token.objects.filter(user_id=user.pk).delete()
        if deleted:
            audit_record(actor=user, action="api_token.revoke", obj=user,
                         data={"reason": "password changed", "tokens": deleted})
            logger.info("password change revoked %d API token(s) of user %s", deleted, user.pk)

    def get_help_text(self) -> str:
        return ""
