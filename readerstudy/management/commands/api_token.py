"""Create (or show, or replace) the API token of a user: `manage.py api_token USERNAME [--reset]`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from readerstudy.security import token_expired


class Command(BaseCommand):
    help = "Print the API token of USERNAME, creating it first if needed (--reset replaces it)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reset", action="store_true", help="Revoke the current token and issue a new one.")

    @transaction.atomic
    def handle(self, *args, username: str, reset: bool = False, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        if reset or token_expired(Token.objects.filter(user=user).first()):
            Token.objects.filter(user=user).delete()  # an expired token is replaced, never printed
        token, created = Token.objects.get_or_create(user=user)
        self.stderr.write(f"{'Created' if created else 'Existing'} token for {username}; "
                          "send it as the header 'Authorization: Token <key>'.")
        self.stdout.write(token.key)
