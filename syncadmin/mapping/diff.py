"""Change detection shared by both directions: an update is only sent when a value changed.

`previous` may be what we last sent or the destination record as read back; read-backs carry
extra keys (a reference's "refName", an address line's internal id), so a value counts as
unchanged when everything we would send is already there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def changed_fields(
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    *,
    ignore: Iterable[str] = (),
) -> dict[str, tuple[Any, Any]]:
    """field -> (before, after) for keys of `current` whose value differs from `previous`.

    Keys only in `previous` are not changes: a value missing from the source never clears the
    destination. With no `previous`, every key is new (before = None).
    """
    previous = previous or {}
    skipped = set(ignore)
    return {
        key: (previous.get(key), value)
        for key, value in current.items()
        if key not in skipped and (key not in previous or not _contains(previous[key], value))
    }


def update_payload(
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    *,
    ignore: Iterable[str] = (),
) -> dict[str, Any]:
    """The changed keys of `current`, or {} when only `ignore`d keys changed.

    Ignored (volatile) keys never trigger an update on their own but ride along with a real one
    so the destination copy stays fresh. Nested values such as the address book are sent whole
    when any part changed, because the destination replaces them as a whole.
    """
    ignore = frozenset(ignore)
    changes = changed_fields(previous, current)
    if not set(changes) - ignore:
        return {}
    return {key: current[key] for key in changes}


def payload_hash(payload: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> str:
    """Stable sha256 of the payload's canonical JSON, leaving out the `ignore`d top-level keys.

    Key order never matters; list order does (address lines are positional).
    """
    skipped = set(ignore)
    kept = {key: value for key, value in payload.items() if key not in skipped}
    canonical = json.dumps(
        kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _contains(before: Any, after: Any) -> bool:
    """True when `before` already holds `after` (dicts may have extra keys, lists match 1:1)."""
    if isinstance(after, Mapping):
        return isinstance(before, Mapping) and all(
            key in before and _contains(before[key], value) for key, value in after.items()
        )
    if isinstance(after, list | tuple):
        return (
            isinstance(before, list | tuple)
            and len(before) == len(after)
            and all(_contains(b, a) for b, a in zip(before, after, strict=True))
        )
    return before == after
