"""Preview of the field mappings admins add, before they count, and the one-time full resync.

`field_mapping_preview` shows what syncing three linked records of the current direction would
change, field by field, with the mappings given (or the stored ones): a dry run of just those
records through the sync's own mapping and diff code (reads only, nothing written or
recorded), whose "before" of each added field is what the destination holds now (one read per
sample, at once). It also counts the linked records a full resync would look at.
`mapping_resync_queue` queues that full run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from connectors.http import ApiError
from syncadmin.labels import change_rows
from syncadmin.mapping.added import AddedMapping
from syncadmin.mapping.added_fields import ZUORA, destination_paths
from syncadmin.mapping.diff import changed_fields
from syncadmin.models import Direction, Outcome, RecordLink, SyncPreferences, SyncRun
from syncadmin.selectors import added_mappings_for, ignored_source_ids
from syncadmin.services.connection_health import run_error_explain
from syncadmin.services.connections import (
    ConnectionNotConfigured,
    netsuite_client_build,
    zuora_client_build,
)
from syncadmin.services.runs import sync_run_execute, sync_run_queue

logger = logging.getLogger(__name__)

SOURCE_KEYS = {
    Direction.ZUORA_TO_NETSUITE: "zuora_account_id",
    Direction.NETSUITE_TO_ZUORA: "netsuite_internal_id",
}


@dataclass
class PreviewChange:
    field: str  # as finance admins know it ("Region", "Bill To fax")
    before: str
    after: str
    added: bool  # the field of an added mapping (else a built-in one that also changed)


@dataclass
class PreviewSample:
    number: str
    name: str
    changes: list[PreviewChange] = field(default_factory=list)
    problem: str = ""  # why this record would fail, in the sync's words
    skipped: str = ""  # why the sync would leave this record alone

    @property
    def label(self) -> str:
        return f"{self.number} {self.name}".strip()


@dataclass
class MappingPreview:
    direction: str
    samples: list[PreviewSample] = field(default_factory=list)
    linked_count: int = 0  # the linked records a full resync would look at
    problem: str = ""  # why no sample could be read (a system not reachable, ...)

    @property
    def direction_label(self) -> str:
        return Direction(self.direction).label


def linked_records_count(*, direction: str) -> int:
    """The linked records a full run in `direction` looks at (those taken out of the sync
    excepted)."""
    ignored = ignored_source_ids(direction=direction)
    links = RecordLink.objects.all()
    if ignored:
        links = links.exclude(**{f"{SOURCE_KEYS[direction]}__in": ignored})
    return links.count()


def field_mapping_preview(
    *,
    mappings: list[AddedMapping] | None = None,
    samples: int = 3,
    client_options: dict[str, Any] | None = None,
) -> MappingPreview:
    """What syncing `samples` linked records of the current direction would change with these
    mappings (by default the stored ones of that direction), and how many linked records a full
    resync would look at. Reads both systems; writes and records nothing."""
    direction = SyncPreferences.load().direction
    if mappings is None:
        mappings = added_mappings_for(direction=direction)
    mappings = [m for m in mappings if m.direction == direction]
    preview = MappingPreview(
        direction=direction, linked_count=linked_records_count(direction=direction)
    )
    links = _sample_links(direction, samples)
    if not links:
        return preview
    source_key = SOURCE_KEYS[direction]
    try:
        report = sync_run_execute(
            trigger=SyncRun.Trigger.MANUAL,
            dry_run=True,
            account_ids=[getattr(link, source_key) for link in links],
            keep_outcomes=True,
            added_mappings=mappings,
            client_options=client_options,
        )
        if report.status == SyncRun.Status.FAILED and not report.outcomes:
            preview.problem = report.message
            return preview
        holds = _destination_values(direction, links, mappings, client_options or {})
    except (ApiError, ConnectionNotConfigured) as exc:
        preview.problem = f"The preview could not read the records: {run_error_explain(exc)}"
        return preview
    by_source = {getattr(link, source_key): link for link in links}
    added_keys = _added_keys(direction, mappings)
    order = list(by_source)  # the most recently synced first, as chosen
    for outcome in sorted(
        (o for o in report.outcomes if o.source_id in by_source),
        key=lambda o: order.index(o.source_id),
    ):
        preview.samples.append(
            _sample(outcome, holds.get(outcome.source_id, {}), added_keys, mappings)
        )
    return preview


def mapping_resync_queue(*, user: Any) -> str:
    """Queue the one-time full resync: a run that reads every record of the master, so the
    added mappings reach every linked record (not only those that change from now on)."""
    return sync_run_queue(trigger=SyncRun.Trigger.MANUAL, user=user, full=True)


# -- helpers ------------------------------------------------------------------------------------
def _sample_links(direction: str, samples: int) -> list[RecordLink]:
    """The most recently synced linked records (not taken out of the sync)."""
    ignored = ignored_source_ids(direction=direction)
    links = RecordLink.objects.order_by("-last_synced_at", "-pk")
    if ignored:
        links = links.exclude(**{f"{SOURCE_KEYS[direction]}__in": ignored})
    return list(links[:samples])


def _added_keys(direction: str, mappings: list[AddedMapping]) -> dict[str, str]:
    """The key of each added field in a result's changes -> its label."""
    system = ZUORA if direction == Direction.NETSUITE_TO_ZUORA else "netsuite"
    keys: dict[str, str] = {}
    for mapping, (key, name) in zip(
        mappings, destination_paths(mappings, system=system), strict=True
    ):
        label = mapping.label.split("→")[-1].strip() if "→" in mapping.label else ""
        keys[f"{key}.{name}" if name else key] = label or mapping.destination_field
    return keys


