"""A local IAM admin API (`google.iam.admin.v1.IAM`) over gRPC.

The service is registered with grpc generic handlers under the real method
paths, and every request and response is (de)serialized with the real message
types from `google.cloud.iam_admin_v1.types`, so the client library's gRPC
transport talks to it exactly as to iam.googleapis.com. Implemented:
GetServiceAccount, CreateServiceAccount, DeleteServiceAccount (its keys and
policy go with it), ListServiceAccounts (paged), ListServiceAccountKeys,
CreateServiceAccountKey, DeleteServiceAccountKey, and a service account's own
IAM policy, GetIamPolicy and SetIamPolicy (with `google.iam.v1` messages, as
the service speaks them). Other methods answer
UNIMPLEMENTED. Errors carry google.rpc.Status details (ErrorInfo,
PreconditionFailure) in the `grpc-status-details-bin` trailer, as Google's
services send them.

Service-account policies behave as IAM's: a new account's policy is empty
with the etag "ACAB"; every write gets a new etag, and a write carrying a stale
one is ABORTED; a role that cannot be granted on a service account, a member
account that does not exist, and a Workload Identity member
`serviceAccount:<project>.svc.id.goog[<namespace>/<name>]` of a project whose
pool does not exist yet (no cluster of it enabled Workload Identity:
`enable_workload_pool`) are INVALID_ARGUMENT, with IAM's wording.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

import grpc
from google.cloud.iam_admin_v1 import types
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import any_pb2, empty_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from fakes.gcp_common import FakeBase, RpcError

SERVICE = "google.iam.admin.v1.IAM"
_ACCOUNT_ID = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])")
_ACCOUNT_NAME = re.compile(r"projects/([^/]+)/serviceAccounts/([^/]+)")
_KEY_NAME = re.compile(r"(projects/[^/]+/serviceAccounts/[^/]+)/keys/([^/]+)")
MAX_USER_KEYS = 10
USER_MANAGED = types.ListServiceAccountKeysRequest.KeyType.USER_MANAGED
SYSTEM_MANAGED = types.ListServiceAccountKeysRequest.KeyType.SYSTEM_MANAGED
_WORKLOAD_MEMBER = re.compile(r"serviceAccount:([a-z0-9.:-]+)\.svc\.id\.goog\[([^/\]]+)/([^\]]+)\]")
# The etag IAM gives a policy nobody has written yet.
EMPTY_POLICY_ETAG = base64.b64decode("ACAB")
# Roles IAM lets one grant on a service account (a few of the predefined ones).
SERVICE_ACCOUNT_ROLES = frozenset(
    {
        "roles/iam.workloadIdentityUser",
        "roles/iam.serviceAccountUser",
        "roles/iam.serviceAccountTokenCreator",
        "roles/iam.serviceAccountOpenIdTokenCreator",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.serviceAccountKeyAdmin",
        "roles/iam.serviceAccountViewer",
        "roles/owner",
        "roles/editor",
        "roles/viewer",
    }
)
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class FakeIam(FakeBase):
    domain = "iam.googleapis.com"
    mutating_methods = frozenset(
        {
            "CreateServiceAccount",
            "DeleteServiceAccount",
            "CreateServiceAccountKey",
            "DeleteServiceAccountKey",
            "SetIamPolicy",
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, types.ServiceAccount] = {}  # email -> account
        self.keys: dict[str, list[types.ServiceAccountKey]] = {}  # email -> keys
        self.policies: dict[str, policy_pb2.Policy] = {}  # email -> the account's own policy
        # Projects whose Workload Identity pool <project>.svc.id.goog exists.
        self.workload_pools: set[str] = set()
        self._concurrent_changes = 0
        self._policy_writes = 0
        # Every private key handed out, so tests can check none of them leaks.
        self.issued_private_keys: list[str] = []
        # The organization policy constraint iam.disableServiceAccountKeyCreation.
        self.key_creation_disabled = False
        self._answers_naming_another_key = 0

    # ---- test helpers --------------------------------------------------------

    def add_account(
        self, project: str, account_id: str, disabled: bool = False, description: str = ""
    ) -> str:
        with self.lock:
            account = self._create(project, account_id, "", description)
            account.disabled = disabled
            return account.email

    def user_key_ids(self, email: str) -> list[str]:
        with self.lock:
            return [
                k.name.rsplit("/", 1)[-1]
                for k in self.keys.get(email, [])
                if k.key_type == USER_MANAGED
            ]

    def answer_with_another_key_id(self, times: int = 1) -> None:
        """The next `times` key creations answer with a credentials file whose
        private_key_id is not the id the key's name ends with."""
        with self.lock:
            self._answers_naming_another_key += times

    def add_user_key(self, email: str, key_id: str, created: datetime | None = None) -> None:
        """A user-managed key made elsewhere with a known id (the id of a key file a test
        holds), made at `created` (default: now)."""
        with self.lock:
            key, _credentials = self._new_key(self.accounts[email], USER_MANAGED)
            key.name = f"{self.accounts[email].name}/keys/{key_id}"
            if created is not None:
                stamp = timestamp_pb2.Timestamp()
                stamp.FromDatetime(created)
                key.valid_after_time = stamp

    def disable_key(self, email: str, key_id: str) -> None:
        """What `gcloud iam service-accounts keys disable` does: the key stays listed,
        marked disabled, and Google refuses it."""
        with self.lock:
            for key in self.keys[email]:
                if key.name.rsplit("/", 1)[-1] == key_id:
                    key.disabled = True
                    return
            raise KeyError(key_id)

    def add_compute_default(self, project: str, number: str, disabled: bool = False) -> str:
        """The Compute Engine default service account Google makes in a project."""
        with self.lock:
            email = f"{number}-compute@developer.gserviceaccount.com"
            account = self._register(project, email, "Compute Engine default service account", "")
            account.disabled = disabled
            return email

    def has_account(self, email: str) -> bool:
        with self.lock:
            return email in self.accounts

    def enable_workload_pool(self, project: str) -> None:
        """A GKE cluster of `project` enabled Workload Identity: its pool exists."""
        with self.lock:
            self.workload_pools.add(project)

    def members(self, email: str, role: str) -> list[str]:
        """Who holds `role` on the service account `email`."""
        with self.lock:
            policy = self.policies.get(email)
            if policy is None:
                return []
            return [m for b in policy.bindings if b.role == role for m in b.members]

    def concurrent_policy_changes(self, times: int) -> None:
        """The next `times` policy writes race with another writer, who wins."""
        with self.lock:
            self._concurrent_changes += times

    def add_user_keys(self, email: str, count: int) -> None:
        """Keys made elsewhere (no private part kept), e.g. to fill up the quota."""
        with self.lock:
            for _ in range(count):
                self._new_key(self.accounts[email], USER_MANAGED)

    # ---- state ---------------------------------------------------------------

    def _create(
        self, project: str, account_id: str, display: str, description: str
    ) -> types.ServiceAccount:
        email = f"{account_id}@{project}.iam.gserviceaccount.com"
        return self._register(project, email, display, description)

    def _register(
        self, project: str, email: str, display: str, description: str
    ) -> types.ServiceAccount:
        unique_id = str(100000000000000000000 + secrets.randbelow(10**20))
        account = types.ServiceAccount(
            name=f"projects/{project}/serviceAccounts/{email}",
            project_id=project,
            unique_id=unique_id,
            email=email,
            display_name=display,
            description=description,
            oauth2_client_id=unique_id,
            etag=b"MDEwMjE5MjA=",
        )
        self.accounts[email] = account
        self.keys[email] = []
        self.policies[email] = policy_pb2.Policy(version=1, etag=EMPTY_POLICY_ETAG)
        self._new_key(account, SYSTEM_MANAGED)  # every account has a Google-managed key
        return account

    def _new_key(
        self, account: types.ServiceAccount, key_type: Any
    ) -> tuple[types.ServiceAccountKey, str]:
        key_id = secrets.token_hex(20)
        key = types.ServiceAccountKey(
            name=f"{account.name}/keys/{key_id}",
            key_algorithm=types.ServiceAccountKeyAlgorithm.KEY_ALG_RSA_2048,
            valid_after_time=_now(),
            key_origin=types.ServiceAccountKeyOrigin.GOOGLE_PROVIDED,
            key_type=key_type,
        )
        self.keys[account.email].append(key)
        # A credentials file like Google's; the key body is random, never a real key.
        private_key = (
            "-----BEGIN PRIVATE KEY-----\n"
            + base64.b64encode(secrets.token_bytes(96)).decode()
            + "\n-----END PRIVATE KEY-----\n"
        )
        credentials = {
            "type": "service_account",
            "project_id": account.project_id,
            "private_key_id": key_id,
            "private_key": private_key,
            "client_email": account.email,
            "client_id": account.unique_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
            + account.email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }
        return key, json.dumps(credentials, indent=2) + "\n"

    def _account(self, name: str) -> types.ServiceAccount:
        match = _ACCOUNT_NAME.fullmatch(name)
        if not match:
            raise RpcError("INVALID_ARGUMENT", f"Invalid resource name {name!r}.")
        project, ident = match.groups()
        for account in self.accounts.values():
            if ident in (account.email, account.unique_id) and project in ("-", account.project_id):
                return account
        raise RpcError("NOT_FOUND", "Unknown service account")

    # ---- RPCs ------------------------------------------------------------------

    def GetServiceAccount(self, request: types.GetServiceAccountRequest) -> types.ServiceAccount:
        with self.lock:
            return self._account(request.name)

    def CreateServiceAccount(
        self, request: types.CreateServiceAccountRequest
    ) -> types.ServiceAccount:
        project = request.name.removeprefix("projects/")
        if not request.name.startswith("projects/") or "/" in project:
            raise RpcError("INVALID_ARGUMENT", f"Invalid project name {request.name!r}.")
        account_id = request.account_id
        if not (6 <= len(account_id) <= 30 and _ACCOUNT_ID.fullmatch(account_id)):
            raise RpcError(
                "INVALID_ARGUMENT",
                f"Invalid account id {account_id!r}: must be 6-30 characters matching "
                "[a-z]([-a-z0-9]*[a-z0-9]).",
            )
        with self.lock:
            if f"{account_id}@{project}.iam.gserviceaccount.com" in self.accounts:
                raise RpcError(
                    "ALREADY_EXISTS",
                    f"Service account {account_id} already exists within project "
                    f"projects/{project}.",
                )
            sa = request.service_account
            return self._create(project, account_id, sa.display_name, sa.description)

    def DeleteServiceAccount(self, request: types.DeleteServiceAccountRequest) -> empty_pb2.Empty:
        with self.lock:
            account = self._account(request.name)
            del self.accounts[account.email]
            del self.keys[account.email]  # its keys stop working with it
            self.policies.pop(account.email, None)
            return empty_pb2.Empty()

    def ListServiceAccounts(
        self, request: types.ListServiceAccountsRequest
    ) -> types.ListServiceAccountsResponse:
        project = request.name.removeprefix("projects/")
        if not request.name.startswith("projects/") or "/" in project or project == "-":
            raise RpcError("INVALID_ARGUMENT", f"Invalid project name {request.name!r}.")
        if not 0 <= request.page_size <= MAX_PAGE_SIZE:
            raise RpcError("INVALID_ARGUMENT", "Invalid page size.")
        size = request.page_size or DEFAULT_PAGE_SIZE
        try:
            start = int(base64.urlsafe_b64decode(request.page_token)) if request.page_token else 0
        except ValueError:
            raise RpcError("INVALID_ARGUMENT", "Invalid page token.") from None
        with self.lock:
            # In the order they were made: a test decides which page an account is on.
            found = [a for a in self.accounts.values() if a.project_id == project]
            page = found[start : start + size]
            more = start + size < len(found)
            token = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else ""
            return types.ListServiceAccountsResponse(accounts=page, next_page_token=token)

    def GetIamPolicy(self, request: iam_policy_pb2.GetIamPolicyRequest) -> policy_pb2.Policy:
        with self.lock:
            account = self._account(request.resource)
            return policy_pb2.Policy.FromString(self.policies[account.email].SerializeToString())

    def SetIamPolicy(self, request: iam_policy_pb2.SetIamPolicyRequest) -> policy_pb2.Policy:
        with self.lock:
            account = self._account(request.resource)
            for binding in request.policy.bindings:
                self._check_binding(binding)
            current = self.policies[account.email]
            if self._concurrent_changes:
                # Another writer got there first: its change lands, ours is now stale.
                self._concurrent_changes -= 1
                current.bindings.add(
                    role="roles/iam.serviceAccountUser",
                    members=[f"user:someone-{self._policy_writes}@example.org"],
                )
                current.etag = self._next_etag(account.email)
            if request.policy.etag and request.policy.etag != current.etag:
                raise RpcError(
                    "ABORTED",
                    "There were concurrent policy changes. Please retry the whole "
                    "read-modify-write with exponential backoff.",
                )
            stored = policy_pb2.Policy(version=request.policy.version or 1)
            stored.bindings.extend(request.policy.bindings)
            stored.etag = self._next_etag(account.email)
            self.policies[account.email] = stored
            return policy_pb2.Policy.FromString(stored.SerializeToString())

    def _next_etag(self, email: str) -> bytes:
        self._policy_writes += 1
        return hashlib.sha256(f"{email}/{self._policy_writes}".encode()).digest()[:8]

    def _check_binding(self, binding: policy_pb2.Binding) -> None:
        if binding.role not in SERVICE_ACCOUNT_ROLES:
            raise RpcError(
                "INVALID_ARGUMENT", f"Role {binding.role} is not supported for this resource."
            )
        for member in binding.members:
            kind, _, who = member.partition(":")
            if kind != "serviceAccount":
                continue
            workload = _WORKLOAD_MEMBER.fullmatch(member)
            if workload is not None:
                if workload.group(1) not in self.workload_pools:
                    raise RpcError(
                        "INVALID_ARGUMENT",
                        f"Identity Pool does not exist ({workload.group(1)}.svc.id.goog). "
                        "Please check that you specified a valid resource name as returned "
                        "in the `name` attribute in the configuration API.",
                    )
            elif ".svc.id.goog" in who:
                raise RpcError("INVALID_ARGUMENT", f"Invalid service account ({who}).")
            elif who not in self.accounts:
                raise RpcError("INVALID_ARGUMENT", f"Service account {who} does not exist.")

    def ListServiceAccountKeys(
        self, request: types.ListServiceAccountKeysRequest
    ) -> types.ListServiceAccountKeysResponse:
        if len(set(request.key_types)) != len(request.key_types):
            raise RpcError("INVALID_ARGUMENT", "Duplicate key types.")
        with self.lock:
            account = self._account(request.name)
            wanted = set(request.key_types) or {USER_MANAGED, SYSTEM_MANAGED}
            listed = [k for k in self.keys[account.email] if k.key_type in wanted]
            return types.ListServiceAccountKeysResponse(keys=listed)

    def CreateServiceAccountKey(
        self, request: types.CreateServiceAccountKeyRequest
    ) -> types.ServiceAccountKey:
        with self.lock:
            account = self._account(request.name)
            if self.key_creation_disabled:
                raise _key_creation_not_allowed(account)
            if len(self.user_key_ids(account.email)) >= MAX_USER_KEYS:
                raise RpcError("FAILED_PRECONDITION", "Precondition check failed.")
            key, credentials = self._new_key(account, USER_MANAGED)
            self.issued_private_keys.append(json.loads(credentials)["private_key"])
            if self._answers_naming_another_key:
                self._answers_naming_another_key -= 1
                data = json.loads(credentials)
                data["private_key_id"] = secrets.token_hex(20)
                credentials = json.dumps(data, indent=2) + "\n"
            answer = types.ServiceAccountKey(key)
            answer.private_key_type = (
                request.private_key_type
                or types.ServiceAccountPrivateKeyType.TYPE_GOOGLE_CREDENTIALS_FILE
            )
            answer.private_key_data = credentials.encode()
            return answer

    def DeleteServiceAccountKey(
        self, request: types.DeleteServiceAccountKeyRequest
    ) -> empty_pb2.Empty:
        match = _KEY_NAME.fullmatch(request.name)
        if not match:
            raise RpcError("INVALID_ARGUMENT", f"Invalid key name {request.name!r}.")
        with self.lock:
            account = self._account(match.group(1))
            keys = self.keys[account.email]
            for key in keys:
                if key.name.rsplit("/", 1)[-1] == match.group(2):
                    if key.key_type != USER_MANAGED:
                        raise RpcError(
                            "FAILED_PRECONDITION", "System-managed keys cannot be deleted."
                        )
                    keys.remove(key)
                    return empty_pb2.Empty()
            raise RpcError("NOT_FOUND", f"Service account key {match.group(2)} does not exist.")


