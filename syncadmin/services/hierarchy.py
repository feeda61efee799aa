"""Parents before children: which records of a run wait for their parent, which may go, and
which fail because of their parent, for both sync directions.

A child is sent once its parent is in the destination (linked, or written by this run), with
the parent's destination id. A child whose parent fails, cannot sync, or sits in a hierarchy
cycle fails naming it, and so do its own children. Everything here runs in the run's main
thread; the engine tells the hierarchy what became of each record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Wording:
    """How a direction's messages name its records and systems."""

    record: str  # "account", "customer"
    source: str  # the system whose hierarchy it is
    destination: str


# (record, parent destination id or None): send the record now.
SendFn = Callable[[Any, str | None], None]
# (record, error code, message, retryable): the record fails because of its parent.
FailFn = Callable[[Any, str, str, bool], None]


class Hierarchy:
    def __init__(
        self,
        *,
        wording: Wording,
        parent_of: Callable[[Any], str | None],
        describe: Callable[[Any], str],
        send: SendFn,
        fail: FailFn,
    ) -> None:
        self.wording = wording
        self._parent_of = parent_of
        self._describe = describe
        self._send = send
        self._fail = fail
        # Source id -> destination id, for every parent its children may be attached to.
        self.destinations: dict[str, str] = {}
        self._in_flight: set[str] = set()
        self._failed: dict[str, tuple[str, bool]] = {}  # id -> (description, retryable)
        self._not_syncable: dict[str, str] = {}  # id -> the message for its children
        self._root_causes: dict[str, str] = {}  # id -> why the top of its chain cannot sync
        self._waiting: dict[str, list[Any]] = {}  # parent id -> children
        self._waiting_ids: dict[str, str] = {}  # child id -> parent id

    # -- what the engine asks ---------------------------------------------------------------
    def unknown_parents(self, records: Iterable[Any]) -> set[str]:
        """Parents of `records` this run knows nothing of yet (the engine looks up their
        links: a parent linked before syncs its children without being in the run)."""
        return {
            parent
            for record in records
            if (parent := self._parent_of(record))
            and parent not in self.destinations
            and parent not in self._in_flight
            and parent not in self._waiting_ids
        }

    def parents(self, records: Iterable[Any]) -> set[str]:
        """The ids that some record of `records`, or a waiting child, has as its parent."""
        found = {parent for record in records if (parent := self._parent_of(record))}
        found.update(self._waiting)
        return found

    def has_children_waiting(self, record_id: str) -> bool:
        return record_id in self._waiting

    def has_waiting(self) -> bool:
        return bool(self._waiting)

    # -- what became of records ----------------------------------------------------------------
    def place(self, record: Any) -> None:
        """Send `record` if its parent is ready, make it wait, or fail it because of its
        parent. A parent not seen yet may still come later in the run: its children wait."""
        parent = self._parent_of(record)
        if not parent:
            self.sent(record.id)
            self._send(record, None)
        elif parent == record.id:
            name = self._describe(record)
            self._orphan(record, self._cycle_message(f"{name} → {name}"))
        elif parent in self._failed:
            self._fail_child(record, parent)
        elif parent in self._not_syncable:
            self._orphan(record, self._not_syncable[parent], parent=parent)
        elif parent in self.destinations:
            self.sent(record.id)
            self._send(record, self.destinations[parent])
        else:
            self._waiting.setdefault(parent, []).append(record)
            self._waiting_ids[record.id] = parent

    def sent(self, record_id: str) -> None:
        self._in_flight.add(record_id)

    def reached(self, record_id: str, destination: str | None) -> None:
        """The record is in the destination (or, with None, is not but does not stop its
        children): its waiting children go."""
        self._in_flight.discard(record_id)
        if destination:
            self.destinations[record_id] = destination
        for child in self._waiting.pop(record_id, []):
            self._waiting_ids.pop(child.id, None)
            self.sent(child.id)
            self._send(child, destination)

    def failed(self, record: Any, *, retryable: bool) -> None:
        """The record failed in this run: its children fail, naming it."""
        self._in_flight.discard(record.id)
        self._failed[record.id] = (self._describe(record), retryable)
        self._cascade(record.id)

    def cannot_reach(self, record: Any, reason: str) -> None:
        """The record will not be in the destination (`reason`): its children fail."""
        self._in_flight.discard(record.id)
        words = self.wording
        self._not_syncable[record.id] = (
            f"Parent {words.record} {self._describe(record)} is not in {words.destination}: "
            f"{reason}."
        )
        self._cascade(record.id)

    def abandoned(self, record_id: str) -> None:
        """The record was not sent (the run is stopping)."""
        self._in_flight.discard(record_id)

    def forget_waiting(self) -> None:
        """The run stops: children whose parents were never sent are left to the next run."""
        self._waiting.clear()
        self._waiting_ids.clear()

    def fail_absent_parents(self, explain: Callable[[list[str]], dict[str, str]]) -> None:
        """Once every record of the run is placed: fail the children whose parent never came
        (not linked, not in this run), with `explain`'s message per parent id where it has
        one. Parents still on the wire, or waiting themselves, may yet come."""
        absent = [
            p for p in self._waiting if p not in self._waiting_ids and p not in self._in_flight
        ]
        if not absent:
            return
        messages = explain(absent)
        words = self.wording
        for parent in absent:
            message = messages.get(
                parent,
                f"Parent {words.record} {parent} is not in {words.destination} yet (not linked "
                "and not changed in this run). Sync or link the parent first.",
            )
            for child in self._waiting.pop(parent, []):
                self._waiting_ids.pop(child.id, None)
                self._orphan(child, message)

    def break_cycle(self) -> None:
        """Nothing in flight, and children still wait: they wait for each other. Fail one
        cycle's members, naming it, and the children waiting for them."""
        start = next(iter(self._waiting_ids))
        trail: list[str] = []
        cursor = start
        while cursor not in trail:
            trail.append(cursor)
            cursor = self._waiting_ids[cursor]
        members = trail[trail.index(cursor) :]
        records = {c.id: c for p in members for c in self._waiting.get(p, [])}
        names = [self._describe(records[m]) for m in members if m in records]
        cycle = " → ".join([*names, names[0]]) if names else " → ".join(members)
        for member in members:
            parent = self._waiting_ids.pop(member)
            children = self._waiting.get(parent, [])
            record = next(c for c in children if c.id == member)
            children.remove(record)
            if not children:
                self._waiting.pop(parent, None)
            message = self._cycle_message(cycle)
            self._fail(record, "PARENT_NOT_SYNCED", message, False)
            self._root_causes[member] = message
            words = self.wording
            self._not_syncable[member] = (
                f"Parent {words.record} {self._describe(record)} cannot sync, so this "
                f"{words.record} cannot either. Root cause: {message}"
            )
        for member in members:
            self._cascade(member)

    # -- children that cannot go -------------------------------------------------------------
    def _cycle_message(self, cycle: str) -> str:
        words = self.wording
        return (
            f"The {words.record} hierarchy has a cycle: {cycle}. Fix the parent in {words.source}."
        )

    def _fail_child(self, record: Any, parent: str) -> None:
        description, retryable = self._failed[parent]
        words = self.wording
        self._fail(
            record,
            "PARENT_FAILED",
            f"Parent {words.record} {description} did not sync in this run, so this "
            f"{words.record} cannot be attached to it in {words.destination}. Fix the parent's "
            "error first.",
            retryable,
        )
        self._failed[record.id] = (self._describe(record), retryable)
        self._cascade(record.id)

    def _orphan(self, record: Any, message: str, *, parent: str | None = None) -> None:
        """Fail `record` because its parent cannot sync; its own children's message names it
        and carries the root cause (the message of the first record up the chain)."""
        self._fail(record, "PARENT_NOT_SYNCED", message, False)
        root = self._root_causes.get(parent, message) if parent else message
        self._root_causes[record.id] = root
        words = self.wording
        self._not_syncable[record.id] = (
            f"Parent {words.record} {self._describe(record)} cannot sync, so this "
            f"{words.record} cannot either. Root cause: {root}"
        )
        self._cascade(record.id)

    def _cascade(self, parent: str) -> None:
        """Children waiting for a parent that will not reach the destination fail, and theirs
        too."""
        for child in self._waiting.pop(parent, []):
            self._waiting_ids.pop(child.id, None)
            if parent in self._failed:
                self._fail_child(child, parent)
            else:
                self._orphan(child, self._not_syncable[parent], parent=parent)


def parents_first(records: list[Any], parent_of: Callable[[Any], str | None]) -> list[Any]:
    """`records` ordered by their depth in the hierarchy among themselves (roots first), so
    that a child rarely waits for a parent later in the run. Cycles end the walk up."""
    by_id = {record.id: record for record in records}
    depth: dict[str, int] = {}
    for record in records:
        trail: list[str] = []
        cursor: str | None = record.id
        while cursor in by_id and cursor not in depth and cursor not in trail:
            trail.append(cursor)
            cursor = parent_of(by_id[cursor])
        base = depth.get(cursor, -1) if cursor is not None else -1
        for offset, member in enumerate(reversed(trail), start=1):
            depth[member] = base + offset
    return sorted(records, key=lambda record: depth[record.id])
