"""Production settings come from the environment: the production block of .env.example passes
Django's deployment checks, and with DEBUG off nothing starts on a public SECRET_KEY. Each case
runs manage.py in a process of its own, as a server or a worker would start."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDERS = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS")


def documented_production_environment() -> dict[str, str]:
    """The `# --- production` block of .env.example, with its placeholders filled in."""
    text = (ROOT / ".env.example").read_text()
    block = text.split("# --- production\n", 1)[1].split("# --- end production", 1)[0]
    values = dict(re.findall(r"^# ([A-Z_]+)=(.*)$", block, flags=re.MULTILINE))
    assert set(PLACEHOLDERS) <= set(values)
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    values["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return values


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Every setting the test cares about is given, so a developer's .env changes nothing.
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_documented_production_environment_passes_the_deployment_checks():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=documented_production_environment()
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_the_https_settings_the_deployment_checks_fail():
    environment = documented_production_environment()
    for name in (
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
    ):
        environment[name] = "0"

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=environment)

    assert result.returncode != 0
    for check in ("W004", "W008", "W012", "W016"):
        assert f"security.{check}" in result.stderr


@pytest.mark.parametrize("key", ["", "change-me-to-a-long-random-string"])
def test_with_debug_off_a_missing_or_example_secret_key_stops_the_start(key):
    result = manage("check", env={"DEBUG": "false", "SECRET_KEY": key})

    assert result.returncode != 0
    assert "SECRET_KEY is not set, or is an example value, and DEBUG is off" in result.stderr


def test_with_debug_on_a_development_key_is_used():
    result = manage("check", env={"DEBUG": "true", "SECRET_KEY": ""})

    assert result.returncode == 0, result.stderr
