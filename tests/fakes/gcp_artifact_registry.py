"""A local Artifact Registry speaking the REST (JSON over HTTP/1.1) API v1.

It answers what `google.cloud.artifactregistry_v1`'s REST transport sends:

- `GET  /v1/projects/P/locations/L/repositories/R`
- `PATCH /v1/projects/P/locations/L/repositories/R?updateMask=a,b` (body: Repository):
  the fields the mask names change, nothing else (no mask: the fields the body
  sets, as AIP-134 asks); a path that is no field, or one that cannot change,
  is INVALID_ARGUMENT
- `POST /v1/projects/P/locations/L/repositories?repositoryId=R` (body: Repository)
  -> a long-running Operation, done after `operation_seconds`
- `DELETE /v1/projects/P/locations/L/repositories/R` -> a long-running Operation;
  the repository (its images and policy with it) is gone when it is done
- `GET  /v1/projects/P/locations/L/operations/ID`
- `GET  /v1/projects/P/locations/L/repositories/R/packages?pageSize=N&pageToken=T`
- `GET  /v1/projects/P/locations/L/repositories/R:getIamPolicy`
- `POST /v1/projects/P/locations/L/repositories/R:setIamPolicy` (body: {"policy": ...})
- `GET  /v1/projects/P/locations/L/repositories/R/packages/PKG/tags/TAG`
- `GET  /v1/projects/P/locations/L/repositories/R/dockerImages?pageSize=N&pageToken=T`
  (pages of at most 1000 images, ordered by name, an opaque next page token)

Bodies are parsed and written with protobuf's JSON mapping and the real message
types, so an unknown field is rejected as the service does, and enums come back
as numbers when the client asks `$alt=json;enum-encoding=int`, as names
otherwise. Errors use Google's JSON error shape with google.rpc details.
Cleanup policies are refused as the service refuses them: more than 10 on a
repository, an id of 128 characters or more, no action, no condition, or a
most-recent-versions condition on a delete policy.
IAM policies carry etags: a write with a stale etag is ABORTED (HTTP 409). With
`account_exists` (the IAM fake's, when both run), a policy naming a service
account that does not exist is INVALID_ARGUMENT, as the service answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.cloud.artifactregistry_v1 import (
    CleanupPolicy,
    DockerImage,
    ListDockerImagesResponse,
    ListPackagesResponse,
    OperationMetadata,
    Package,
    Repository,
    Tag,
)
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2, field_mask_pb2, json_format, timestamp_pb2

from fakes.gcp_common import FakeBase, Recorded, RpcError

_NAME = r"[^/:?]+"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (
        "GET",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME})"),
        "GetRepository",
    ),
    (
        "PATCH",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME})"),
        "UpdateRepository",
    ),
    (
        "POST",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME})/repositories"),
        "CreateRepository",
    ),
    (
        "DELETE",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME})"),
        "DeleteRepository",
    ),
    (
        "GET",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME})/packages"),
        "ListPackages",
    ),
    (
        "GET",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/operations/{_NAME})"),
        "GetOperation",
    ),
    (
        "GET",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME}):getIamPolicy"),
        "GetIamPolicy",
    ),
    (
        "POST",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME}):setIamPolicy"),
        "SetIamPolicy",
    ),
    (
        "GET",
        re.compile(
            rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME}/packages/{_NAME}/tags/{_NAME})"
        ),
        "GetTag",
    ),
    (
        "GET",
        re.compile(rf"/v1/(projects/{_NAME}/locations/{_NAME}/repositories/{_NAME})/dockerImages"),
        "ListDockerImages",
    ),
]
MAX_PAGE_SIZE = 1000
_REPOSITORY_ID = re.compile(r"[a-z]([a-z0-9-]*[a-z0-9])?")
MAX_CLEANUP_POLICIES = 10
# The fields of a Repository an update may change; the others are set at creation
# (format, mode, kms_key_name) or by the service (name, times, size).
_UPDATABLE = frozenset(
    {
        "description",
        "labels",
        "cleanup_policies",
        "cleanup_policy_dry_run",
        "docker_config",
        "maven_config",
        "virtual_repository_config",
        "remote_repository_config",
        "vulnerability_scanning_config",
        "disallow_unspecified_mode",
    }
)


@dataclass
class _PendingOperation:
    operation: operations_pb2.Operation
    repository: Any  # the Repository protobuf created (or deleted) when the operation completes
    done_at: float
    deletes: bool = False


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _check_cleanup_policies(repo: Any) -> None:
    """Refuse the cleanup policies the service refuses."""
    policies = repo.cleanup_policies
    if len(policies) > MAX_CLEANUP_POLICIES:
        raise RpcError(
            "INVALID_ARGUMENT",
            f"A repository can have at most {MAX_CLEANUP_POLICIES} cleanup policies.",
        )
    for key, policy in policies.items():
        if not key or len(key) >= 128:
            raise RpcError("INVALID_ARGUMENT", "Cleanup policy id must be 1-127 characters.")
        if policy.action == CleanupPolicy.Action.ACTION_UNSPECIFIED:
            raise RpcError("INVALID_ARGUMENT", f"Cleanup policy {key}: action is required.")
        kind = policy.WhichOneof("condition_type")
        if kind is None:
            raise RpcError("INVALID_ARGUMENT", f"Cleanup policy {key}: condition is required.")
        if kind == "most_recent_versions" and policy.action != CleanupPolicy.Action.KEEP:
            raise RpcError(
                "INVALID_ARGUMENT",
                f"Cleanup policy {key}: most recent versions may only be used to keep.",
            )


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class FakeArtifactRegistry(FakeBase):
    domain = "artifactregistry.googleapis.com"
    mutating_methods = frozenset(
        {"CreateRepository", "UpdateRepository", "DeleteRepository", "SetIamPolicy"}
    )

    def __init__(self, operation_seconds: float = 0.0) -> None:
        super().__init__()
        self.operation_seconds = operation_seconds
        self.repositories: dict[str, Any] = {}  # name -> Repository protobuf
        self.policies: dict[str, policy_pb2.Policy] = {}
        self._operations: dict[str, _PendingOperation] = {}
        self.tags: dict[str, str] = {}  # tag resource name -> version (digest) name
        self.images: dict[str, Any] = {}  # DockerImage name -> DockerImage protobuf
        self._concurrent_changes = 0
        self._policy_writes = 0
        # Whether a service account (by email) exists; None: every member is taken.
        self.account_exists: Callable[[str], bool] | None = None

    # ---- test helpers ----------------------------------------------------------

    def add_repository(
        self,
        name: str,
        format_name: str = "DOCKER",
        labels: dict[str, str] | None = None,
        cleanup_policies: dict[str, CleanupPolicy] | None = None,
        dry_run: bool = False,
    ) -> None:
        """A repository that exists before the test (e.g. made by hand in the console)."""
        repo = Repository.pb(Repository())
        repo.name = name
        repo.format_ = Repository.Format[format_name].value
        repo.mode = Repository.Mode.STANDARD_REPOSITORY.value
        repo.labels.update(labels or {})
        for key, policy in (cleanup_policies or {}).items():
            repo.cleanup_policies[key].CopyFrom(CleanupPolicy.pb(policy))
        repo.cleanup_policy_dry_run = dry_run
        repo.create_time.CopyFrom(_now())
        repo.update_time.CopyFrom(_now())
        with self.lock:
            self.repositories[name] = repo
            self.policies[name] = self._new_policy(name)

    def add_image(
        self,
        repository: str,
        package: str,
        tag: str,
        digest: str = "sha256:" + "0" * 64,
        size_bytes: int = 0,
    ) -> None:
        """An image pushed to `repository` (e.g. by a build): `package` is its path in it."""
        package_id = package.replace("/", "%2F")
        # The image URI: <location>-docker.pkg.dev/<project>/<repository>/<package>@<digest>.
        _, project, _, location, _, repo_id = repository.split("/")
        with self.lock:
            base = f"{repository}/packages/{package_id}"
            self.tags[f"{base}/tags/{tag}"] = f"{base}/versions/{digest}"
            name = f"{repository}/dockerImages/{package_id}@{digest}"
            image = self.images.get(name)
            if image is None:
                image = DockerImage.pb(DockerImage())
                image.name = name
                image.uri = f"{location}-docker.pkg.dev/{project}/{repo_id}/{package}@{digest}"
                image.image_size_bytes = size_bytes
                image.media_type = "application/vnd.docker.distribution.manifest.v2+json"
                image.upload_time.CopyFrom(_now())
                image.update_time.CopyFrom(_now())
                self.images[name] = image
            image.tags.append(tag)

    def concurrent_policy_changes(self, times: int) -> None:
        """The next `times` policy writes race with another writer, who wins."""
        with self.lock:
            self._concurrent_changes += times

    def members(self, repository: str, role: str) -> list[str]:
        with self.lock:
            policy = self.policies.get(repository)
            if policy is None:
                return []
            return [m for b in policy.bindings if b.role == role for m in b.members]

    # ---- state changes -------------------------------------------------------------

    def _new_policy(self, name: str) -> policy_pb2.Policy:
        policy = policy_pb2.Policy(version=1)
        self._policy_writes += 1
        policy.etag = hashlib.sha256(f"{name}/{self._policy_writes}".encode()).digest()[:8]
        return policy

    def _complete_due_operations(self) -> None:
        now = time.monotonic()
        for pending in self._operations.values():
            if not pending.operation.done and now >= pending.done_at:
                name = pending.repository.name
                if pending.deletes:
                    self.repositories.pop(name, None)
                    self.policies.pop(name, None)
                    for tag in [t for t in self.tags if t.startswith(f"{name}/packages/")]:
                        del self.tags[tag]
                    pending.operation.response.CopyFrom(_pack(empty_pb2.Empty()))
                else:
                    self.repositories[name] = pending.repository
                    self.policies[name] = self._new_policy(name)
                    pending.operation.response.CopyFrom(_pack(pending.repository))
                pending.operation.done = True

    def _pending_names(self, deletes: bool = False) -> set[str]:
        return {
            p.repository.name
            for p in self._operations.values()
            if not p.operation.done and p.deletes == deletes
        }

    def _start_operation(self, parent: str, repository: Any, deletes: bool) -> Any:
        operation = operations_pb2.Operation(name=f"{parent}/operations/{uuid.uuid4()}")
        operation.metadata.CopyFrom(_pack(OperationMetadata.pb(OperationMetadata())))
        self._operations[operation.name] = _PendingOperation(
            operation, repository, time.monotonic() + self.operation_seconds, deletes
        )
        # An operation is answered "not done" at creation, as the service does.
        return operations_pb2.Operation.FromString(operation.SerializeToString())

    # ---- handlers: each returns a protobuf message or raises RpcError ----------

    def get_repository(self, name: str, query: dict[str, str], body: bytes) -> Any:
        with self.lock:
            self._complete_due_operations()
            repo = self.repositories.get(name)
        if repo is None:
            raise RpcError("NOT_FOUND", "Requested entity was not found.")
        return repo

    def create_repository(self, parent: str, query: dict[str, str], body: bytes) -> Any:
        repository_id = query.get("repositoryId", "")
        if not _REPOSITORY_ID.fullmatch(repository_id) or len(repository_id) > 63:
            raise RpcError("INVALID_ARGUMENT", f"invalid repository id {repository_id!r}")
        repo = Repository.pb(Repository())
        try:
            json_format.Parse(body or b"{}", repo)
        except json_format.ParseError as err:
            raise RpcError("INVALID_ARGUMENT", f"Invalid JSON payload received. {err}") from None
        if repo.format_ == 0:
            raise RpcError("INVALID_ARGUMENT", "Repository format must be specified.")
        _check_cleanup_policies(repo)
        name = f"{parent}/repositories/{repository_id}"
        repo.name = name
        repo.create_time.CopyFrom(_now())
        repo.update_time.CopyFrom(_now())
        with self.lock:
            self._complete_due_operations()
            if name in self.repositories or name in self._pending_names():
                raise RpcError("ALREADY_EXISTS", "the repository already exists")
            return self._start_operation(parent, repo, deletes=False)

    def update_repository(self, name: str, query: dict[str, str], body: bytes) -> Any:
        change = Repository.pb(Repository())
        mask = field_mask_pb2.FieldMask()
        try:
            json_format.Parse(body or b"{}", change)
            # The REST mapping sends the mask as camelCase paths joined by commas.
            mask.FromJsonString(query.get("updateMask", ""))
        except (json_format.ParseError, ValueError) as err:
            raise RpcError("INVALID_ARGUMENT", f"Invalid JSON payload received. {err}") from None
        if change.name and change.name != name:
            raise RpcError("INVALID_ARGUMENT", "The repository name does not match the URL.")
        fields = Repository.pb(Repository()).DESCRIPTOR.fields_by_name
        paths = list(mask.paths) or [f.name for f, _ in change.ListFields() if f.name != "name"]
        for path in paths:
            if path not in fields:
                raise RpcError("INVALID_ARGUMENT", f"Invalid update mask path: {path!r}.")
            if path not in _UPDATABLE:
                raise RpcError("INVALID_ARGUMENT", f"Field {path!r} cannot be updated.")
        with self.lock:
            self._complete_due_operations()
            current = self.repositories.get(name)
            if current is None:
                raise RpcError("NOT_FOUND", "Requested entity was not found.")
            updated = Repository.pb(Repository())
            updated.CopyFrom(current)
            # Only the masked fields change; a message, list or map is replaced whole.
            field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                change, updated, replace_message_field=True, replace_repeated_field=True
            )
            _check_cleanup_policies(updated)
            updated.update_time.CopyFrom(_now())
            self.repositories[name] = updated
            return type(updated).FromString(updated.SerializeToString())

    def delete_repository(self, name: str, query: dict[str, str], body: bytes) -> Any:
        with self.lock:
            self._complete_due_operations()
            repo = self.repositories.get(name)
            if repo is None:
                raise RpcError("NOT_FOUND", "Requested entity was not found.")
            if name in self._pending_names(deletes=True):
                raise RpcError("FAILED_PRECONDITION", "The repository is being deleted.")
            parent = name.rsplit("/repositories/", 1)[0]
            return self._start_operation(parent, repo, deletes=True)

    def list_packages(self, parent: str, query: dict[str, str], body: bytes) -> Any:
        """A page of packages (images), derived from the tags pushed to them."""
        with self.lock:
            self._complete_due_operations()
            if parent not in self.repositories:
                raise RpcError("NOT_FOUND", "Requested entity was not found.")
            names = sorted(
                {t.split("/tags/")[0] for t in self.tags if t.startswith(f"{parent}/packages/")}
            )
        try:
            size = int(query.get("pageSize") or 0) or 1000
            start = int(query.get("pageToken") or 0)
        except ValueError:
            raise RpcError("INVALID_ARGUMENT", "Invalid page token or size.") from None
        page = ListPackagesResponse(packages=[Package(name=n) for n in names[start : start + size]])
        if start + size < len(names):
            page.next_page_token = str(start + size)
        return ListPackagesResponse.pb(page)

    def get_operation(self, name: str, query: dict[str, str], body: bytes) -> Any:
        with self.lock:
            self._complete_due_operations()
            pending = self._operations.get(name)
            if pending is None:
                raise RpcError("NOT_FOUND", f"Operation {name} not found.")
            return operations_pb2.Operation.FromString(pending.operation.SerializeToString())

    def get_iam_policy(self, resource: str, query: dict[str, str], body: bytes) -> Any:
        with self.lock:
            self._complete_due_operations()
            policy = self.policies.get(resource)
            if policy is None:
                raise RpcError("NOT_FOUND", "Requested entity was not found.")
            return policy_pb2.Policy.FromString(policy.SerializeToString())

    def set_iam_policy(self, resource: str, query: dict[str, str], body: bytes) -> Any:
        request = iam_policy_pb2.SetIamPolicyRequest()
        try:
            json_format.Parse(body or b"{}", request)
        except json_format.ParseError as err:
            raise RpcError("INVALID_ARGUMENT", f"Invalid JSON payload received. {err}") from None
        with self.lock:
            self._complete_due_operations()
            current = self.policies.get(resource)
            if current is None:
                raise RpcError("NOT_FOUND", "Requested entity was not found.")
            if self._concurrent_changes:
                # Another writer got there first: its change lands, ours is now stale.
                self._concurrent_changes -= 1
                self._policy_writes += 1
                current.bindings.add(
                    role="roles/artifactregistry.reader",
                    members=[f"user:someone-{self._policy_writes}@example.org"],
                )
                current.etag = hashlib.sha256(
                    f"{resource}/{self._policy_writes}".encode()
                ).digest()[:8]
            if request.policy.etag and request.policy.etag != current.etag:
                raise RpcError(
                    "ABORTED",
                    "There were concurrent policy changes. Please retry the whole "
                    "read-modify-write with exponential backoff.",
                )
            for binding in request.policy.bindings:
                for member in binding.members:
                    kind, _, email = member.partition(":")
                    exists = self.account_exists
                    if kind == "serviceAccount" and exists is not None and not exists(email):
                        raise RpcError(
                            "INVALID_ARGUMENT", f"Service account {email} does not exist."
                        )
            stored = self._new_policy(resource)
            stored.version = request.policy.version or 1
            stored.bindings.extend(request.policy.bindings)
            self.policies[resource] = stored
            return policy_pb2.Policy.FromString(stored.SerializeToString())

    def get_tag(self, name: str, query: dict[str, str], body: bytes) -> Any:
        with self.lock:
            version = self.tags.get(name)
        if version is None:
            raise RpcError("NOT_FOUND", "Requested entity was not found.")
        return Tag.pb(Tag(name=name, version=version))

    def list_docker_images(self, parent: str, query: dict[str, str], body: bytes) -> Any:
        with self.lock:
            self._complete_due_operations()
            if parent not in self.repositories:
                raise RpcError("NOT_FOUND", "Requested entity was not found.")
            names = sorted(n for n in self.images if n.startswith(f"{parent}/dockerImages/"))
            try:
                size = int(query.get("pageSize") or MAX_PAGE_SIZE)
                start = (
                    int(base64.urlsafe_b64decode(query["pageToken"]))
                    if query.get("pageToken")
                    else 0
                )
            except ValueError:
                raise RpcError("INVALID_ARGUMENT", "Invalid page token or page size.") from None
            size = min(max(size, 1), MAX_PAGE_SIZE)
            page = ListDockerImagesResponse.pb(ListDockerImagesResponse())
            page.docker_images.extend(self.images[n] for n in names[start : start + size])
            if start + size < len(names):
                page.next_page_token = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            return page


def _route(verb: str, path: str) -> tuple[str, str] | None:
    """(RPC name, resource name) for a request line, or None for an unknown route."""
    for route_verb, pattern, method in _ROUTES:
        match = pattern.fullmatch(path)
        if route_verb == verb and match:
            return method, match.group(1)
    return None


def _render(message: Any, int_enums: bool) -> bytes:
    data = json_format.MessageToDict(message, use_integers_for_enums=int_enums)
    return json.dumps(data).encode()


def _error_body(error: RpcError) -> bytes:
    payload: dict[str, Any] = {
        "code": error.http_status,
        "message": error.message,
        "status": error.status,
    }
    details: list[dict[str, Any]] = []
    if error.reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": error.reason,
                "domain": error.domain or "",
                "metadata": error.metadata,
            }
        )
    for detail in error.details:
        details.append(
            {
                "@type": f"type.googleapis.com/{detail.DESCRIPTOR.full_name}",
                **json_format.MessageToDict(detail),
            }
        )
    if details:
        payload["details"] = details
    return json.dumps({"error": payload}).encode()


def _handler_class(fake: FakeArtifactRegistry) -> type[BaseHTTPRequestHandler]:
    handlers = {
        "GetRepository": fake.get_repository,
        "UpdateRepository": fake.update_repository,
        "CreateRepository": fake.create_repository,
        "DeleteRepository": fake.delete_repository,
        "ListPackages": fake.list_packages,
        "GetOperation": fake.get_operation,
        "GetIamPolicy": fake.get_iam_policy,
        "SetIamPolicy": fake.set_iam_policy,
        "GetTag": fake.get_tag,
        "ListDockerImages": fake.list_docker_images,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the requests session expects

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the fake keeps its own log

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            int_enums = "enum-encoding=int" in query.get("$alt", "")
            route = _route(self.command, url.path)
            if route is None:
                error = RpcError("NOT_FOUND", f"no route {self.command} {url.path}")
                self._send(404, _error_body(error))
                return
            method, resource = route
            headers = {k.lower(): v for k, v in self.headers.items()}
            record: Recorded | None = None
            try:
                record = fake.begin(method, resource, headers)
                fake.wait_if_held(method, "call")
                message = handlers[method](resource, query, body)
                fake.wait_if_held(method, "answer")
            except RpcError as error:
                if record is not None:
                    fake.finish(record, error.status)
                self._send(error.http_status, _error_body(error))
                return
            fake.finish(record)
            self._send(200, _render(message, int_enums))

        do_GET = do_POST = do_DELETE = do_PATCH = _handle

    return Handler


@contextmanager
def serve(fake: FakeArtifactRegistry | None = None) -> Iterator[tuple[FakeArtifactRegistry, str]]:
    """Run the fake on 127.0.0.1 (a free port); yields (fake, endpoint URL)."""
    fake = fake or FakeArtifactRegistry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(fake))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_port}"
    finally:
        fake.release_all()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