def _destination_values(
    direction: str,
    links: list[RecordLink],
    mappings: list[AddedMapping],
    client_options: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """source id -> {change key: value the destination holds now} for the added fields: the
    run compares with what it last sent, which never held a field mapped since."""
    if not mappings:
        return {}
    if direction == Direction.ZUORA_TO_NETSUITE:
        netsuite = netsuite_client_build(**client_options)
        with ThreadPoolExecutor(max_workers=len(links), thread_name_prefix="preview") as pool:
            customers = pool.map(
                lambda link: netsuite.get_customer(link.netsuite_internal_id, expand=False),
                links,
            )
            paths = destination_paths(mappings, system="netsuite")
            return {
                link.zuora_account_id: {key: customer.get(key) for key, _ in paths}
                for link, customer in zip(links, customers, strict=True)
            }
    zuora = zuora_client_build(**client_options)
    accounts = {a["id"]: a for a in zuora.iter_accounts_by_ids([x.zuora_account_id for x in links])}
    paths = destination_paths(mappings, system=ZUORA)
    holds: dict[str, dict[str, Any]] = {}
    for link in links:
        account = accounts.get(link.zuora_account_id) or {}
        values: dict[str, Any] = {}
        for key, name in paths:
            if name:
                contact = account.get("billTo" if key == "billToContact" else "soldTo") or {}
                values[f"{key}.{name}"] = contact.get(name)
            else:
                values[key] = account.get(key)
        holds[link.netsuite_internal_id] = values
    return holds


def _sample(
    outcome: Any,
    holds: Mapping[str, Any],
    added_keys: Mapping[str, str],
    mappings: list[AddedMapping],
) -> PreviewSample:
    sample = PreviewSample(number=outcome.source_number, name=outcome.source_name)
    if outcome.outcome == Outcome.FAILED:
        sample.problem = outcome.error_message
        return sample
    if outcome.outcome == Outcome.SKIPPED:
        sample.skipped = outcome.reason
        return sample
    sources = _mapped_from(mappings)
    for key, (before, after) in (outcome.changes or {}).items():
        added = key in added_keys
        if added and key in holds:
            before = holds[key]
            if not changed_fields({key: before}, {key: after}):
                continue  # the destination already holds it
        for label, old, new in change_rows({key: (before, after)}, added_keys):
            origin = sources.get(key, {}).get(
                str(after.get("id") if isinstance(after, dict) else after)
            )
            if origin:
                new = f"{new} (from “{origin}”)"
            sample.changes.append(PreviewChange(label, old, new, added))
    return sample


def _mapped_from(mappings: list[AddedMapping]) -> dict[str, dict[str, str]]:
    """change key -> {destination value: the source value(s) the value map turns into it}, so
    a NetSuite list value shown by its internal id also says what it stands for ("Gold")."""
    found: dict[str, dict[str, str]] = {}
    for mapping in mappings:
        if mapping.transform != "value_map":
            continue
        system = ZUORA if mapping.direction == Direction.NETSUITE_TO_ZUORA else "netsuite"
        key, name = destination_paths([mapping], system=system)[0]
        inverse: dict[str, list[str]] = {}
        for source, destination in mapping.value_map.items():
            inverse.setdefault(str(destination), []).append(source)
        found[f"{key}.{name}" if name else key] = {d: " / ".join(s) for d, s in inverse.items()}
    return found
