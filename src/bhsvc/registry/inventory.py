"""What `status` and `doctor` read from Artifact Registry and IAM: the repository, its
cleanup policies and its images (count and size), the pusher account and its keys.

Read-only: each call is made once, with a timeout. A call that fails becomes a
line in `unread` saying what could not be read and why, never an exception, so
one missing permission leaves the rest of the report intact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bhsvc.config import Config
from bhsvc.errors import BhsvcError
from bhsvc.registry import cleanup, keys
from bhsvc.registry.gar import GarTarget
from bhsvc.registry.gcp_errors import Action, translate
from bhsvc.registry.roles import AR_READER, KEY_ADMIN, SA_VIEWER

T = TypeVar("T")

CALL_TIMEOUT = 10.0  # seconds for each call
# Images are listed a page of PAGE_SIZE at a time, at most MAX_PAGES pages.
PAGE_SIZE = 1000
MAX_PAGES = 5


@dataclass(frozen=True)
class Images:
    count: int
    size_bytes: int
    complete: bool  # False: more images than were listed


@dataclass(frozen=True)
class PusherKey:
    key_id: str
    created: datetime
    disabled: bool


@dataclass
class GarFacts:
    """None: not read (the reason is in `unread`)."""

    repository: str  # its resource name
    host_path: str  # <region>-docker.pkg.dev/<project>/<repository>
    account: str  # the pusher account's email
    repository_present: bool | None = None
    cleanup_policies: list[cleanup.PolicyView] | None = None
    cleanup_dry_run: bool | None = None
    images: Images | None = None
    account_present: bool | None = None
    account_disabled: bool | None = None
    keys: list[PusherKey] | None = None
    unread: list[str] = field(default_factory=list)


def read_gar(config: Config, env: Mapping[str, str] | None = None) -> GarFacts:
    """The repository, its images, the pusher account and its user-managed keys.

    The endpoints can be overridden (BHSVC_ARTIFACT_REGISTRY_ENDPOINT,
    BHSVC_IAM_ENDPOINT); the caller checks them first (a bad value is bad input).
    """
    from bhsvc.registry.gcp_clients import make_clients

    target = GarTarget.from_config(config)
    facts = GarFacts(target.repository_name, target.image_path, target.email)
    try:
        clients = make_clients(env)
    except BhsvcError as err:
        facts.unread.append(f"Google Cloud: {err}")
        return facts
    try:
        _read_repository(clients.artifact_registry, target, facts)
        _read_account(clients.iam, target, facts)
    finally:
        clients.close()
    return facts


def _attempt(facts: GarFacts, action: Action, fn: Callable[[], T]) -> T | None:
    """fn(), or None with the reason noted: a refusal, a timeout, no credentials."""
    try:
        return fn()
    except Exception as err:
        facts.unread.append(str(translate(err, action)))
        return None


def _read_repository(client: Any, target: GarTarget, facts: GarFacts) -> None:
    from google.api_core import exceptions as gexc

    name = target.repository_name

    def get() -> Any:
        try:
            return client.get_repository(name=name, retry=None, timeout=CALL_TIMEOUT)
        except gexc.NotFound:
            return False

    read = Action("read the repository", name, "artifactregistry.repositories.get", AR_READER)
    repo = _attempt(facts, read, get)
    facts.repository_present = None if repo is None else repo is not False
    if repo is None or repo is False:
        return
    facts.cleanup_policies = cleanup.views(repo.cleanup_policies)
    facts.cleanup_dry_run = bool(repo.cleanup_policy_dry_run)
    listing = Action(
        "list the repository's images", name, "artifactregistry.dockerimages.list", AR_READER
    )
    facts.images = _attempt(facts, listing, lambda: _count_images(client, name))


def _count_images(client: Any, repository: str) -> Images:
    """Count the images and add up their sizes, page by page, MAX_PAGES at most."""
    from google.cloud.artifactregistry_v1 import ListDockerImagesRequest

    request = ListDockerImagesRequest(parent=repository, page_size=PAGE_SIZE)
    pages = client.list_docker_images(request=request, retry=None, timeout=CALL_TIMEOUT).pages
    count = size = 0
    for number, page in enumerate(pages, start=1):
        count += len(page.docker_images)
        size += sum(int(image.image_size_bytes) for image in page.docker_images)
        if number == MAX_PAGES:
            return Images(count, size, complete=not page.next_page_token)
    return Images(count, size, complete=True)


def _read_account(client: Any, target: GarTarget, facts: GarFacts) -> None:
    from google.api_core import exceptions as gexc
    from google.cloud.iam_admin_v1 import types

    name = target.pusher.account_name

    def get() -> Any:
        try:
            return client.get_service_account(name=name, retry=None, timeout=CALL_TIMEOUT)
        except gexc.NotFound:
            return False

    read = Action("read the pusher account", name, "iam.serviceAccounts.get", SA_VIEWER)
    account = _attempt(facts, read, get)
    if account is None:
        return
    facts.account_present = account is not False
    if account is False:
        return
    facts.account_disabled = bool(account.disabled)
    request = types.ListServiceAccountKeysRequest(
        name=name, key_types=[types.ListServiceAccountKeysRequest.KeyType.USER_MANAGED]
    )
    listing = Action("list the pusher's keys", name, "iam.serviceAccountKeys.list", KEY_ADMIN)
    listed = _attempt(
        facts,
        listing,
        lambda: client.list_service_account_keys(request=request, retry=None, timeout=CALL_TIMEOUT),
    )
    if listed is not None:
        facts.keys = [
            PusherKey(keys.key_id_from_name(k.name), k.valid_after_time, bool(k.disabled))
            for k in listed.keys
        ]
