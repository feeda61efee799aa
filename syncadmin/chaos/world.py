"""Both sandboxes as a finance team and an auditor see them: fresh sandboxes for a trial,
edits between runs, data kept by hand on some records, and the read-back audit."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any

from syncadmin.chaos import checks
from syncadmin.chaos.figures import PhaseFigures
from syncadmin.chaos.options import (
    FAULT_HANG_SECONDS,
    HAND_ADDR2,
    HAND_LINE_ADDR1,
    HAND_LINE_LABEL,
    REFERENCE_CLIENTS,
    ChaosOptions,
)
from syncadmin.testbed import SandboxHandle, sandboxes_started


@dataclass
class Probe:
    """A record with data a finance team keeps by hand (on the destination or the source)."""

    key: str
    placed: bool = False


class World:
    """Both sandboxes as a finance team and an auditor see them: edits through the vendors'
    APIs (and NetSuite's address UI), read-backs of every record. Keys name source records the
    same way on identical sandboxes: Zuora account numbers, NetSuite internal ids."""

    def __init__(
        self, master: str, zuora: SandboxHandle, netsuite: SandboxHandle, rng: random.Random
    ) -> None:
        from syncadmin.services.connections import netsuite_client_build, zuora_client_build

        self.master = master
        self.zuora_sandbox, self.netsuite_sandbox = zuora, netsuite
        self.zuora = zuora_client_build(**REFERENCE_CLIENTS)
        self.netsuite = netsuite_client_build(**REFERENCE_CLIENTS)
        self.rng = rng
        self.probes: dict[str, Probe] = {}
        self.created: list[str] = []
        self.edits = 0

    def set_faults(self, rate: float) -> None:
        from connectors.sandboxes.server import FAULT_KINDS

        for sandbox in (self.zuora_sandbox, self.netsuite_sandbox):
            sandbox.control(
                "POST",
                "config",
                {
                    "fault_rate": rate,
                    "faults": list(FAULT_KINDS),
                    "hang_seconds": FAULT_HANG_SECONDS,
                    "random_seed": self.rng.randrange(1 << 30),
                },
            )

    # -- sources ----------------------------------------------------------------------------
    def _zuora_accounts(self) -> list[dict[str, Any]]:
        return list(self.zuora.iter_accounts())

    def _netsuite_customers(self) -> list[dict[str, Any]]:
        return list(
            self.netsuite.suiteql(
                "SELECT id, entityid, externalid, custentity_zuora_id FROM customer ORDER BY id"
            )
        )

    def sources(self) -> dict[str, dict[str, Any]]:
        if self.master == "zuora":
            return {a["accountNumber"]: a for a in self._zuora_accounts()}
        return {c["id"]: c for c in self._netsuite_customers()}

    def choose_probes(self, expected: set[str], count: int) -> None:
        """Records the clean run syncs whose billing address has no second line: the hand-kept
        second line cannot then be the source's own value."""
        sources = self.sources()
        candidates = sorted(k for k in expected if k in sources)
        if self.master == "zuora":
            fit = [k for k in candidates if not (sources[k].get("billTo") or {}).get("address2")]
        else:
            books = self.netsuite.address_books([sources[k]["id"] for k in candidates])
            fit = [
                k
                for k in candidates
                if not any(
                    line["defaultBilling"] and line["addressBookAddress"].get("addr2")
                    for line in books.get(k, [])
                )
            ]
        for key in self.rng.sample(fit, min(count, len(fit))):
            self.probes[key] = Probe(key)
        if self.master == "netsuite":
            # NetSuite is the source: its hand-kept lines are there before any run.
            for key in self.probes:
                self.netsuite.update_customer(key, {"addressBook": {"items": [_hand_line()]}})

    # -- edits between runs ---------------------------------------------------------------------
    def edit(self, *, create: bool = True) -> None:
        """Move every probe's billing address (a write the sync must make without damage),
        change one other record, and create one."""
        self.edits += 1
        n = self.edits
        sources = self.sources()
        for key in self.probes:
            self._move_address(sources[key], f"{n} Chaos Street")
        others = sorted(set(sources) - set(self.probes))
        if others:
            other = sources[self.rng.choice(others)]
            if self.master == "zuora":
                self.zuora.update_account(other["id"], {"notes": f"Chaos trial edit {n}"})
            else:
                self.netsuite.update_customer(other["id"], {"comments": f"Chaos trial edit {n}"})
        if create:
            self.created.append(self._create_source(n))

    def _move_address(self, source: dict[str, Any], addr1: str) -> None:
        if self.master == "zuora":
            self.zuora.update_contact(source["billToId"], {"address1": addr1})
        else:
            self.netsuite_sandbox.control(
                "POST", f"ui/customer/{source['id']}/address", {"addr1": addr1}
            )

    def _create_source(self, n: int) -> str:
        name = f"Chaos Trial Customer {self.rng.randrange(10**6)}-{n}"
        if self.master == "zuora":
            created = self.zuora.create_account(
                {
                    "name": name,
                    "currency": "USD",
                    "billCycleDay": 1,
                    "paymentTerm": "Net 30",
                    "autoPay": False,
                    "billToContact": {
                        "firstName": "Chaos",
                        "lastName": f"Trial {n}",
                        "workEmail": f"chaos.trial{n}@example.com",
                        "address1": f"{n} Trial Road",
                        "city": "Austin",
                        "state": "TX",
                        "zipCode": "78701",
                        "country": "United States",
                    },
                },
                idempotency_key=f"chaos-{name}",
            )
            return str(created["accountNumber"])
        from connectors.netsuite import fields

        return self.netsuite.create_customer(
            {
                "companyName": name,
                "email": f"chaos.trial{n}@example.com",
                "subsidiary": {"id": "2"},
                "currency": {"id": "1"},
                "terms": {"id": "2"},
                fields.SEND_TO_ZUORA: True,
                "addressBook": {
                    "items": [
                        {
                            "label": fields.ADDRESS_LABEL_BILL_TO,
                            "defaultBilling": True,
                            "defaultShipping": True,
                            "addressBookAddress": {
                                "addressee": name,
                                "addr1": f"{n} Trial Road",
                                "city": "Austin",
                                "state": "TX",
                                "zip": "78701",
                                "country": "US",
                            },
                        }
                    ]
                },
            }
        )

    # -- hand-kept data on destinations ---------------------------------------------------------
    def place_probes(self) -> None:
        """Put the hand-kept data on each probe's destination as soon as it exists."""
        from syncadmin.models import RecordLink

        for probe in self.probes.values():
            if probe.placed:
                continue
            if self.master == "zuora":
                link = RecordLink.objects.filter(zuora_account_number=probe.key).first()
                if link is None:
                    continue
                book = self.netsuite.address_books([link.netsuite_internal_id]).get(
                    link.netsuite_internal_id, []
                )
                billing = next((line for line in book if line["defaultBilling"]), None)
                if billing is None:
                    continue
                items = [
                    {
                        "internalId": billing["internalId"],
                        "addressBookAddress": {"addr2": HAND_ADDR2},
                    },
                    _hand_line(),
                ]
                self.netsuite.update_customer(
                    link.netsuite_internal_id, {"addressBook": {"items": items}}
                )
            else:
                link = RecordLink.objects.filter(netsuite_internal_id=probe.key).first()
                if link is None:
                    continue
                account = self.zuora.get_account(link.zuora_account_id)
                self.zuora.update_contact(account["billToId"], {"address2": HAND_ADDR2})
            probe.placed = True

    # -- the audit ---------------------------------------------------------------------------------
    def audit(self, expected: set[str], figures: PhaseFigures) -> None:
        """Duplicates, lost and damaged records, read back from both systems."""
        from connectors.zuora import fields as z_fields
        from syncadmin.models import RecordLink

        expected = expected | set(self.created)
        figures.expected = len(expected)
        sources = self.sources()
        destinations: dict[str, dict[str, Any]]
        if self.master == "zuora":
            number_of = {a["id"]: key for key, a in sources.items()}
            destinations = {c["id"]: c for c in self._netsuite_customers()}
            stands_for = {
                d: number_of.get(c.get("externalid") or c.get("custentity_zuora_id") or "")
                for d, c in destinations.items()
            }
            links = {
                link.zuora_account_number: link.netsuite_internal_id
                for link in RecordLink.objects.all()
            }
        else:
            destinations = {a["id"]: a for a in self._zuora_accounts()}
            stands_for = {
                d: (str(a.get(z_fields.INTEGRATION_ID) or "") or None)
                for d, a in destinations.items()
            }
            stands_for = {d: (s if s in sources else None) for d, s in stands_for.items()}
            links = {
                link.netsuite_internal_id: link.zuora_account_id
                for link in RecordLink.objects.all()
            }
        figures.duplicates.extend(checks.duplicates(stands_for))
        figures.lost.extend(checks.lost(expected, sources, links, destinations))
        figures.probes = len(self.probes)
        figures.probes_placed = sum(p.placed for p in self.probes.values())
        for probe in self.probes.values():
            damage = self._damage(probe, links)
            if damage:
                figures.damaged.append(damage)

    def _damage(self, probe: Probe, links: dict[str, str]) -> str:
        """What a probe lost of its hand-kept data ("" when nothing), in one line: the figure
        counts damaged records, not damaged values."""
        if self.master == "zuora":
            destination = links.get(probe.key)
            if not probe.placed or destination is None:
                return ""  # never reached its destination: counted as lost, if expected
            book = self.netsuite.address_books([destination]).get(destination, [])
            where = f"NetSuite customer {destination} (Zuora {probe.key})"
        else:
            book = self.netsuite.address_books([probe.key]).get(probe.key, [])
            where = f"NetSuite customer {probe.key}"
        account = None
        if self.master == "netsuite" and probe.placed and links.get(probe.key):
            account = self.zuora.get_account(links[probe.key])
        problems = checks.hand_kept_data_lost(self.master, book, account)
        return f"{where}: {'; '.join(problems)}" if problems else ""


def _hand_line() -> dict[str, Any]:
    return {
        "label": HAND_LINE_LABEL,
        "defaultBilling": False,
        "defaultShipping": False,
        "addressBookAddress": {
            "addressee": "Receiving dock",
            "addr1": HAND_LINE_ADDR1,
            "city": "Springfield",
            "state": "IL",
            "zip": "62701",
            "country": "US",
        },
    }


def probe_count(expected: set[str]) -> int:
    return max(2, min(10, len(expected) // 5))


def trial_sandboxes(
    master: str,
    options: ChaosOptions,
    *,
    latency_ms: float | None = None,
    in_process: bool | None = None,
) -> contextlib.AbstractContextManager[tuple[SandboxHandle, SandboxHandle]]:
    """Fresh sandboxes: the master seeded with `accounts` records, the other side empty."""
    latency = options.latency_ms if latency_ms is None else latency_ms
    return sandboxes_started(
        master=master,
        accounts=options.accounts,
        netsuite_latency_ms=latency,
        zuora_latency_ms=latency,
        netsuite_limit=options.concurrency,
        in_process=options.in_process if in_process is None else in_process,
        seed=options.seed,
    )
