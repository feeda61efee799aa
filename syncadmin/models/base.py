"""What several models share: one-row tables, encrypted secrets, the two masters and the
two directions."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from syncadmin import crypto


class Singleton(models.Model):
    """A table with one row (pk=1): connection settings and preferences."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> Any:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class SecretsMixin(models.Model):
    """Secrets are stored encrypted in `<name>_encrypted` columns and never read back into
    forms; `secret(name)` decrypts one for a client, `set_secret` encrypts a new value."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def set_secret(self, name: str, value: str) -> None:
        if name not in self.SECRET_FIELDS:
            raise ValueError(f"{name} is not a secret of {type(self).__name__}")
        setattr(self, f"{name}_encrypted", crypto.encrypt(value) if value else "")

    def secret(self, name: str) -> str:
        stored = getattr(self, f"{name}_encrypted")
        return crypto.decrypt(stored) if stored else ""

    def secret_is_set(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_encrypted"))


class Master(models.TextChoices):
    ZUORA = "zuora", "Zuora"
    NETSUITE = "netsuite", "NetSuite"


class Direction(models.TextChoices):
    ZUORA_TO_NETSUITE = "zuora_to_netsuite", "Zuora → NetSuite"
    NETSUITE_TO_ZUORA = "netsuite_to_zuora", "NetSuite → Zuora"
