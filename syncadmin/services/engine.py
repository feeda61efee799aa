"""What both sync directions share: recording outcomes, the watermark, injected faults.

A direction subclasses SyncEngine and says how to read its source records (`source_of`,
`parent_of`, `describe_outcome`); the run itself stays in the direction's module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from syncadmin.models import Outcome
from syncadmin.services.recording import AccountOutcome, Recorder

FaultHook = Callable[[str, dict[str, Any]], None]


class SyncEngine:
    recorder: Recorder
    watermark: datetime | None
    fault_hook: FaultHook | None

    def _init_watermark(self) -> None:
        self._newest_seen: datetime | None = None
        self._oldest_retryable: datetime | None = None

    # -- per direction ------------------------------------------------------------------------
    def _parent_id(self, record: dict[str, Any]) -> str | None:
        raise NotImplementedError

    def _outcome(self, item: Any, outcome: str, **values: Any) -> AccountOutcome:
        raise NotImplementedError

    def _source(self, item: Any) -> dict[str, Any]:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def _failure(
        self, item: Any, code: str, message: str, retryable: bool = False
    ) -> AccountOutcome:
        # A failure caused by the parent remembers it, so the record is read again only when
        # that parent changes or is linked (see selectors.open_failure_source_ids).
        parent = self._parent_id(self._source(item)) if code.startswith("PARENT_") else None
        return self._outcome(
            item,
            Outcome.FAILED,
            error_code=code,
            error_message=message,
            retryable=retryable,
            waiting_for=parent or "",
        )

    def _fault(self, point: str, context: dict[str, Any]) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point, context)

    def _record(self, outcome: AccountOutcome) -> None:
        at = outcome.selected_at
        if at is not None:
            if self._newest_seen is None or at > self._newest_seen:
                self._newest_seen = at
            if outcome.retryable:
                self._hold_watermark(at)
        self.recorder.add(outcome)

    def _hold_watermark(self, at: datetime) -> None:
        """Keep the next watermark at or before `at`, so that change is read again."""
        if self._oldest_retryable is None or at < self._oldest_retryable:
            self._oldest_retryable = at

    def _watermark_from_changes(self) -> datetime | None:
        """The newest change seen, but never past a retryable failure; never backwards."""
        if self._oldest_retryable is not None:
            return min(self._oldest_retryable, self._newest_seen or self._oldest_retryable)
        if self._newest_seen is None:
            return self.watermark
        if self.watermark is not None and self._newest_seen < self.watermark:
            return self.watermark
        return self._newest_seen
