"""Google Artifact Registry provisioning as idempotent `ensure_*` steps.

Each step reads the current state (its `observe_*` companion is that read on
its own), changes nothing when it already matches and otherwise makes the
smallest change, so a re-run after any failure converges. The steps run one
after another, in the order their inputs need: repository, pusher service
account, writer role; then with `auth: key` the pusher key (and, with a hub,
a pull account, its reader role and key), or with `auth: workload-identity`
the Workload Identity binding for BinderHub's Kubernetes ServiceAccount, the
nodes' service account and its reader role. With `registry.gar.cleanup` the
repository gets cleanup policies right after it (cleanup.py decides them).
google.api_core's Retry retries the calls, all within one deadline for the
whole run (gar_calls.py); roles are granted by iam_policies.py, the keys kept
by gar_keys.py and the nodes' account found by gar_nodes.py.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bhsvc import naming
from bhsvc.config import Config
from bhsvc.config.model import PULLER, PUSHER
from bhsvc.errors import BhsvcError, OperationError, UsageError
from bhsvc.registry import cleanup
from bhsvc.registry.gar_calls import (
    CHANGED,
    CREATED,
    PRESENT,
    SKIPPED,
    GcpCalls,
    Handled,
    Outcome,
    RetryPolicy,
)
from bhsvc.registry.gar_keys import KeyHolder, KeyKeeper
from bhsvc.registry.gar_nodes import NodeAccount
from bhsvc.registry.gcp_errors import Action, printable
from bhsvc.registry.iam_policies import Policies, PolicyOf, account_policy, repository_policy
from bhsvc.registry.roles import (
    AR_ADMIN,
    AR_READER,
    READER_ROLE,
    SA_ADMIN,
    SA_VIEWER,
    WORKLOAD_IDENTITY_ROLE,
    WRITER_ROLE,
)
from bhsvc.ui import StepResult

if TYPE_CHECKING:
    from google.cloud.artifactregistry_v1 import Repository
    from google.cloud.iam_admin_v1 import types as iam_types

    from bhsvc.config.registry import GarCleanup
    from bhsvc.registry.gcp_clients import GcpClients

__all__ = [
    "CHANGED",
    "CREATED",
    "PRESENT",
    "SKIPPED",
    "GarProvisioner",
    "GarTarget",
    "ProvisionError",
    "ProvisionReport",
    "RetryPolicy",
]

# How bhsvc marks what it creates: the repository by a label; a service account,
# which has no labels, by the end of its description.
MANAGED_LABEL = ("managed-by", "bhsvc")
ACCOUNT_MARK = "(bhsvc)"

REPOSITORY_STEP = "Artifact Registry repository"
CLEANUP_STEP = "cleanup policies"
ACCOUNT_STEP = "pusher service account"
BINDING_STEP = "writer role on the repository"
KEY_STEP = "pusher key"
WORKLOAD_IDENTITY_STEP = "Workload Identity for BinderHub"
NODE_ACCOUNT_STEP = "node service account"
NODE_READER_STEP = "reader role for the nodes"
PULL_ACCOUNT_STEP = "pull service account"
PULL_BINDING_STEP = "reader role for the pull account"
PULL_KEY_STEP = "pull key"

# GKE's node pools run as the project's Compute Engine default service account
# unless told otherwise: <project number>-compute@developer.gserviceaccount.com.
DELETE_OLD_KEYS = "bhsvc init --non-interactive --delete-old-keys"


@dataclass(frozen=True)
class GarTarget:
    """What to provision, with every Google resource name derived in one place."""

    project: str
    region: str
    repository: str
    pusher: KeyHolder
    puller: KeyHolder
    with_puller: bool = False  # auth key with a hub: the hub's users pull with their own key
    keyless: bool = False  # auth workload-identity
    # The Kubernetes ServiceAccount that acts as the pusher (Workload Identity).
    workload_member: str = ""
    node_account: str | None = None  # registry.gar.node_service_account
    cleanup: GarCleanup | None = None  # registry.gar.cleanup

    @classmethod
    def from_config(cls, config: Config) -> GarTarget:
        gar = config.registry.gar
        if gar is None:
            raise UsageError("registry.gar: this config does not use Google Artifact Registry")
        ksa = naming.binderhub_service_account(config)
        return cls(
            gar.project,
            gar.region,
            gar.repository,
            KeyHolder(config.service_account_id, gar.project, config.key_file),
            KeyHolder(
                config.pull_service_account_id,
                gar.project,
                config.pull_key_file,
                "registry.gar.pull_key_file",
            ),
            with_puller=config.needs_pull_key,
            keyless=gar.keyless,
            workload_member=f"serviceAccount:{gar.project}.svc.id.goog[{config.kube.namespace}/{ksa}]",
            node_account=gar.node_service_account,
            cleanup=gar.cleanup,
        )

    @property
    def location_name(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def repository_name(self) -> str:
        return f"{self.location_name}/repositories/{self.repository}"

    @property
    def email(self) -> str:
        return self.pusher.email

    @property
    def image_path(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.repository}"

    def key_holders(self) -> list[KeyHolder]:
        """The accounts whose key files this config involves: the ones it needs (auth
        key), or the ones left from auth key (workload-identity)."""
        return [self.pusher, *([self.puller] if self.with_puller or self.keyless else [])]


@dataclass
class ProvisionReport:
    steps: list[StepResult]
    warnings: list[str]
    key_file: Path | None  # the pusher's key file (auth key)
    pull_key_file: Path | None = None  # the pull account's key file (auth key with a hub)
    node_account: str | None = None  # who pulls on the nodes (workload-identity)


class _StillRunning(OperationError):
    """A long-running operation that is not done yet."""

    def __init__(self) -> None:
        super().__init__("the operation is still running")


@dataclass
class GarProvisioner:
    clients: GcpClients
    target: GarTarget
    rotate_key: bool = False
    delete_old_keys: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_step: Callable[[StepResult], None] | None = None
    on_note: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.calls = GcpCalls(self.clients, self.policy, self.on_note)
        self.policies = Policies(self.calls)
        self._steps: list[StepResult] = []
        self._failure: Exception | None = None
        self._repository: Repository | None = None  # as ensure_repository found it

    # ---- running the steps ------------------------------------------------------

    def _step(self, name: str, fn: Callable[[], Outcome], needs: Sequence[object] = ()) -> Any:
        """Run one step and report it. Its value, or None when it failed or was skipped:
        a failure is kept for run() to raise, and the steps that do not need it go on."""
        result = StepResult(name)
        start = time.monotonic()
        try:
            if any(value is None for value in needs):
                result.status, result.detail = SKIPPED, "a step it needs failed"
                return None
            outcome = fn()
            result.status, result.detail = outcome.status, outcome.detail
            return outcome.value
        except Exception as err:
            result.status = "failed"
            result.detail = str(err) if isinstance(err, BhsvcError) else type(err).__name__
            self._failure = self._failure or err
            return None
        except BaseException:  # Ctrl-C: stop now
            result.status, result.detail = "failed", "interrupted"
            raise
        finally:
            result.seconds = time.monotonic() - start
            self._steps.append(result)
            if self.on_step is not None:
                self.on_step(result)

    def run(self) -> ProvisionReport:
        """Ensure everything, in order; raises the first failure after the steps that
        could still run have run."""
        target = self.target
        image_path = self._step(REPOSITORY_STEP, self.ensure_repository)
        self._cleanup(image_path)
        email = self._step(
            ACCOUNT_STEP,
            lambda: self.ensure_service_account(target.pusher, PUSHER),
        )
        self._step(
            BINDING_STEP,
            lambda: self.ensure_repository_role(WRITER_ROLE, email),
            needs=(image_path, email),
        )
        report = ProvisionReport([], [], None)
        if target.keyless:
            self._step(
                WORKLOAD_IDENTITY_STEP, lambda: self.ensure_workload_identity(email), needs=(email,)
            )
            node = self._step(NODE_ACCOUNT_STEP, NodeAccount(self.calls, target).ensure)
            self._step(
                NODE_READER_STEP,
                lambda: self.ensure_repository_role(READER_ROLE, node),
                needs=(image_path, node),
            )
            report.node_account = node
            self._retire_keys()
        else:
            self._step(
                KEY_STEP,
                lambda: KeyKeeper(self.calls, target.pusher).ensure(email, self.rotate_key),
                needs=(email,),
            )
            report.key_file = target.pusher.key_file
            if target.with_puller:
                self._puller(image_path)
                report.pull_key_file = target.puller.key_file
        report.steps, report.warnings = list(self._steps), list(self.calls.warnings)
        if self._failure is not None:
            raise ProvisionError(report, self._failure)
        return report

    def _puller(self, image_path: str | None) -> None:
        """The account the hub's users pull with: reader on the repository, and its key."""
        puller = self.target.puller
        email = self._step(PULL_ACCOUNT_STEP, lambda: self.ensure_service_account(puller, PULLER))
        self._step(
            PULL_BINDING_STEP,
            lambda: self.ensure_repository_role(READER_ROLE, email),
            needs=(image_path, email),
        )
        self._step(
            PULL_KEY_STEP,
            lambda: KeyKeeper(self.calls, puller).ensure(email, self.rotate_key),
            needs=(email,),
        )

    def _retire_keys(self) -> None:
        """With Workload Identity, keys left from auth key are not needed: said, or
        deleted with --delete-old-keys. The pull account's is looked at only when its
        key file is there."""
        target = self.target
        for holder, name in ((target.pusher, KEY_STEP), (target.puller, PULL_KEY_STEP)):
            if holder is target.puller and not holder.key_file.exists():
                continue
            keeper = KeyKeeper(self.calls, holder)
            self._step(
                name, functools.partial(keeper.retire, self.delete_old_keys, DELETE_OLD_KEYS)
            )

    # ---- repository --------------------------------------------------------------

    def _get_repository(self, handled: Handled = ()) -> Repository:
        client = self.clients.artifact_registry
        name = self.target.repository_name
        read = Action("read the repository", name, "artifactregistry.repositories.get", AR_READER)
        return self.calls.call(
            read,
            lambda timeout: client.get_repository(name=name, retry=None, timeout=timeout),
            handled,
        )

    def observe_repository(self) -> Repository | None:
        """The repository, None when there is none."""
        from google.api_core import exceptions as gexc

        try:
            return self._get_repository(handled=(gexc.NotFound,))
        except gexc.NotFound:
            return None

    def _check_repository(self, repo: Repository) -> str:
        from google.cloud.artifactregistry_v1 import Repository

        if repo.format_ != Repository.Format.DOCKER:
            raise OperationError(
                f"repository {self.target.repository_name} exists with format "
                f"{repo.format_.name}, not DOCKER: choose another registry.gar.repository"
            )
        if repo.mode not in (Repository.Mode.STANDARD_REPOSITORY, Repository.Mode.MODE_UNSPECIFIED):
            raise OperationError(
                f"repository {self.target.repository_name} is a {repo.mode.name}, which cannot "
                "receive pushes: choose another registry.gar.repository"
            )
        if not repository_made_by_bhsvc(repo):
            return f"{self.target.image_path} (not created by bhsvc; left as it is)"
        return self.target.image_path

    def ensure_repository(self) -> Outcome:
        from google.api_core import exceptions as gexc
        from google.cloud.artifactregistry_v1 import Repository

        target = self.target
        repo = self._repository = self.observe_repository()
        if repo is not None:
            return Outcome(PRESENT, self._check_repository(repo), target.image_path)
        client = self.clients.artifact_registry
        create = Action(
            "create the repository",
            target.location_name,
            "artifactregistry.repositories.create",
            AR_ADMIN,
        )
        wanted = Repository(
            format_=Repository.Format.DOCKER,
            mode=Repository.Mode.STANDARD_REPOSITORY,
            description="Images built by BinderHub",
            labels=dict([MANAGED_LABEL]),
        )
        try:
            operation = self.calls.call(
                create,
                lambda timeout: client.create_repository(
                    parent=target.location_name,
                    repository_id=target.repository,
                    repository=wanted,
                    retry=None,
                    timeout=timeout,
                ),
                handled=(gexc.Conflict,),
            )
        except gexc.Conflict:
            # Created meanwhile, by someone else or by an attempt whose answer was lost.
            repo = self._get_repository()
            return Outcome(PRESENT, self._check_repository(repo), target.image_path)
        self._wait_for(operation.operation.name, create)
        return Outcome(CREATED, target.image_path, target.image_path)

    def _cleanup(self, image_path: str | None) -> None:
        """A step with a cleanup section, or to take away the policies an earlier one set."""
        found = self._repository.cleanup_policies if self._repository is not None else {}
        if self.target.cleanup is not None or any(map(cleanup.is_bhsvc, found)):
            self._step(CLEANUP_STEP, self.ensure_cleanup_policies, needs=(image_path,))

    def ensure_cleanup_policies(self, off: bool = False) -> Outcome:
        """bhsvc's policies as the config says (`off`: none), the repository's own kept:
        one update of the fields that differ, none when nothing does."""
        repo = self._repository
        if repo is None:  # created by this run, or not read yet (uninstall)
            repo = self._get_repository()
        change = cleanup.plan(repo, None if off else self.target.cleanup)
        detail = change.detail
        if not repository_made_by_bhsvc(repo):
            detail += " (on a repository not created by bhsvc)"
        if change.mask:
            client, name = self.clients.artifact_registry, self.target.repository_name
            update = Action(
                "set the repository's cleanup policies",
                name,
                "artifactregistry.repositories.update",
                AR_ADMIN,
            )
            request = change.request(name)
            self.calls.call(
                update,
                lambda timeout: client.update_repository(
                    request=request, retry=None, timeout=timeout
                ),
            )
        return Outcome(change.status, detail)

    def _wait_for(self, operation_name: str, action: Action) -> None:
        """Poll a long-running operation until it is done, within the run's deadline.

        A Retry on "still running" rather than the operation's own result(): over
        REST that polls with requests that have no timeout.
        """
        from google.longrunning import operations_pb2

        client = self.clients.artifact_registry
        poll = Action(
            f"{action.what} (waiting for its operation)",
            operation_name,
            "artifactregistry.repositories.get",
            AR_READER,
        )
        request = operations_pb2.GetOperationRequest(name=operation_name)

        def done() -> operations_pb2.Operation:
            op = self.calls.call(
                poll, lambda timeout: client.get_operation(request, retry=None, timeout=timeout)
            )
            if not op.done:
                raise _StillRunning
            return op

        op = self.calls.until_deadline(poll, done, lambda err: isinstance(err, _StillRunning))
        if op.HasField("error"):
            raise OperationError(
                f"could not {action.what} ({action.resource}): {printable(op.error.message)} "
                f"(code {op.error.code})"
            )

    # ---- service accounts ----------------------------------------------------------

    def _get_account(self, name: str, handled: Handled = ()) -> iam_types.ServiceAccount:
        client = self.clients.iam
        read = Action("read the service account", name, "iam.serviceAccounts.get", SA_VIEWER)
        return self.calls.call(
            read,
            lambda timeout: client.get_service_account(name=name, retry=None, timeout=timeout),
            handled,
        )

    def observe_service_account(
        self, holder: KeyHolder | None = None
    ) -> iam_types.ServiceAccount | None:
        """The service account (the pusher by default), None when there is none."""
        from google.api_core import exceptions as gexc

        name = (holder or self.target.pusher).account_name
        try:
            return self._get_account(name, handled=(gexc.NotFound,))
        except gexc.NotFound:
            return None

    def ensure_service_account(self, holder: KeyHolder, role: str = PUSHER) -> Outcome:
        from google.api_core import exceptions as gexc
        from google.cloud.iam_admin_v1 import types

        target = self.target
        account = self.observe_service_account(holder)
        status = PRESENT
        if account is None:
            client = self.clients.iam
            create = Action(
                "create the service account",
                f"projects/{holder.project}",
                "iam.serviceAccounts.create",
                SA_ADMIN,
            )
            what = "Pushes BinderHub images to" if role == PUSHER else "Pulls BinderHub images from"
            request = types.CreateServiceAccountRequest(
                name=f"projects/{holder.project}",
                account_id=holder.account_id,
                service_account=types.ServiceAccount(
                    display_name=f"BinderHub image {role}",
                    description=f"{what} {target.image_path} {ACCOUNT_MARK}",
                ),
            )
            try:
                account = self.calls.call(
                    create,
                    lambda timeout: client.create_service_account(
                        request=request, retry=None, timeout=timeout
                    ),
                    handled=(gexc.AlreadyExists,),
                )
                status = CREATED
                self.calls.new_accounts.add(account.email)
            except gexc.AlreadyExists:
                account = self._get_account(holder.account_name)
        if account.disabled:
            verb = "pushes" if role == PUSHER else "pulls"
            self.calls.warn(
                f"service account {account.email} is disabled: {verb} will fail until enabled"
            )
        return Outcome(status, account.email, account.email)

    # ---- roles (iam_policies.py) -------------------------------------------------------

    def repository_policy(self) -> PolicyOf:
        return repository_policy(self.clients, self.target.repository_name)

    def observe_repository_role(self, role: str, email: str) -> bool:
        """Whether `email` holds `role` on the repository, unconditionally."""
        return self.policies.holds(self.repository_policy(), role, f"serviceAccount:{email}")

    def ensure_repository_role(self, role: str, email: str) -> Outcome:
        """Grant `role` on the repository (not the project) to the service account `email`."""
        new = email in self.calls.new_accounts
        return self.policies.grant(self.repository_policy(), role, f"serviceAccount:{email}", new)

    def _account_policy(self, email: str) -> PolicyOf:
        # `projects/-` lets IAM find the project of an account other than the pusher.
        pusher = self.target.pusher
        name = (
            pusher.account_name if email == pusher.email else f"projects/-/serviceAccounts/{email}"
        )
        return account_policy(self.clients, name)

    # ---- Workload Identity ------------------------------------------------------------

    def observe_workload_identity(self, email: str) -> bool:
        """Whether BinderHub's Kubernetes ServiceAccount may act as `email`."""
        return self.policies.holds(
            self._account_policy(email), WORKLOAD_IDENTITY_ROLE, self.target.workload_member
        )

    def ensure_workload_identity(self, email: str) -> Outcome:
        """Let BinderHub's Kubernetes ServiceAccount act as the pusher: the role
        roles/iam.workloadIdentityUser on the pusher's own IAM policy."""
        new = email in self.calls.new_accounts
        member = self.target.workload_member
        return self.policies.grant(self._account_policy(email), WORKLOAD_IDENTITY_ROLE, member, new)


def repository_made_by_bhsvc(repo: Repository) -> bool:
    return bool(repo.labels.get(MANAGED_LABEL[0]) == MANAGED_LABEL[1])


def account_made_by_bhsvc(account: iam_types.ServiceAccount) -> bool:
    return str(account.description).endswith(ACCOUNT_MARK)


class ProvisionError(OperationError):
    """A failed run, carrying the report of the steps that did run."""

    def __init__(self, report: ProvisionReport, cause: BaseException) -> None:
        message = (
            str(cause) if isinstance(cause, BhsvcError) else f"{type(cause).__name__}: {cause}"
        )
        super().__init__(message)
        self.report = report
        self.exit_code = cause.exit_code if isinstance(cause, BhsvcError) else 1
