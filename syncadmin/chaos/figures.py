"""The figures of one phase of the trials, their verdicts against the targets, and the
report lines `manage.py chaos_sync` prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncadmin.chaos.options import TARGET_KILLS, TARGET_NEXT_RUN_SECONDS, ChaosOptions


@dataclass
class PhaseFigures:
    master: str
    phase: str  # "kill" or "faults"
    expected: int = 0
    kills: int = 0
    kills_in_run: int = 0  # the killed process was in the middle of its run
    next_run: list[float | None] = field(default_factory=list)  # None: not within the limit
    cleared_by_hand: int = 0
    real_runs: int = 0
    skipped_runs: int = 0
    crashed_runs: list[str] = field(default_factory=list)
    converged: bool = False
    runs_to_converge: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)  # faults served, by kind
    probes: int = 0
    probes_placed: int = 0  # of them, with hand-kept data on their destination
    wall: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        source, destination = systems(self.master)
        what = "kill -9 trials" if self.phase == "kill" else "fault run"
        return f"{source} → {destination} ({source} master), {what}"

    @property
    def kinds_not_served(self) -> list[str]:
        from connectors.sandboxes.server import FAULT_KINDS

        return [kind for kind in FAULT_KINDS if not self.faults.get(kind)]

    @property
    def slowest_next_run(self) -> float | None:
        """The longest wait from a kill to the next real run; None when one never came."""
        if any(wait is None for wait in self.next_run):
            return None
        return max((w for w in self.next_run if w is not None), default=0.0)

    def misses(self, kills_asked: int) -> list[str]:
        checks: list[tuple[bool, str]] = [
            (self.converged, "did not converge"),
            (not self.duplicates, f"{len(self.duplicates)} duplicates"),
            (not self.lost, f"{len(self.lost)} lost"),
            (not self.damaged, f"{len(self.damaged)} damaged"),
        ]
        if self.phase == "faults":
            checks.append((not self.kinds_not_served, f"no {self.kinds_not_served} fault served"))
        if self.phase == "kill":
            slowest = self.slowest_next_run
            checks += [
                (self.kills >= kills_asked, f"{self.kills} kills of {kills_asked} asked"),
                (not self.ghosts, f"{len(self.ghosts)} runs left running"),
                (
                    slowest is not None and slowest <= TARGET_NEXT_RUN_SECONDS,
                    f"next run after a kill in {_seconds(slowest)}",
                ),
            ]
        return [f"{self.title}: {message}" for ok, message in checks if not ok]

    def lines(self, kills_asked: int) -> list[str]:
        def verdict(ok: bool) -> str:
            return "ok" if ok else "MISSED"

        lines = [f"== {self.title}: {self.wall:.0f} s"]
        if self.phase == "kill":
            smaller = f" (the target asks {TARGET_KILLS})" if kills_asked < TARGET_KILLS else ""
            lines.append(
                f"  kills {self.kills} ({self.kills_in_run} in the middle of a run)"
                f"{smaller}   target {kills_asked}: {verdict(self.kills >= kills_asked)}"
            )
            # A kill after which no run came within the limit ranks as the longest wait.
            waits = sorted(self.next_run, key=lambda w: float("inf") if w is None else w)
            slowest = self.slowest_next_run
            median = waits[len(waits) // 2] if waits else None
            lines.append(
                f"  next real run after a kill: slowest {_seconds(slowest)}, median "
                f"{_seconds(median)}   target within {TARGET_NEXT_RUN_SECONDS:g} s: "
                f"{verdict(slowest is not None and slowest <= TARGET_NEXT_RUN_SECONDS)}"
            )
            if self.cleared_by_hand:
                lines.append(
                    f"    {self.cleared_by_hand} kills left a lease no run could take within "
                    "the limit; the harness cleared it by hand to go on"
                )
        if self.phase == "faults":
            served = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
            lines.append(
                f"  faults served: {served or 'none'}   target every kind: "
                f"{verdict(not self.kinds_not_served)}"
            )
        lines.append(
            f"  runs that ended by themselves {self.real_runs}, skipped {self.skipped_runs}; "
            "converged "
            f"{'after ' + str(self.runs_to_converge) + ' runs' if self.converged else 'NO'}"
            f"   target converges: {verdict(self.converged)}"
        )
        for label, items in (
            ("duplicates", self.duplicates),
            ("lost", self.lost),
            (
                f"damaged (of {self.probes} records with hand-kept data, "
                f"{self.probes_placed} on their destination)",
                self.damaged,
            ),
        ):
            lines.append(f"  {label} {len(items)}   target 0: {verdict(not items)}")
            lines.extend(f"    {item}" for item in items[:10])
            if len(items) > 10:
                lines.append(f"    ... and {len(items) - 10} more")
        if self.phase == "kill":
            lines.append(
                f"  runs left running {len(self.ghosts)}   target 0: {verdict(not self.ghosts)}"
            )
            lines.extend(f"    {ghost}" for ghost in self.ghosts[:5])
        lines.append(
            f"  every expected record ({self.expected}) synced once: "
            f"{verdict(not self.duplicates and not self.lost)}"
        )
        lines.extend(f"  crashed: {crash}" for crash in self.crashed_runs[:5])
        lines.extend(f"  note: {note}" for note in self.notes)
        return lines


@dataclass
class ChaosReport:
    options: ChaosOptions
    phases: list[PhaseFigures] = field(default_factory=list)

    @property
    def misses(self) -> list[str]:
        return [m for phase in self.phases for m in phase.misses(self.options.kills)]


def _seconds(value: float | None) -> str:
    return "never (past the limit)" if value is None else f"{value:.1f} s"


def systems(master: str) -> tuple[str, str]:
    return ("Zuora", "NetSuite") if master == "zuora" else ("NetSuite", "Zuora")
