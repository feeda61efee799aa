"""Each connection's health, as every run and every Test connection finds it.

A run that could not reach Zuora or NetSuite turns that connection red on the dashboard, with
the time and a message in finance words (which system, which address, what to check); a run
that talked to a system turns it green again. Test connection writes the same fields."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from connectors.http import ApiError
from syncadmin.models import NetSuiteConnection, ZuoraConnection
from syncadmin.services.connections import ConnectionNotConfigured, connection_address
from syncadmin.services.storable import storable_text

SYSTEMS: dict[str, type[ZuoraConnection] | type[NetSuiteConnection]] = {
    "Zuora": ZuoraConnection,
    "NetSuite": NetSuiteConnection,
}
# Codes of errors that say a system could not be reached or would not let us in, not that
# one account was refused.
_UNREACHABLE = {"CONNECTION", "TIMEOUT", "NO_ANSWER", "UNAVAILABLE", "BAD_URL"}
_REFUSED = {"CREDENTIALS_REFUSED"}


def run_error_system(error: Exception) -> str | None:
    """The system a run-stopping error is about ("Zuora" or "NetSuite"), or None when it is
    about neither. The transport, the breaker and the clients start their messages with it."""
    text = str(error).lstrip()
    for prefix in ("The ", ""):
        for system in SYSTEMS:
            if text.startswith(f"{prefix}{system}"):
                return system
    return None


def run_error_explain(error: Exception) -> str:
    """A run-stopping error in finance words: which system, which address, what to check."""
    system = run_error_system(error)
    if system is None or not isinstance(error, ApiError):
        return str(error)
    address = connection_address(SYSTEMS[system].load()) or "(no address set)"
    code = error.code or ""
    text = error.message
    if code == "CONNECTION" or (code == "UNAVAILABLE" and "connection failed" in text):
        how = "connection refused" if "Refused" in text else "no connection could be made"
        return f"Could not reach {system} at {address}: {how}. Check the base URL and your network."
    if code == "TIMEOUT":  # NO_ANSWER's message (the breaker's) already says all this
        return (
            f"{system} at {address} did not answer in time. Check that {system} is up and "
            "that this server can reach it, then run again."
        )
    if code == "BAD_URL":
        return (
            f"{address} is not a usable address for {system}. Correct the base URL of the "
            f"{system} connection."
        )
    return text


def connection_health_record(*, system: str, ok: bool, message: str) -> None:
    """Store what a run found about `system`'s connection (shown on the dashboard)."""
    SYSTEMS[system].objects.filter(pk=1).update(
        last_checked_at=timezone.now(),
        last_check_ok=ok,
        last_check_message=storable_text(message)[:1000],
    )


def connection_health_after_run(
    *, run_id: int | None, error: Exception | None, api_calls: dict[str, dict[str, int]]
) -> None:
    """After a run: the system a connection error was about turns red; a system the run
    called and that did not stop it turns green."""
    label = f"Run {run_id}" if run_id else "A dry run"
    failing = None
    if error is not None:
        code = getattr(error, "code", None) or ""
        if isinstance(error, ConnectionNotConfigured) or code in _UNREACHABLE | _REFUSED:
            failing = run_error_system(error)
        if failing is not None:
            connection_health_record(
                system=failing, ok=False, message=f"{label}: {run_error_explain(error)}"
            )
    for system, key in (("Zuora", "zuora"), ("NetSuite", "netsuite")):
        calls: Any = api_calls.get(key) or {}
        if system != failing and sum(calls.values()) and error is None:
            connection_health_record(
                system=system, ok=True, message=f"{label} exchanged data with {system}."
            )
