"""BinderHub's release under the 2i2c chart's names, which may be a release of the
2i2c chart that bhsvc takes over (see `bhsvc.takeover`)."""

from __future__ import annotations

from dataclasses import dataclass

from bhsvc.components.releases import Release
from bhsvc.helm import ROLLBACK_FLAGS
from bhsvc.lifecycle import Cluster, Observation, PlanStep


@dataclass
class TakenOverRelease(Release):
    """A release with `naming: 2i2c`: the first upgrades of a 2i2c release go without
    automatic rollback.

    bhsvc writes the 2i2c chart's push Secret itself, so its revisions do not hold
    it. helm before 4.2 cannot roll back to a revision that holds an object the
    failed one does not ("original object ... not found") and leaves the release
    half rolled back. So until a revision of bhsvc's chart is the deployed one
    (its values set `naming`), a failed upgrade is not rolled back: the release is
    left failed, every object in place and the old pods serving, and the next run
    upgrades it again.
    """

    rolls_back: bool = True

    def observe(self, cluster: Cluster) -> Observation:
        seen = super().observe(cluster)
        listed = self.listed
        ours = listed is not None and listed.get("status") == "deployed"
        ours = ours and "naming" in (self.deployed or {})
        self.rolls_back = listed is None or ours
        if not self.rolls_back:
            self.args = [arg for arg in self.args if arg not in ROLLBACK_FLAGS]
        return seen

    def describe(self) -> PlanStep:
        step = super().describe()
        if self.rolls_back:
            return step
        why = "without rollback on failure: a 2i2c revision may be the last good one"
        return PlanStep(step.name, step.action, f"{step.description} ({why})", step.command)
