"""Google Artifact Registry provisioning as idempotent `ensure_*` steps.

Each step reads the current state, changes nothing when it already matches and
otherwise makes the smallest change, so a re-run after any failure converges.
The repository and the service account are ensured in parallel; the writer
binding and the key start as soon as their inputs exist.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bhsvc import files
from bhsvc.config import Config
from bhsvc.errors import BhsvcError, OperationError, UsageError
from bhsvc.registry import keys
from bhsvc.registry.gcp_errors import Action, is_refused_unprocessed, is_transient, translate
from bhsvc.registry.policy import add_member
from bhsvc.registry.retry import Deadline, RetryPolicy, backoff_delays, call_with_retry
from bhsvc.ui import StepResult

if TYPE_CHECKING:
    from google.cloud.artifactregistry_v1 import Repository
    from google.iam.v1.iam_policy_pb2 import SetIamPolicyRequest

    from bhsvc.registry.gcp_clients import GcpClients

T = TypeVar("T")

WRITER_ROLE = "roles/artifactregistry.writer"
MANAGED_LABEL = ("managed-by", "bhsvc")

CREATED = "created"
PRESENT = "already present"
CHANGED = "changed"
SKIPPED = "skipped"

REPOSITORY_STEP = "Artifact Registry repository"
ACCOUNT_STEP = "pusher service account"
BINDING_STEP = "writer role on the repository"
KEY_STEP = "pusher key"
STEP_ORDER = (REPOSITORY_STEP, ACCOUNT_STEP, BINDING_STEP, KEY_STEP)

_AR_ADMIN = "roles/artifactregistry.admin"
_SA_ADMIN = "roles/iam.serviceAccountAdmin"
_KEY_ADMIN = "roles/iam.serviceAccountKeyAdmin"


@dataclass(frozen=True)
class GarTarget:
    """What to provision, with every Google resource name derived in one place."""

    project: str
    region: str
    repository: str
    account_id: str
    key_file: Path

    @classmethod
    def from_config(cls, config: Config) -> GarTarget:
        gar = config.registry.gar
        if gar is None:
            raise UsageError("registry.gar: this config does not use Google Artifact Registry")
        return cls(
            gar.project, gar.region, gar.repository, config.service_account_id, config.key_file
        )

    @property
    def location_name(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def repository_name(self) -> str:
        return f"{self.location_name}/repositories/{self.repository}"

    @property
    def email(self) -> str:
        return f"{self.account_id}@{self.project}.iam.gserviceaccount.com"

    @property
    def account_name(self) -> str:
        return f"projects/{self.project}/serviceAccounts/{self.email}"

    @property
    def image_path(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.repository}"


@dataclass
class ProvisionReport:
    steps: list[StepResult]
    warnings: list[str]
    key_file: Path


class _Skipped(Exception):
    """A step did not run because a step it needs failed."""


@dataclass
class _Outcome:
    status: str
    detail: str
    value: Any = None


@dataclass
class GarProvisioner:
    clients: GcpClients
    target: GarTarget
    rotate_key: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_step: Callable[[StepResult], None] | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._deadline = Deadline(self.policy.deadline)
        self._results: dict[str, StepResult] = {}
        self._warnings: list[str] = []
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        # Set when this run created the service account: IAM may not know it yet.
        self._account_is_new = threading.Event()

    # ---- plumbing --------------------------------------------------------

    def _warn(self, message: str) -> None:
        with self._lock:
            self._warnings.append(message)

    def _call(
        self,
        action: Action,
        fn: Callable[[float], T],
        handled: tuple[type[BaseException], ...] = (),
        idempotent: bool = True,
    ) -> T:
        """One API call with retries (none for a call that must not happen twice);
        errors in `handled` reach the caller untranslated."""
        if self._cancelled.is_set():
            raise OperationError("provisioning interrupted")
        try:
            return call_with_retry(
                fn,
                policy=self.policy,
                deadline=self._deadline,
                transient=is_transient if idempotent else is_refused_unprocessed,
                sleep=self.sleep,
            )
        except handled:
            raise
        except Exception as err:
            raise translate(err, action) from err

    def _pause(self, next_delay: Callable[[], float], what: str) -> None:
        pause = next_delay()
        if self._deadline.remaining() < pause:
            raise OperationError(
                f"{what}: gave up, the {self.policy.deadline:.0f} s deadline passed"
            )
        self.sleep(pause)

    def _step(
        self, name: str, fn: Callable[[], _Outcome], needs: Sequence[Future[Any]] = ()
    ) -> Any:
        result = StepResult(name)
        start = time.monotonic()
        try:
            for dependency in needs:
                if dependency.exception() is not None:
                    result.status = SKIPPED
                    result.detail = "a step it needs failed"
                    raise _Skipped(name)
            outcome = fn()
            result.status, result.detail = outcome.status, outcome.detail
            return outcome.value
        except _Skipped:
            raise
        except BaseException as err:
            result.status = "failed"
            result.detail = str(err) if isinstance(err, BhsvcError) else type(err).__name__
            raise
        finally:
            result.seconds = time.monotonic() - start
            with self._lock:
                self._results[name] = result
            if self.on_step is not None:
                self.on_step(result)

    # ---- the steps ------------------------------------------------------

    def _get_repository(
        self, action: Action, handled: tuple[type[BaseException], ...] = ()
    ) -> Repository:
        client = self.clients.artifact_registry
        name = self.target.repository_name
        return self._call(
            action,
            lambda timeout: client.get_repository(name=name, retry=None, timeout=timeout),
            handled,
        )

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
        if repo.labels.get(MANAGED_LABEL[0]) != MANAGED_LABEL[1]:
            return f"{self.target.image_path} (not created by bhsvc; left as it is)"
        return self.target.image_path

    def ensure_repository(self) -> _Outcome:
        from google.api_core import exceptions as gexc
        from google.cloud.artifactregistry_v1 import Repository

        target = self.target
        client = self.clients.artifact_registry
        read = Action(
            "read the repository",
            target.repository_name,
            "artifactregistry.repositories.get",
            "roles/artifactregistry.reader",
        )
        try:
            repo = self._get_repository(read, handled=(gexc.NotFound,))
            return _Outcome(PRESENT, self._check_repository(repo))
        except gexc.NotFound:
            pass
        create = Action(
            "create the repository",
            target.location_name,
            "artifactregistry.repositories.create",
            _AR_ADMIN,
        )
        wanted = Repository(
            format_=Repository.Format.DOCKER,
            mode=Repository.Mode.STANDARD_REPOSITORY,
            description="Images built by BinderHub",
            labels=dict([MANAGED_LABEL]),
        )
        try:
            operation = self._call(
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
            return _Outcome(PRESENT, self._check_repository(self._get_repository(read)))
        self._wait_for(operation.operation.name, create)
        return _Outcome(CREATED, target.image_path)

    def _wait_for(self, operation_name: str, action: Action) -> None:
        """Poll a long-running operation until done, within the run's deadline."""
        from google.longrunning import operations_pb2

        client = self.clients.artifact_registry
        poll = Action(
            f"{action.what} (waiting for the operation)",
            operation_name,
            "artifactregistry.repositories.get",
            "roles/artifactregistry.reader",
        )
        next_delay = backoff_delays(RetryPolicy(initial=0.2, maximum=2.0, multiplier=1.5))
        request = operations_pb2.GetOperationRequest(name=operation_name)
        while True:
            op = self._call(
                poll, lambda timeout: client.get_operation(request, retry=None, timeout=timeout)
            )
            if op.done:
                break
            self._pause(next_delay, f"could not {action.what}")
        if op.HasField("error"):
            raise OperationError(
                f"could not {action.what} ({action.resource}): {op.error.message} "
                f"(code {op.error.code})"
            )

    def ensure_service_account(self) -> _Outcome:
        from google.api_core import exceptions as gexc
        from google.cloud.iam_admin_v1 import types

        target = self.target
        client = self.clients.iam
        read = Action(
            "read the service account",
            target.account_name,
            "iam.serviceAccounts.get",
            "roles/iam.serviceAccountViewer",
        )

        def get(timeout: float) -> types.ServiceAccount:
            return client.get_service_account(name=target.account_name, retry=None, timeout=timeout)

        try:
            account = self._call(read, get, handled=(gexc.NotFound,))
            status = PRESENT
        except gexc.NotFound:
            create = Action(
                "create the service account",
                f"projects/{target.project}",
                "iam.serviceAccounts.create",
                _SA_ADMIN,
            )
            request = types.CreateServiceAccountRequest(
                name=f"projects/{target.project}",
                account_id=target.account_id,
                service_account=types.ServiceAccount(
                    display_name="BinderHub image pusher",
                    description=f"Pushes BinderHub images to {target.image_path} (bhsvc)",
                ),
            )
            try:
                account = self._call(
                    create,
                    lambda timeout: client.create_service_account(
                        request=request, retry=None, timeout=timeout
                    ),
                    handled=(gexc.AlreadyExists,),
                )
                status = CREATED
                self._account_is_new.set()
            except gexc.AlreadyExists:
                account = self._call(read, get)
                status = PRESENT
        if account.disabled:
            self._warn(
                f"service account {account.email} is disabled: pushes will fail until enabled"
            )
        return _Outcome(status, account.email, account.email)

    def ensure_writer_binding(self, email: str) -> _Outcome:
        """Grant the writer role on the repository (not the project), by read-modify-write."""
        from google.api_core import exceptions as gexc
        from google.iam.v1 import iam_policy_pb2, options_pb2

        target = self.target
        client = self.clients.artifact_registry
        member = f"serviceAccount:{email}"
        read = Action(
            "read the repository's IAM policy",
            target.repository_name,
            "artifactregistry.repositories.getIamPolicy",
            _AR_ADMIN,
        )
        write = Action(
            "grant the writer role on the repository",
            target.repository_name,
            "artifactregistry.repositories.setIamPolicy",
            _AR_ADMIN,
        )
        get_request = iam_policy_pb2.GetIamPolicyRequest(
            resource=target.repository_name,
            options=options_pb2.GetPolicyOptions(requested_policy_version=3),
        )
        next_delay = backoff_delays(self.policy)
        while True:
            policy = self._call(
                read,
                lambda timeout: client.get_iam_policy(
                    request=get_request, retry=None, timeout=timeout
                ),
            )
            if not add_member(policy, WRITER_ROLE, member):
                return _Outcome(PRESENT, f"{WRITER_ROLE} for {email}")
            # The policy carries the etag it was read with: a concurrent change
            # makes the write fail with ABORTED (409) instead of losing that change.
            set_request = iam_policy_pb2.SetIamPolicyRequest(
                resource=target.repository_name, policy=policy
            )
            try:
                self._set_policy(set_request, write, handled=(gexc.Conflict, gexc.BadRequest))
                return _Outcome(CHANGED, f"{WRITER_ROLE} for {email}")
            except gexc.Conflict:
                self._pause(next_delay, f"could not {write.what}: the policy kept changing")
            except gexc.BadRequest as err:
                # A service account created seconds ago may not be visible to
                # other services yet: IAM answers that it does not exist.
                if "does not exist" not in str(err.message):
                    raise translate(err, write) from err
                self._pause(next_delay, f"could not {write.what}: {email} is still unknown")

    def _set_policy(
        self,
        request: SetIamPolicyRequest,
        action: Action,
        handled: tuple[type[BaseException], ...],
    ) -> None:
        client = self.clients.artifact_registry
        self._call(
            action,
            lambda timeout: client.set_iam_policy(request=request, retry=None, timeout=timeout),
            handled,
        )

    def _keep_private(self, path: Path) -> None:
        """A reused key file readable by others (copied, unpacked) is made 0600 again."""
        warning = files.make_private(path)
        if warning:
            self._warn(warning)

    def _key_ids(self) -> list[str]:
        """The ids of the service account's user-managed keys."""
        from google.api_core import exceptions as gexc
        from google.cloud.iam_admin_v1 import types

        target, client = self.target, self.clients.iam
        action = Action(
            "list the service account's keys",
            target.account_name,
            "iam.serviceAccountKeys.list",
            _KEY_ADMIN,
        )
        request = types.ListServiceAccountKeysRequest(
            name=target.account_name,
            key_types=[types.ListServiceAccountKeysRequest.KeyType.USER_MANAGED],
        )
        next_delay = backoff_delays(self.policy)
        while True:
            try:
                listing = self._call(
                    action,
                    lambda timeout: client.list_service_account_keys(
                        request=request, retry=None, timeout=timeout
                    ),
                    handled=(gexc.NotFound,),
                )
                return [keys.key_id_from_name(key.name) for key in listing.keys]
            except gexc.NotFound as err:
                # IAM is eventually consistent: an account created seconds ago may
                # be unknown to this call for a while.
                if not self._account_is_new.is_set():
                    raise translate(err, action) from err
                self._pause(next_delay, f"could not {action.what}: {target.email} is still unknown")

    def _keys_made_anyway(self, before: list[str]) -> str:
        """After a failed create: keys that appeared all the same, and what to do."""
        try:
            new = [key for key in self._key_ids() if key not in before]
        except OperationError:
            return ""
        if not new:
            return ""
        email = self.target.email
        return (
            f"; Google made key {', '.join(new)} all the same, which no file holds: delete "
            f"it with gcloud iam service-accounts keys delete KEY_ID --iam-account {email}"
        )

    def ensure_key(self, email: str) -> _Outcome:
        from google.api_core import exceptions as gexc
        from google.cloud.iam_admin_v1 import types

        target = self.target
        client = self.clients.iam
        path = target.key_file
        existing = keys.read_key_file_info(path, email)
        listed = self._key_ids()
        plan = keys.plan_key(existing, listed, email, self.rotate_key)
        for warning in plan.warnings:
            self._warn(warning)
        if plan.action is keys.KeyAction.REUSE and existing is not None:
            self._keep_private(path)
            return _Outcome(PRESENT, f"key {existing.key_id[:12]} in {path}")
        try:  # before the key exists: a folder that cannot be made leaves no key behind
            files.make_private_dir(path.parent)
        except OSError as err:
            raise OperationError(f"{path}: cannot create its folder ({err.strerror})") from None
        create = Action(
            "create a key for the service account",
            target.account_name,
            "iam.serviceAccountKeys.create",
            _KEY_ADMIN,
        )
        try:
            created = self._call(
                create,
                lambda timeout: client.create_service_account_key(
                    request=types.CreateServiceAccountKeyRequest(
                        name=target.account_name,
                        private_key_type=types.ServiceAccountPrivateKeyType.TYPE_GOOGLE_CREDENTIALS_FILE,
                    ),
                    retry=None,
                    timeout=timeout,
                ),
                handled=(gexc.FailedPrecondition,),
                # A create whose answer was lost may have made a key: never a second one.
                idempotent=False,
            )
        except gexc.FailedPrecondition as err:
            raise OperationError(
                f"could not create a key for {email}: {err.message} (an organization policy "
                "such as constraints/iam.disableServiceAccountKeyCreation may forbid keys)"
            ) from err
        except OperationError as err:
            raise OperationError(f"{err}{self._keys_made_anyway(listed)}") from None
        new_id = keys.key_id_from_name(created.name)
        text = keys.key_file_text(created.private_key_data, new_id)
        del created  # hold the key material no longer than needed
        try:
            files.write_atomic(path, text, files.SECRET_MODE, durable=True)
        except OSError as err:
            raise OperationError(
                f"{path}: cannot write the new key ({err.strerror}); key {new_id[:12]} was "
                f"created on {email} and should be deleted"
            ) from None
        del text
        if plan.action is keys.KeyAction.CREATE or plan.old_key_id is None:
            return _Outcome(CREATED, f"key {new_id[:12]} written to {path}")
        old_name = f"{target.account_name}/keys/{plan.old_key_id}"
        try:
            with contextlib.suppress(gexc.NotFound):  # already gone: the goal is reached
                self._call(
                    Action(
                        "delete the old key", old_name, "iam.serviceAccountKeys.delete", _KEY_ADMIN
                    ),
                    lambda timeout: client.delete_service_account_key(
                        name=old_name, retry=None, timeout=timeout
                    ),
                    handled=(gexc.NotFound,),
                )
        except OperationError as err:
            # The new key is in the key file: a rerun with --rotate-key would rotate
            # away from it and leave this old key behind, so say how to finish.
            raise OperationError(
                f"{err}; the new key {new_id[:12]} is in {path}, the old key "
                f"{plan.old_key_id} still works: delete it with gcloud iam "
                f"service-accounts keys delete {plan.old_key_id} --iam-account {email}"
            ) from None
        return _Outcome(
            CHANGED,
            f"key {new_id[:12]} written to {path}; old key {plan.old_key_id[:12]} deleted",
        )

    # ---- orchestration ----------------------------------------------------

    def run(self) -> ProvisionReport:
        """Ensure everything; raises the first failure after every step has ended."""
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bhsvc-gar")
        try:
            repo = pool.submit(self._step, REPOSITORY_STEP, self.ensure_repository)
            account = pool.submit(self._step, ACCOUNT_STEP, self.ensure_service_account)
            key = pool.submit(
                self._step, KEY_STEP, lambda: self.ensure_key(account.result()), (account,)
            )
            binding = pool.submit(
                self._step,
                BINDING_STEP,
                lambda: self.ensure_writer_binding(account.result()),
                (repo, account),
            )
            futures = [repo, account, binding, key]
            wait(futures)
        except BaseException:
            # Ctrl-C: stop before the next API call; calls in flight end by their timeout.
            self._cancelled.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        steps = [self._results[name] for name in STEP_ORDER if name in self._results]
        report = ProvisionReport(steps, list(self._warnings), self.target.key_file)
        for future in futures:
            err = future.exception()
            if err is not None and not isinstance(err, _Skipped):
                raise ProvisionError(report, err)
        return report


class ProvisionError(OperationError):
    """A failed run, carrying the report of the steps that did run."""

    def __init__(self, report: ProvisionReport, cause: BaseException) -> None:
        message = (
            str(cause) if isinstance(cause, BhsvcError) else f"{type(cause).__name__}: {cause}"
        )
        super().__init__(message)
        self.report = report
        self.exit_code = cause.exit_code if isinstance(cause, BhsvcError) else 1