def _key_creation_not_allowed(account: types.ServiceAccount) -> RpcError:
    """What IAM answers when the organization policy forbids keys: FAILED_PRECONDITION
    with a PreconditionFailure naming the constraint (as gcloud shows it)."""
    message = "Key creation is not allowed on this service account."
    violation = error_details_pb2.PreconditionFailure.Violation(
        type="constraints/iam.disableServiceAccountKeyCreation",
        subject=f"{account.name}?configvalue={quote(account.email)}",
        description=message,
    )
    failure = error_details_pb2.PreconditionFailure(violations=[violation])
    return RpcError("FAILED_PRECONDITION", message, details=[failure])


def _serialize_pb2(message: Any) -> bytes:
    return bytes(message.SerializeToString())


_METHODS: dict[str, tuple[Any, Any, Callable[[Any], str]]] = {
    # method: (request deserializer, response serializer, resource of a request)
    "GetServiceAccount": (
        types.GetServiceAccountRequest.deserialize,
        types.ServiceAccount.serialize,
        lambda r: r.name,
    ),
    "ListServiceAccounts": (
        types.ListServiceAccountsRequest.deserialize,
        types.ListServiceAccountsResponse.serialize,
        lambda r: r.name,
    ),
    "GetIamPolicy": (
        iam_policy_pb2.GetIamPolicyRequest.FromString,
        _serialize_pb2,
        lambda r: r.resource,
    ),
    "SetIamPolicy": (
        iam_policy_pb2.SetIamPolicyRequest.FromString,
        _serialize_pb2,
        lambda r: r.resource,
    ),
    "CreateServiceAccount": (
        types.CreateServiceAccountRequest.deserialize,
        types.ServiceAccount.serialize,
        lambda r: f"{r.name}/serviceAccounts/{r.account_id}",
    ),
    "DeleteServiceAccount": (
        types.DeleteServiceAccountRequest.deserialize,
        empty_pb2.Empty.SerializeToString,
        lambda r: r.name,
    ),
    "ListServiceAccountKeys": (
        types.ListServiceAccountKeysRequest.deserialize,
        types.ListServiceAccountKeysResponse.serialize,
        lambda r: r.name,
    ),
    "CreateServiceAccountKey": (
        types.CreateServiceAccountKeyRequest.deserialize,
        types.ServiceAccountKey.serialize,
        lambda r: r.name,
    ),
    "DeleteServiceAccountKey": (
        types.DeleteServiceAccountKeyRequest.deserialize,
        empty_pb2.Empty.SerializeToString,
        lambda r: r.name,
    ),
}


