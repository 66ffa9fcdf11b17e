"""Google Artifact Registry provisioning as idempotent `ensure_*` steps.

Each step reads the current state (its `observe_*` companion is that read on
its own), changes nothing when it already matches and otherwise makes the
smallest change, so a re-run after any failure converges. The steps run one
after another, in the order their inputs need: repository, service account,
writer binding, key. google.api_core's Retry retries the calls, all within one
deadline for the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bhsvc import files
from bhsvc.config import Config
from bhsvc.errors import BhsvcError, OperationError, UsageError
from bhsvc.registry import keyfile, keys
from bhsvc.registry.gcp_errors import (
    Action,
    deadline_passed,
    is_refused_unprocessed,
    is_transient,
    printable,
    still_failing,
    surely_not_done,
    translate,
)
from bhsvc.registry.policy import add_member, remove_member
from bhsvc.ui import StepResult

if TYPE_CHECKING:
    from google.cloud.artifactregistry_v1 import Repository
    from google.cloud.iam_admin_v1 import types as iam_types
    from google.iam.v1.policy_pb2 import Policy

    from bhsvc.registry.gcp_clients import GcpClients

T = TypeVar("T")
Handled = tuple[type[BaseException], ...]

WRITER_ROLE = "roles/artifactregistry.writer"
# How bhsvc marks what it creates: the repository by a label; a service account,
# which has no labels, by the end of its description.
MANAGED_LABEL = ("managed-by", "bhsvc")
ACCOUNT_MARK = "(bhsvc)"

CREATED = "created"
PRESENT = "already present"
CHANGED = "changed"
SKIPPED = "skipped"

REPOSITORY_STEP = "Artifact Registry repository"
ACCOUNT_STEP = "pusher service account"
BINDING_STEP = "writer role on the repository"
KEY_STEP = "pusher key"

_AR_ADMIN = "roles/artifactregistry.admin"
_AR_READER = "roles/artifactregistry.reader"
_SA_ADMIN = "roles/iam.serviceAccountAdmin"
_KEY_ADMIN = "roles/iam.serviceAccountKeyAdmin"


@dataclass(frozen=True)
class RetryPolicy:
    """The timing of a run's calls (google.api_core's Retry does the retrying)."""

    deadline: float = 120.0  # seconds for the whole run, across all calls and attempts
    initial: float = 0.5  # the first pause's upper bound (with jitter), then times multiplier
    maximum: float = 8.0
    multiplier: float = 2.0
    call_timeout: float = 30.0  # per attempt, cut to what is left of the deadline


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


@dataclass
class Outcome:
    """What a step did, and the value the steps after it need."""

    status: str
    detail: str
    value: Any = None


class _StillRunning(OperationError):
    """A long-running operation that is not done yet."""

    def __init__(self) -> None:
        super().__init__("the operation is still running")


def _fate(delete_command: str | None) -> str:
    """How a key no file holds was dealt with (see GarProvisioner._discard)."""
    return "deleted by bhsvc" if delete_command is None else f"delete it with {delete_command}"


@dataclass
class GarProvisioner:
    clients: GcpClients
    target: GarTarget
    rotate_key: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_step: Callable[[StepResult], None] | None = None
    on_note: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self._ends = time.monotonic() + self.policy.deadline
        self._steps: list[StepResult] = []
        self._warnings: list[str] = []
        self._failure: Exception | None = None
        # Set when this run created the service account: IAM may not know it yet.
        self._account_is_new = False

    # ---- calls, within the run's deadline ------------------------------------

    def _remaining(self) -> float:
        return self._ends - time.monotonic()

    def _until_deadline(
        self,
        action: Action,
        fn: Callable[[], T],
        retry_on: Callable[[Exception], bool],
        handled: Handled = (),
    ) -> T:
        """`fn()`, again while `retry_on` says an error is worth another try and the
        run's deadline allows; errors in `handled` reach the caller untranslated."""
        from google.api_core.exceptions import RetryError
        from google.api_core.retry import Retry

        remaining = self._remaining()
        if remaining <= 0:
            raise deadline_passed(action, self.policy.deadline)
        p = self.policy
        retry = Retry(
            predicate=retry_on,
            initial=p.initial,
            maximum=p.maximum,
            multiplier=p.multiplier,
            timeout=remaining,
        )
        start = time.monotonic()
        try:
            return retry(fn)()
        except handled:
            raise
        except RetryError as err:
            raise still_failing(action, time.monotonic() - start, err) from err.cause
        except BhsvcError:
            raise
        except Exception as err:
            raise translate(err, action) from err

    def _call(
        self,
        action: Action,
        rpc: Callable[[float], T],
        handled: Handled = (),
        idempotent: bool = True,
    ) -> T:
        """One API call, `rpc(timeout)`, retried on transient errors; a call that must
        not happen twice only when the service turned it away unprocessed."""
        # The Retry wraps each attempt, so each one's timeout is cut to what is left.
        return self._until_deadline(
            action,
            lambda: rpc(max(0.5, min(self.policy.call_timeout, self._remaining()))),
            is_transient if idempotent else is_refused_unprocessed,
            handled,
        )

    # ---- running the steps ------------------------------------------------------

    def _warn(self, message: str) -> None:
        self._warnings.append(message)

    def _note(self, message: str) -> None:
        if self.on_note is not None:
            self.on_note(message)

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
        image_path = self._step(REPOSITORY_STEP, self.ensure_repository)
        email = self._step(ACCOUNT_STEP, self.ensure_service_account)
        self._step(
            BINDING_STEP, lambda: self.ensure_writer_binding(email), needs=(image_path, email)
        )
        self._step(KEY_STEP, lambda: self.ensure_key(email), needs=(email,))
        report = ProvisionReport(list(self._steps), list(self._warnings), self.target.key_file)
        if self._failure is not None:
            raise ProvisionError(report, self._failure)
        return report

    # ---- repository --------------------------------------------------------------

    def _get_repository(self, handled: Handled = ()) -> Repository:
        client = self.clients.artifact_registry
        name = self.target.repository_name
        read = Action("read the repository", name, "artifactregistry.repositories.get", _AR_READER)
        return self._call(
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
        repo = self.observe_repository()
        if repo is not None:
            return Outcome(PRESENT, self._check_repository(repo), target.image_path)
        client = self.clients.artifact_registry
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
            repo = self._get_repository()
            return Outcome(PRESENT, self._check_repository(repo), target.image_path)
        self._wait_for(operation.operation.name, create)
        return Outcome(CREATED, target.image_path, target.image_path)

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
            _AR_READER,
        )
        request = operations_pb2.GetOperationRequest(name=operation_name)

        def done() -> operations_pb2.Operation:
            op = self._call(
                poll, lambda timeout: client.get_operation(request, retry=None, timeout=timeout)
            )
            if not op.done:
                raise _StillRunning
            return op

        op = self._until_deadline(poll, done, lambda err: isinstance(err, _StillRunning))
        if op.HasField("error"):
            raise OperationError(
                f"could not {action.what} ({action.resource}): {printable(op.error.message)} "
                f"(code {op.error.code})"
            )

    # ---- service account -----------------------------------------------------------

    def _get_account(self, handled: Handled = ()) -> iam_types.ServiceAccount:
        client = self.clients.iam
        name = self.target.account_name
        read = Action(
            "read the service account",
            name,
            "iam.serviceAccounts.get",
            "roles/iam.serviceAccountViewer",
        )
        return self._call(
            read,
            lambda timeout: client.get_service_account(name=name, retry=None, timeout=timeout),
            handled,
        )

    def observe_service_account(self) -> iam_types.ServiceAccount | None:
        """The pusher service account, None when there is none."""
        from google.api_core import exceptions as gexc

        try:
            return self._get_account(handled=(gexc.NotFound,))
        except gexc.NotFound:
            return None

    def ensure_service_account(self) -> Outcome:
        from google.api_core import exceptions as gexc
        from google.cloud.iam_admin_v1 import types

        target = self.target
        account = self.observe_service_account()
        status = PRESENT
        if account is None:
            client = self.clients.iam
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
                    description=f"Pushes BinderHub images to {target.image_path} {ACCOUNT_MARK}",
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
                self._account_is_new = True
            except gexc.AlreadyExists:
                account = self._get_account()
        if account.disabled:
            self._warn(
                f"service account {account.email} is disabled: pushes will fail until enabled"
            )
        return Outcome(status, account.email, account.email)

    # ---- writer role on the repository ------------------------------------------------

    def _read_policy(self) -> Policy:
        from google.iam.v1 import iam_policy_pb2, options_pb2

        client = self.clients.artifact_registry
        read = Action(
            "read the repository's IAM policy",
            self.target.repository_name,
            "artifactregistry.repositories.getIamPolicy",
            _AR_ADMIN,
        )
        request = iam_policy_pb2.GetIamPolicyRequest(
            resource=self.target.repository_name,
            options=options_pb2.GetPolicyOptions(requested_policy_version=3),
        )
        return self._call(
            read,
            lambda timeout: client.get_iam_policy(request=request, retry=None, timeout=timeout),
        )

    def observe_writer_binding(self, email: str) -> bool:
        """Whether `email` holds the writer role on the repository, unconditionally."""
        return not add_member(self._read_policy(), WRITER_ROLE, f"serviceAccount:{email}")

    def ensure_writer_binding(self, email: str) -> Outcome:
        """Grant the writer role on the repository (not the project), by read-modify-write."""
        from google.api_core import exceptions as gexc
        from google.iam.v1 import iam_policy_pb2

        target = self.target
        client = self.clients.artifact_registry
        detail = f"{WRITER_ROLE} for {email}"
        write = Action(
            "grant the writer role on the repository",
            target.repository_name,
            "artifactregistry.repositories.setIamPolicy",
            _AR_ADMIN,
        )

        def read_modify_write() -> Outcome:
            policy = self._read_policy()
            if not add_member(policy, WRITER_ROLE, f"serviceAccount:{email}"):
                return Outcome(PRESENT, detail)
            # The policy carries the etag it was read with: a concurrent change
            # makes the write fail with ABORTED (409) instead of losing that change.
            request = iam_policy_pb2.SetIamPolicyRequest(
                resource=target.repository_name, policy=policy
            )
            self._call(
                write,
                lambda timeout: client.set_iam_policy(request=request, retry=None, timeout=timeout),
                handled=(gexc.Conflict, gexc.BadRequest),
            )
            return Outcome(CHANGED, detail)

        def worth_again(err: Exception) -> bool:
            # ABORTED: the policy changed since it was read. "does not exist": a service
            # account created seconds ago may not be visible to other services yet.
            if isinstance(err, gexc.BadRequest):
                return "does not exist" in str(err.message)
            return isinstance(err, gexc.Conflict)

        return self._until_deadline(write, read_modify_write, worth_again)

    # ---- key ---------------------------------------------------------------------------

    def _account_name(self, email: str) -> str:
        # `projects/-` lets IAM find the project of an account other than the target's.
        if email == self.target.email:
            return self.target.account_name
        return f"projects/-/serviceAccounts/{email}"

    def list_keys(self, email: str, handled: Handled = ()) -> list[keys.ListedKey]:
        """The user-managed keys of `email`."""
        from google.api_core import exceptions as gexc
        from google.cloud.iam_admin_v1 import types

        client = self.clients.iam
        name = self._account_name(email)
        action = Action(
            "list the service account's keys", name, "iam.serviceAccountKeys.list", _KEY_ADMIN
        )
        request = types.ListServiceAccountKeysRequest(
            name=name, key_types=[types.ListServiceAccountKeysRequest.KeyType.USER_MANAGED]
        )

        def list_once() -> types.ListServiceAccountKeysResponse:
            return self._call(
                action,
                lambda timeout: client.list_service_account_keys(
                    request=request, retry=None, timeout=timeout
                ),
                handled=(gexc.NotFound,),
            )

        def unknown_yet(err: Exception) -> bool:
            # IAM is eventually consistent: an account created seconds ago may be
            # unknown to this call for a while.
            new = self._account_is_new and email == self.target.email
            return new and isinstance(err, gexc.NotFound)

        listing = self._until_deadline(action, list_once, unknown_yet, handled)
        return [
            keys.ListedKey(keys.key_id_from_name(key.name), key.valid_after_time)
            for key in listing.keys
        ]

    def observe_key(self, email: str) -> tuple[keys.KeyFileInfo | None, list[keys.ListedKey]]:
        """The key file's key (None without a key file) and the account's user-managed keys."""
        return keys.read_key_file_info(self.target.key_file, email), self.list_keys(email)

    def delete_key(self, email: str, key_id: str) -> None:
        """Delete a key of `email`; one already gone is fine (the goal is reached)."""
        client = self.clients.iam
        name = f"{self._account_name(email)}/keys/{key_id}"
        delete = Action(
            "delete a key of the service account",
            name,
            "iam.serviceAccountKeys.delete",
            _KEY_ADMIN,
        )
        self._delete(
            delete,
            lambda timeout: client.delete_service_account_key(
                name=name, retry=None, timeout=timeout
            ),
        )

    def _delete(self, action: Action, rpc: Callable[[float], T]) -> T | None:
        """A delete call (retried as any); None when the thing is gone already: the goal
        is reached (also when a lost answer hid that an earlier attempt deleted it)."""
        from google.api_core import exceptions as gexc

        try:
            return self._call(action, rpc, handled=(gexc.NotFound,))
        except gexc.NotFound:
            return None

    def _discard(self, email: str, key_id: str) -> str | None:
        """Delete a key no file holds: None when it is gone, else the command that deletes it."""
        try:
            self.delete_key(email, key_id)
        except OperationError:
            return keys.delete_command(key_id, email)
        return None

    def _keep_private(self, path: Path) -> None:
        """A reused key file readable by others (copied, unpacked) is made 0600 again."""
        warning = files.make_private(path)
        if warning:
            self._warn(warning)

    def _settle_pending(
        self, email: str, existing: keys.KeyFileInfo | None, listed: list[keys.ListedKey]
    ) -> list[keys.ListedKey]:
        """Finish what an interrupted run recorded: the keys it made that no key file holds
        (and the key its rotation replaced) are deleted, or named with the command that
        deletes them. Returns the keys of `email` still listed."""
        from google.api_core import exceptions as gexc

        path = self.target.key_file
        pending = keyfile.read_pending(path)
        if pending is None:
            return listed
        account = pending.account
        held = existing.key_id if existing is not None else None
        theirs = listed
        if account != email:  # the config named another account then: no file holds its keys
            held = None
            try:
                theirs = self.list_keys(account, handled=(gexc.NotFound,))
            except gexc.NotFound:  # the account is gone, and its keys with it
                theirs = []
        deleted = set()
        for key_id in keys.left_behind(pending, theirs, held):
            command = self._discard(account, key_id)
            if command is None:
                deleted.add(key_id)
            why = (
                f"was replaced in {path} by an init stopped before deleting it"
                if key_id == pending.replaces
                else f"was made by an init stopped before writing it to {path}"
            )
            self._warn(f"key {key_id} of {account} {why}: {_fate(command)}")
        keyfile.remove_pending(path)
        return [key for key in listed if key.key_id not in deleted]

    def ensure_key(self, email: str) -> Outcome:
        path = self.target.key_file
        try:  # before the key exists: a folder that cannot be made leaves no key behind
            files.make_private_dir(path.parent)
        except OSError as err:
            raise OperationError(f"{path}: cannot create its folder ({err.strerror})") from None
        # One run at a time per key file. The key file is read under the lock: the run
        # that held it may have just written a key.
        with keyfile.locked(path, max(0.0, self._remaining()), self._note):
            existing, listed = self.observe_key(email)
            listed = self._settle_pending(email, existing, listed)
            plan = keys.plan_key(existing, [key.key_id for key in listed], email, self.rotate_key)
            for warning in plan.warnings:
                self._warn(warning)
            if plan.action is keys.KeyAction.REUSE and existing is not None:
                self._keep_private(path)
                return Outcome(PRESENT, f"key {existing.key_id[:12]} in {path}")
            now = datetime.now(timezone.utc)
            pending = keys.PendingKey(
                account=email,
                started=now,
                until=now + timedelta(seconds=max(0.0, self._remaining())),
                keys_before=tuple(key.key_id for key in listed),
                replaces=plan.old_key_id,
            )
            new_id = self._create_key(pending, existing)
            if plan.old_key_id is None:
                keyfile.remove_pending(path)
                return Outcome(CREATED, f"key {new_id[:12]} written to {path}")
            self._finish_rotation(email, new_id, plan.old_key_id)
            return Outcome(
                CHANGED,
                f"key {new_id[:12]} written to {path}; old key {plan.old_key_id[:12]} deleted",
            )

    def _create_key(self, pending: keys.PendingKey, existing: keys.KeyFileInfo | None) -> str:
        """Record the intent, create a key and write it to the key file; its id.

        A key this makes that the file does not end up holding is deleted, or named
        with the command that deletes it.
        """
        from google.cloud.iam_admin_v1 import types

        target = self.target
        email, path = pending.account, target.key_file
        client = self.clients.iam
        keyfile.write_pending(path, pending)
        create = Action(
            "create a key for the service account",
            target.account_name,
            "iam.serviceAccountKeys.create",
            _KEY_ADMIN,
        )
        request = types.CreateServiceAccountKeyRequest(
            name=target.account_name,
            private_key_type=types.ServiceAccountPrivateKeyType.TYPE_GOOGLE_CREDENTIALS_FILE,
        )
        try:
            created = self._call(
                create,
                lambda timeout: client.create_service_account_key(
                    request=request, retry=None, timeout=timeout
                ),
                # A create whose answer was lost may have made a key: never a second one.
                idempotent=False,
            )
        except OperationError as err:
            made = self._made_anyway(pending, existing, err.__cause__)
            raise OperationError(f"{err}{made}") from None
        new_id = keys.key_id_from_name(created.name)
        try:
            text = keys.key_file_text(created.private_key_data, new_id)
            del created  # hold the key material no longer than needed
            files.write_atomic(path, text, files.SECRET_MODE, durable=True)
        except (OperationError, OSError) as err:
            problem = (
                f"{path}: cannot write the new key ({err.strerror})"
                if isinstance(err, OSError)
                else str(err)
            )
            command = self._discard(email, new_id)
            keyfile.remove_pending(path)
            raise OperationError(
                f"{problem}; key {new_id} was made all the same, {_fate(command)}; run init again"
            ) from None
        del text
        return new_id

    def _made_anyway(
        self,
        pending: keys.PendingKey,
        existing: keys.KeyFileInfo | None,
        cause: BaseException | None,
    ) -> str:
        """After a failed create: the keys it made all the same, deleted or named (to add
        to the error). The record stays when that cannot be settled now."""
        path = self.target.key_file
        if surely_not_done(cause):
            keyfile.remove_pending(path)
            return ""
        try:
            listed = self.list_keys(pending.account)
        except OperationError:
            return "; the next init checks whether a key was made all the same"
        made = keys.left_behind(pending, listed, existing.key_id if existing else None)
        if not made:
            return ""  # none listed yet: the record stays, and the next run looks again
        keyfile.remove_pending(path)
        return "".join(
            f"; Google made key {key_id} all the same, "
            f"{_fate(self._discard(pending.account, key_id))}"
            for key_id in made
        )

    def _finish_rotation(self, email: str, new_id: str, old_id: str) -> None:
        """Delete the key the new one replaces; the record goes once that is done or said."""
        path = self.target.key_file
        try:
            self.delete_key(email, old_id)
        except OperationError as err:
            # The new key is in the key file: a rerun with --rotate-key would rotate
            # away from it and leave this old key behind, so say how to finish.
            keyfile.remove_pending(path)
            raise OperationError(
                f"{err}; the new key {new_id[:12]} is in {path}, the old key {old_id} still "
                f"works: delete it with {keys.delete_command(old_id, email)}"
            ) from None
        keyfile.remove_pending(path)


