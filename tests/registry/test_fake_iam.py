"""The IAM fake answers the real client library as IAM does: service accounts'
own IAM policies (etags, refusals in IAM's words) and paged account lists."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from google.api_core import exceptions as gexc
from google.cloud.iam_admin_v1 import IAMClient, types
from google.iam.v1 import iam_policy_pb2, policy_pb2

from bhsvc.registry.gcp_clients import make_clients
from fakes.gcp_services import Gcp

EMAIL = "pusher@my-project.iam.gserviceaccount.com"
NAME = f"projects/my-project/serviceAccounts/{EMAIL}"
KSA = "serviceAccount:my-project.svc.id.goog[binder/binderhub]"
ROLE = "roles/iam.workloadIdentityUser"


@pytest.fixture
def iam(gcp: Gcp) -> Iterator[IAMClient]:
    gcp.iam.add_account("my-project", "pusher")
    clients = make_clients(gcp.env)
    try:
        yield clients.iam
    finally:
        clients.close()


def get(iam: IAMClient, resource: str = NAME) -> policy_pb2.Policy:
    return iam.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=resource))


def set_policy(iam: IAMClient, policy: policy_pb2.Policy) -> policy_pb2.Policy:
    request = iam_policy_pb2.SetIamPolicyRequest(resource=NAME, policy=policy)
    return iam.set_iam_policy(request=request)


def test_a_new_account_has_an_empty_policy(iam: IAMClient) -> None:
    policy = get(iam)

    assert list(policy.bindings) == []
    assert base64.b64encode(policy.etag) == b"ACAB"
    # `projects/-` finds the account too, as it does for every service-account call.
    assert get(iam, f"projects/-/serviceAccounts/{EMAIL}") == policy


def test_a_write_with_the_etag_read_changes_the_etag(gcp: Gcp, iam: IAMClient) -> None:
    gcp.iam.enable_workload_pool("my-project")
    policy = get(iam)
    policy.bindings.add(role=ROLE, members=[KSA])

    written = set_policy(iam, policy)

    assert written.etag != policy.etag
    assert get(iam) == written
    assert gcp.iam.members(EMAIL, ROLE) == [KSA]
    # A second write with the etag of the first read is stale.
    with pytest.raises(gexc.Aborted, match="concurrent policy changes"):
        set_policy(iam, policy)


def test_a_workload_identity_member_needs_the_pool(gcp: Gcp, iam: IAMClient) -> None:
    policy = get(iam)
    policy.bindings.add(role=ROLE, members=[KSA])

    with pytest.raises(gexc.InvalidArgument) as caught:
        set_policy(iam, policy)

    assert caught.value.message == (
        "Identity Pool does not exist (my-project.svc.id.goog). Please check that you "
        "specified a valid resource name as returned in the `name` attribute in the "
        "configuration API."
    )
    assert list(get(iam).bindings) == []


def test_roles_and_members_are_checked(gcp: Gcp, iam: IAMClient) -> None:
    policy = get(iam)
    policy.bindings.add(role="roles/artifactregistry.writer", members=[f"serviceAccount:{EMAIL}"])
    with pytest.raises(gexc.InvalidArgument, match="is not supported for this resource"):
        set_policy(iam, policy)

    policy = get(iam)
    missing = "nobody@my-project.iam.gserviceaccount.com"
    policy.bindings.add(role=ROLE, members=[f"serviceAccount:{missing}"])
    with pytest.raises(gexc.InvalidArgument, match=f"Service account {missing} does not exist"):
        set_policy(iam, policy)


def test_an_unknown_account_has_no_policy(iam: IAMClient) -> None:
    with pytest.raises(gexc.NotFound):
        get(iam, "projects/my-project/serviceAccounts/nobody@my-project.iam.gserviceaccount.com")


def test_accounts_are_listed_page_by_page(gcp: Gcp, iam: IAMClient) -> None:
    for n in range(30):
        gcp.iam.add_account("my-project", f"account-{n:02d}")
    gcp.iam.add_account("other-project", "elsewhere")
    compute = gcp.iam.add_compute_default("my-project", "123456789012")

    first = iam.list_service_accounts(
        request=types.ListServiceAccountsRequest(name="projects/my-project")
    )
    # The pager follows next_page_token: 20 accounts a page unless asked otherwise.
    assert len(first.accounts) == 20
    assert first.next_page_token
    emails = [account.email for account in first]
    assert len(emails) == 32
    assert compute in emails and EMAIL in emails
    assert "elsewhere@other-project.iam.gserviceaccount.com" not in emails
    with pytest.raises(gexc.InvalidArgument):
        iam.list_service_accounts(
            request=types.ListServiceAccountsRequest(name="projects/my-project", page_size=101)
        )
