"""Turning Google Cloud client errors into one-line messages a user can act on,
and sorting them: worth another try, or a refusal that changed nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bhsvc.errors import BhsvcError, OperationError

if TYPE_CHECKING:
    from google.api_core.exceptions import RetryError

ADC_HELP = (
    "no Google Cloud credentials found: run 'gcloud auth application-default login' "
    "(or set GOOGLE_APPLICATION_CREDENTIALS to a credentials file) and try again"
)
WORKLOAD_IDENTITY_DOCS = "https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity"
KEY_CONSTRAINT_DOCS = (
    "https://cloud.google.com/resource-manager/docs/organization-policy/"
    "restricting-service-accounts#disable_service_account_key_creation"
)
_MISSING_POOL = re.compile(r"Identity Pool does not exist \(([a-z0-9.:-]+\.svc\.id\.goog)\)")
# Both the legacy boolean constraint and its managed successor end in this name.
_KEY_CREATION_CONSTRAINT = "disableServiceAccountKeyCreation"


@dataclass(frozen=True)
class Action:
    """One API call in words: what it does, on what, and what it needs."""

    what: str  # "create the repository"
    resource: str  # "projects/p/locations/l/repositories/r"
    permission: str  # the IAM permission the call needs
    role: str  # a predefined role that holds it


def is_transient(err: BaseException) -> bool:
    """429, 503, UNAVAILABLE, DEADLINE_EXCEEDED and dropped connections: worth another try."""
    import requests
    from google.api_core import exceptions as gexc

    if isinstance(err, (gexc.TooManyRequests, gexc.ServiceUnavailable, gexc.GatewayTimeout)):
        return True
    return isinstance(err, (requests.ConnectionError, requests.Timeout))


def is_refused_unprocessed(err: BaseException) -> bool:
    """429 and UNAVAILABLE: the service turned the call away, so even a call that must
    not happen twice may be sent again (a timeout, by contrast, may hide a success)."""
    from google.api_core import exceptions as gexc

    return isinstance(err, (gexc.TooManyRequests, gexc.ServiceUnavailable))


def surely_not_done(err: BaseException | None) -> bool:
    """Whether the service answered `err` and so did nothing: a 4xx refusal, or 429/503.

    A timeout, a dropped connection or a 5xx may hide a call that took effect.
    """
    from google.api_core import exceptions as gexc

    if isinstance(err, gexc.RetryError):
        return surely_not_done(err.cause)
    if isinstance(err, gexc.Cancelled):
        return False
    return isinstance(err, (gexc.ClientError, gexc.ServiceUnavailable))


def printable(text: str) -> str:
    """Server-provided text on one line, without control characters."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _describe(err: BaseException | None) -> str:
    from google.api_core import exceptions as gexc

    if isinstance(err, gexc.GoogleAPICallError):
        status = err.grpc_status_code.name if err.grpc_status_code else str(err.code)
        return f"{status}: {printable(str(err.message))}"
    if isinstance(err, BhsvcError):
        return str(err)
    return f"{type(err).__name__}: {printable(str(err))}"


def _metadata(err: BaseException) -> dict[str, str]:
    meta = getattr(err, "metadata", None)
    return {str(k): printable(str(v)) for k, v in dict(meta).items()} if meta else {}


def violated_key_constraint(err: BaseException) -> str | None:
    """The org policy constraint that forbids service-account keys, when `err` names it.

    IAM answers FAILED_PRECONDITION "Key creation is not allowed on this service
    account." with a google.rpc.PreconditionFailure whose violation type is
    `constraints/iam.disableServiceAccountKeyCreation`.
    """
    from google.api_core import exceptions as gexc
    from google.rpc import error_details_pb2

    if not isinstance(err, gexc.FailedPrecondition):
        return None
    for detail in err.details:
        if isinstance(detail, error_details_pb2.PreconditionFailure):
            for violation in detail.violations:
                if _KEY_CREATION_CONSTRAINT in violation.type:
                    return printable(str(violation.type))
    if _KEY_CREATION_CONSTRAINT in str(err.message):
        return f"constraints/iam.{_KEY_CREATION_CONSTRAINT}"
    return None


def missing_workload_pool(err: BaseException) -> str | None:
    """The Workload Identity pool (`<project>.svc.id.goog`) IAM says does not exist.

    A policy binding for `serviceAccount:<project>.svc.id.goog[ns/ksa]` before any
    cluster of the project enabled Workload Identity is refused with INVALID_ARGUMENT
    "Identity Pool does not exist (<project>.svc.id.goog). ..."
    """
    from google.api_core import exceptions as gexc

    if not isinstance(err, gexc.BadRequest):
        return None
    found = _MISSING_POOL.search(str(err.message))
    return printable(found.group(1)) if found else None


def still_failing(action: Action, seconds: float, err: RetryError) -> OperationError:
    """The message when the run's deadline ends the retries of `action`."""
    return OperationError(
        f"could not {action.what} ({action.resource}): still failing after {seconds:.0f} s "
        f"({_describe(err.cause)}); run init again later"
    )


def deadline_passed(action: Action, deadline: float) -> OperationError:
    return OperationError(
        f"could not {action.what} ({action.resource}): the run's {deadline:.0f} s deadline "
        "passed before it; run init again"
    )


def translate(err: BaseException, action: Action) -> BhsvcError:
    """The error to show for `err` raised while doing `action`."""
    from google.api_core import exceptions as gexc

    if isinstance(err, BhsvcError):
        return err
    constraint = violated_key_constraint(err)
    if constraint is not None:
        return OperationError(
            f"could not {action.what} ({action.resource}): the organization policy constraint "
            f"{constraint} forbids service-account keys. On GKE with Workload Identity "
            "Federation, push without a key: set registry.gar.auth: workload-identity in "
            f"bhsvc.yaml and run bhsvc init again ({WORKLOAD_IDENTITY_DOCS}); or ask for an "
            f"exception for this project ({KEY_CONSTRAINT_DOCS})"
        )
    pool = missing_workload_pool(err)
    if pool is not None:
        project = pool.removesuffix(".svc.id.goog")
        return OperationError(
            f"could not {action.what} ({action.resource}): the Workload Identity pool {pool} "
            f"does not exist, so no GKE cluster of project {project} has Workload Identity "
            "Federation enabled: enable it (gcloud container clusters update CLUSTER "
            f"--location LOCATION --workload-pool={pool}, and GKE_METADATA on its node "
            "pools), or set registry.gar.auth: key"
        )
    if isinstance(err, gexc.Forbidden):
        meta = _metadata(err)
        if getattr(err, "reason", None) == "SERVICE_DISABLED":
            service = meta.get("service", "the API")
            project = meta.get("consumer", "").removeprefix("projects/") or "the project"
            return OperationError(
                f"could not {action.what}: {service} is not enabled in {project}; enable it with "
                f"'gcloud services enable {service} --project {project}'"
            )
        permission = meta.get("permission") or action.permission
        return OperationError(
            f"permission denied: to {action.what} the account running bhsvc needs "
            f"'{permission}' on {action.resource}; grant it a role that includes it, "
            f"such as {action.role}"
        )
    if isinstance(err, gexc.Unauthorized):
        return OperationError(
            f"could not {action.what}: the credentials were rejected ({_describe(err)}); "
            "run 'gcloud auth application-default login' again"
        )
    return OperationError(f"could not {action.what} ({action.resource}): {_describe(err)}")
