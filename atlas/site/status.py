"""What the pages say about a unit that has no accentuation (or visualization) yet, and why.

``atlas build`` records its state and the units it plans to accentuate and visualize in the
manifest's ``build`` record (:func:`atlas.pipeline.progressive.mark_build`). From it, a unit without
accentuations is either *pending* (the build was still running when the page was written), *not
chosen* (outside the build's ``units`` setting), or *missing* from a finished build. Runs made
another way (``atlas mine``, or before the record existed) have no record: the page then says
only that this run has no accentuation for the unit, which is all that is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atlas.site.content import Unit

PENDING = ("Accentuation pending — the build was still running when this page was written; "
           "reload later to see it.")


@dataclass(frozen=True)
class BuildStatus:
    """The manifest's ``build`` record, read defensively (it is user-editable JSON)."""

    state: str  # "running", "done", or "" when the run has no record
    planned: dict[str, frozenset[int]]
    spec: str  # the build's units setting ("" = all units of the planned layer)

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> BuildStatus:
        rec = manifest.get("build")
        if not isinstance(rec, dict):
            return cls("", {}, "")
        planned = rec.get("planned") if isinstance(rec.get("planned"), dict) else {}
        units = {str(k): frozenset(int(u) for u in v if isinstance(u, int))
                 for k, v in planned.items() if isinstance(v, list)}
        state = rec.get("state") if rec.get("state") in ("running", "done") else ""
        return cls(state, units, str(rec.get("units") or ""))

    @property
    def running(self) -> bool:
        return self.state == "running"

    def planned_for(self, u: Unit) -> bool:
        return u.unit in self.planned.get(u.layer, frozenset())

    def accent_note(self, u: Unit) -> str:
        """Why ``u`` shows no accentuation ("" when it has some)."""
        if u.accents:
            return ""
        if not self.state:
            return "No accentuation in this run."
        if self.planned_for(u):
            return PENDING if self.running else (
                "No accentuation: the build finished without one for this unit "
                "(its seed images could not be used; see the run's manifest).")
        if u.layer not in self.planned:
            layers = ", ".join(sorted(self.planned)) or "no layer"
            return f"Not accentuated: this build accentuates units of {layers} only."
        return (f"Not accentuated: this build was asked for units {self.spec} only "
                "(the build's units setting or --units).")


def apply_status(units: list[Unit], status: BuildStatus) -> None:
    """Set each unit's note and pending flags for the templates."""
    for u in units:
        u.accent_note = status.accent_note(u)
        u.pending = status.running and status.planned_for(u) and not u.accents
        u.vis_pending = status.running and status.planned_for(u) and not u.vis_media
