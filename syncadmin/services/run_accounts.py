"""The records a run limited to some accounts is for, named the way a finance admin names
them: by number or by id, in the system the sync reads from (the master)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from syncadmin.models import Master, SyncPreferences
from syncadmin.services.connections import netsuite_client_build, zuora_client_build
from syncadmin.services.linking import netsuite_customers_resolve, zuora_accounts_resolve


@dataclass
class RunAccounts:
    """`source_ids`: the master's ids of the records found, in the order asked, once each;
    `unknown`: what was asked for and is not in the master system."""

    system: str
    source_ids: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def run_accounts_resolve(
    *, keys: Iterable[str], client_options: dict[str, Any] | None = None
) -> RunAccounts:
    """Look the keys up in the master system: a Zuora account number or id when Zuora is the
    master, a NetSuite entity id (customer number) or internal id when NetSuite is. Raises
    the client's ApiError (or ConnectionNotConfigured) when the system cannot be asked."""
    wanted = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    options = client_options or {}
    if SyncPreferences.load().master == Master.ZUORA:
        accounts = zuora_accounts_resolve(wanted, client=zuora_client_build(**options))
        resolved = {key: ref.id for key, ref in accounts.items()}
        system = "Zuora"
    else:
        customers = netsuite_customers_resolve(wanted, client=netsuite_client_build(**options))
        resolved = {key: ref.internal_id for key, ref in customers.items()}
        system = "NetSuite"
    return RunAccounts(
        system=system,
        source_ids=list(dict.fromkeys(resolved[key] for key in wanted if key in resolved)),
        unknown=[key for key in wanted if key not in resolved],
    )
