"""Both Google Cloud fakes at once, with the environment that points bhsvc at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fakes import gcp_artifact_registry, gcp_iam
from fakes.gcp_common import summary


@dataclass
class Gcp:
    artifact_registry: gcp_artifact_registry.FakeArtifactRegistry
    iam: gcp_iam.FakeIam
    env: dict[str, str]

    def set_latency(self, seconds: float) -> None:
        self.artifact_registry.latency = seconds
        self.iam.latency = seconds

    def requests(self) -> int:
        return len(self.artifact_registry.calls()) + len(self.iam.calls())

    def mutating(self) -> list[str]:
        return [
            r.method for r in self.artifact_registry.mutating_calls() + self.iam.mutating_calls()
        ]

    def reset_log(self) -> None:
        self.artifact_registry.reset_log()
        self.iam.reset_log()

    def summary(self) -> dict[str, float]:
        return summary(self.artifact_registry, self.iam)


@contextmanager
def serve_gcp() -> Iterator[Gcp]:
    with gcp_artifact_registry.serve() as (ar, ar_url), gcp_iam.serve() as (iam, iam_address):
        ar.account_exists = iam.has_account
        env = {
            "BHSVC_ARTIFACT_REGISTRY_ENDPOINT": ar_url,
            "BHSVC_IAM_ENDPOINT": iam_address,
        }
        yield Gcp(ar, iam, env)
