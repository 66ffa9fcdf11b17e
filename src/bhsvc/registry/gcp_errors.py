"""Turning Google Cloud client errors into one-line messages a user can act on."""

from __future__ import annotations

from dataclasses import dataclass

from bhsvc.errors import BhsvcError, OperationError
from bhsvc.registry.retry import DeadlineExpired

ADC_HELP = (
    "no Google Cloud credentials found: run 'gcloud auth application-default login' "
    "(or set GOOGLE_APPLICATION_CREDENTIALS to a credentials file) and try again"
)


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


def _describe(err: BaseException) -> str:
    from google.api_core import exceptions as gexc

    if isinstance(err, gexc.GoogleAPICallError):
        status = err.grpc_status_code.name if err.grpc_status_code else str(err.code)
        return f"{status}: {err.message}"
    return f"{type(err).__name__}: {err}"


def _metadata(err: BaseException) -> dict[str, str]:
    meta = getattr(err, "metadata", None)
    return {str(k): str(v) for k, v in dict(meta).items()} if meta else {}


def translate(err: BaseException, action: Action) -> BhsvcError:
    """The error to show for `err` raised while doing `action`."""
    from google.api_core import exceptions as gexc

    if isinstance(err, BhsvcError):
        return err
    if isinstance(err, DeadlineExpired):
        return OperationError(
            f"could not {action.what} ({action.resource}): still failing after "
            f"{err.attempts} attempts: {_describe(err.last)}"
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
