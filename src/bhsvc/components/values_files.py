"""The values files of both charts, written next to `bhsvc.yaml` for helm to read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bhsvc.errors import OperationError, UsageError
from bhsvc.files import SECRET_MODE, shown_path, write_if_changed
from bhsvc.lifecycle import Cluster, Observation, PlanStep, Removal, State
from bhsvc.ui import StepResult
from bhsvc.workdir import check_writable, remove_file, written_by_bhsvc


@dataclass
class ValuesFiles:
    """The files, readable by their owner only: bhsvc puts no secret in them, but the
    user's own values they carry (raw values, the hub files' profiles) may hold some."""

    files: dict[Path, str]
    # The run's input files, which are never written over.
    inputs: list[Path] = field(default_factory=list)
    name: str = "values files"
    _removable: list[Path] = field(default_factory=list, init=False, repr=False)

    @property
    def folder(self) -> Path:
        return next(iter(self.files)).parent

    def describe(self) -> PlanStep:
        names = ", ".join(path.name for path in self.files)
        return PlanStep(self.name, "files", f"write {names} in {shown_path(self.folder)}")

    def observe(self, cluster: Cluster | None = None) -> Observation:
        try:
            self._check()
        except UsageError as err:
            return Observation(State.DRIFTED, "cannot be written", err)
        stale = [path.name for path, text in self.files.items() if _text(path) != text]
        if not stale:
            return Observation(State.CONVERGED)
        missing = all(not path.exists() for path in self.files)
        state = State.MISSING if missing else State.DRIFTED
        return Observation(state, f"will write {', '.join(stale)}")

    def _check(self) -> None:
        for path in self.files:
            check_writable(path, self.inputs)

    def apply(self, cluster: Cluster | None, step: StepResult) -> None:
        self._check()
        changed = []
        for path, text in self.files.items():
            try:
                if write_if_changed(path, text, SECRET_MODE):
                    changed.append(path.name)
            except OSError as err:
                raise OperationError(
                    f"{shown_path(path)}: cannot write the values file ({err.strerror})"
                ) from None
        step.status = "written" if changed else "unchanged"
        step.detail = shown_path(self.folder)

    def removal(self, cluster: Cluster | None, earlier: Sequence[Removal]) -> Removal:
        """The files bhsvc wrote (they start with its header); the run's inputs and
        anything else stay."""
        self._removable = [
            path for path in self.files if path not in self.inputs and written_by_bhsvc(path)
        ]
        return Removal(
            self.name, "files", tuple(f"file {shown_path(path)}" for path in self._removable)
        )

    def remove(self, cluster: Cluster | None, step: StepResult) -> None:
        for path in self._removable:
            remove_file(path)
        step.status = "deleted"
        step.detail = ", ".join(path.name for path in self._removable)


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