def _abort(context: grpc.ServicerContext, error: RpcError) -> None:
    status = status_pb2.Status(code=error.code, message=error.message)
    infos: list[Any] = []
    if error.reason:
        infos.append(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=error.domain or "", metadata=error.metadata
            )
        )
    for info in [*infos, *error.details]:
        detail = any_pb2.Any()
        detail.Pack(info)
        status.details.append(detail)
    context.abort_with_status(rpc_status.to_status(status))


def _handler(fake: FakeIam) -> grpc.GenericRpcHandler:
    def wrap(method: str) -> grpc.RpcMethodHandler:
        deserializer, serializer, resource_of = _METHODS[method]
        implementation = getattr(fake, method)

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            record = None
            try:
                record = fake.begin(method, resource_of(request), headers)
                fake.wait_if_held(method, "call")
                response = implementation(request)
                fake.wait_if_held(method, "answer")
                lost = fake.take_lost_answer(method)
                if lost is not None:
                    raise lost
            except RpcError as error:
                if record is not None:  # faults injected by `begin` close their record
                    fake.finish(record, error.status)
                _abort(context, error)
                return None
            fake.finish(record)
            return response

        return grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=deserializer, response_serializer=serializer
        )

    return grpc.method_handlers_generic_handler(SERVICE, {name: wrap(name) for name in _METHODS})


@contextmanager
def serve(fake: FakeIam | None = None) -> Iterator[tuple[FakeIam, str]]:
    """Run the fake on 127.0.0.1 (a free port); yields (fake, "127.0.0.1:PORT")."""
    fake = fake or FakeIam()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="fake-iam"))
    server.add_generic_rpc_handlers((_handler(fake),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        fake.release_all()
        server.stop(grace=None)
