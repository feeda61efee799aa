"""Encryption of stored secrets with MultiFernet.

Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first: new values are encrypted with the
first key, stored values decrypt with any of them, and `secrets_reencrypt` (the
rotate_encryption_keys command) moves every stored value to the newest key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretKeyError(Exception):
    """The configured keys cannot encrypt or decrypt a stored secret."""


def _fernet() -> MultiFernet:
    keys = [k for k in getattr(settings, "FIELD_ENCRYPTION_KEYS", []) if k]
    if not keys:
        raise SecretKeyError(
            "FIELD_ENCRYPTION_KEYS is not set: generate one with "
            "`python manage.py generate_encryption_key` and add it to the environment."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise SecretKeyError(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise SecretKeyError(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS: the "
            "key it was encrypted with is missing. Restore that key, or enter the secret again."
        ) from exc


def rotate(ciphertext: str) -> str:
    try:
        return _fernet().rotate(ciphertext.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise SecretKeyError(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS."
        ) from exc
