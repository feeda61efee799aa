from typing import Any

from django.core.management.base import CommandError

from syncadmin.crypto import SecretKeyError
from syncadmin.management.base import DatabaseCommand
from syncadmin.services.secrets import secrets_reencrypt


class Command(DatabaseCommand):
    help = "Re-encrypt every stored secret with the newest key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = secrets_reencrypt()
        except SecretKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} secrets with the newest key."))
