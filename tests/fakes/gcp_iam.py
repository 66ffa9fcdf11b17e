"""A local IAM admin API (`google.iam.admin.v1.IAM`) over gRPC.

The service is registered with grpc generic handlers under the real method
paths, and every request and response is (de)serialized with the real message
types from `google.cloud.iam_admin_v1.types`, so the client library's gRPC
transport talks to it exactly as to iam.googleapis.com. Implemented:
GetServiceAccount, CreateServiceAccount, DeleteServiceAccount (its keys go with
it), ListServiceAccountKeys, CreateServiceAccountKey, DeleteServiceAccountKey. Other methods answer
UNIMPLEMENTED. Errors carry google.rpc.Status details (ErrorInfo,
PreconditionFailure) in the `grpc-status-details-bin` trailer, as Google's
services send them.
"""

from __future__ import annotations

import base64
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
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, types.ServiceAccount] = {}  # email -> account
        self.keys: dict[str, list[types.ServiceAccountKey]] = {}  # email -> keys
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
            return empty_pb2.Empty()

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


_METHODS: dict[str, tuple[Any, Any, Callable[[Any], str]]] = {
    # method: (request type, response serializer, resource of a request)
    "GetServiceAccount": (
        types.GetServiceAccountRequest,
        types.ServiceAccount.serialize,
        lambda r: r.name,
    ),
    "CreateServiceAccount": (
        types.CreateServiceAccountRequest,
        types.ServiceAccount.serialize,
        lambda r: f"{r.name}/serviceAccounts/{r.account_id}",
    ),
    "DeleteServiceAccount": (
        types.DeleteServiceAccountRequest,
        empty_pb2.Empty.SerializeToString,
        lambda r: r.name,
    ),
    "ListServiceAccountKeys": (
        types.ListServiceAccountKeysRequest,
        types.ListServiceAccountKeysResponse.serialize,
        lambda r: r.name,
    ),
    "CreateServiceAccountKey": (
        types.CreateServiceAccountKeyRequest,
        types.ServiceAccountKey.serialize,
        lambda r: r.name,
    ),
    "DeleteServiceAccountKey": (
        types.DeleteServiceAccountKeyRequest,
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
        request_type, serializer, resource_of = _METHODS[method]
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
            call, request_deserializer=request_type.deserialize, response_serializer=serializer
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