def repository_made_by_bhsvc(repo: Repository) -> bool:
    return bool(repo.labels.get(MANAGED_LABEL[0]) == MANAGED_LABEL[1])


def account_made_by_bhsvc(account: iam_types.ServiceAccount) -> bool:
    return str(account.description).endswith(ACCOUNT_MARK)


@dataclass
class GarRemover(GarProvisioner):
    """The removing counterparts of the provisioning steps: each removes what bhsvc
    made and treats what is gone already as done, so a re-run converges."""

    def observe_images(self, limit: int = 3) -> list[str]:
        """Up to `limit` image (package) names in the repository."""
        from google.cloud.artifactregistry_v1 import ListPackagesRequest

        client = self.clients.artifact_registry
        parent = self.target.repository_name
        action = Action(
            "list the repository's images", parent, "artifactregistry.packages.list", _AR_READER
        )
        request = ListPackagesRequest(parent=parent, page_size=limit)
        found = self._call(
            action,
            lambda timeout: client.list_packages(request=request, retry=None, timeout=timeout),
        )
        # One page: its first `limit` names are enough to say it is not empty.
        names = [str(package.name).rpartition("/")[2] for package in found.packages]
        return names[:limit]

    def delete_repository(self) -> None:
        """Delete the repository and every image in it (a long-running operation)."""
        client = self.clients.artifact_registry
        name = self.target.repository_name
        delete = Action(
            "delete the repository", name, "artifactregistry.repositories.delete", _AR_ADMIN
        )
        operation = self._delete(
            delete,
            lambda timeout: client.delete_repository(name=name, retry=None, timeout=timeout),
        )
        if operation is not None:
            self._wait_for(operation.operation.name, delete)

    def remove_writer_binding(self, email: str) -> bool:
        """Take the writer role on the repository from `email` (read-modify-write, as
        granting); False when it does not hold it."""
        from google.api_core import exceptions as gexc
        from google.iam.v1 import iam_policy_pb2

        client = self.clients.artifact_registry
        target = self.target
        write = Action(
            "take the writer role on the repository back",
            target.repository_name,
            "artifactregistry.repositories.setIamPolicy",
            _AR_ADMIN,
        )

        def read_modify_write() -> bool:
            policy = self._read_policy()
            if not remove_member(policy, WRITER_ROLE, f"serviceAccount:{email}"):
                return False
            request = iam_policy_pb2.SetIamPolicyRequest(
                resource=target.repository_name, policy=policy
            )
            self._call(
                write,
                lambda timeout: client.set_iam_policy(request=request, retry=None, timeout=timeout),
                handled=(gexc.Conflict,),
            )
            return True

        # ABORTED: the policy changed since it was read; read it again.
        return self._until_deadline(
            write, read_modify_write, lambda err: isinstance(err, gexc.Conflict)
        )

    def delete_service_account(self) -> None:
        """Delete the pusher account (and with it every key it has); gone is fine."""
        client = self.clients.iam
        name = self.target.account_name
        delete = Action("delete the service account", name, "iam.serviceAccounts.delete", _SA_ADMIN)
        self._delete(
            delete,
            lambda timeout: client.delete_service_account(name=name, retry=None, timeout=timeout),
        )


class ProvisionError(OperationError):
    """A failed run, carrying the report of the steps that did run."""

    def __init__(self, report: ProvisionReport, cause: BaseException) -> None:
        message = (
            str(cause) if isinstance(cause, BhsvcError) else f"{type(cause).__name__}: {cause}"
        )
        super().__init__(message)
        self.report = report
        self.exit_code = cause.exit_code if isinstance(cause, BhsvcError) else 1
