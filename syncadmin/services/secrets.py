from __future__ import annotations

from django.db import transaction

from syncadmin import crypto
from syncadmin.models import HookSettings, NetSuiteConnection, ZuoraConnection


def secrets_reencrypt() -> int:
    """Move every stored secret to the newest key; all or nothing."""
    count = 0
    with transaction.atomic():
        for model in (ZuoraConnection, NetSuiteConnection, HookSettings):
            for connection in model.objects.select_for_update():
                for name in model.SECRET_FIELDS:
                    stored = getattr(connection, f"{name}_encrypted")
                    if stored:
                        setattr(connection, f"{name}_encrypted", crypto.rotate(stored))
                        count += 1
                connection.save()
    return count
