"""Connecting to a cluster: the kubeconfig, its context and its credential plugin."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from bhsvc.errors import OperationError, UsageError
from bhsvc.files import file_kind, shown_path
from bhsvc.kube.client import Kube, short_reason

# How long a kubeconfig credential plugin (exec: gke-gcloud-auth-plugin, aws ...)
# may take to hand out a token.
CREDENTIAL_PLUGIN_TIMEOUT = 60.0
DEFAULT_KUBECONFIG = "~/.kube/config"


def kubeconfig_paths(explicit: str | None, env: Mapping[str, str]) -> list[Path]:
    """The kubeconfig files: the explicit one, else $KUBECONFIG (a list), else ~/.kube/config."""
    raw = explicit or env.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def check_kubeconfig_files(explicit: str | None, env: Mapping[str, str]) -> None:
    """UsageError when a kubeconfig file that exists is not a regular file: helm and
    the client would wait on a named pipe, or read a device without end."""
    name = "--kubeconfig" if explicit else "KUBECONFIG" if env.get("KUBECONFIG") else "kubeconfig"
    for path in kubeconfig_paths(explicit, env):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # missing: said where a kubeconfig is needed
        if not stat.S_ISREG(mode):
            kind = file_kind(mode)
            raise UsageError(f"{name}: {shown_path(path)} is {kind}, not a kubeconfig file")


# ---- connecting --------------------------------------------------------------


def _within(seconds: float, what: str, fn: Callable[[], object]) -> None:
    """Run `fn` (which cannot be given a timeout) with a deadline; it is left behind
    in a daemon thread when it does not finish."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)

    worker = threading.Thread(target=target, name="bhsvc-kubeconfig", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise OperationError(f"{what} did not answer within {seconds:g}s")
    if errors:
        raise errors[0]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("exec:"):
            self.messages.append(message.splitlines()[0])


@contextmanager
def _plugin_failures() -> Iterator[list[str]]:
    """What the kubernetes client logs (and then goes on without credentials) when a
    credential plugin fails: collected to be raised, instead of a stray log line."""
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        yield collect.messages
    finally:
        root.removeHandler(collect)


def connect(context: str | None, kubeconfig: str | None = None) -> Kube:
    """Load the kubeconfig (no request is made) and pick the context.

    UsageError when `context` is named but not in the kubeconfig; OperationError
    when there is no kubeconfig or it cannot be used.
    """
    check_kubeconfig_files(kubeconfig, os.environ)
    paths = kubeconfig_paths(kubeconfig, os.environ)
    existing = [p for p in paths if p.is_file()]
    where = os.pathsep.join(str(p) for p in paths)
    if not existing:
        raise OperationError(
            f"no kubeconfig at {where}: get credentials for your cluster first (for GKE: "
            "gcloud container clusters get-credentials <cluster>), or set KUBECONFIG"
        )
    # Imported only now: a dry run without a kubeconfig never pays for the client.
    from kubernetes import client
    from kubernetes import config as kconfig
    from kubernetes.config.config_exception import ConfigException

    source = os.pathsep.join(str(p) for p in existing)
    try:
        contexts, active = kconfig.list_kube_config_contexts(config_file=source)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as err:
        raise OperationError(f"cannot read the kubeconfig {source}: {short_reason(err)}") from None
    except yaml.YAMLError:
        raise OperationError(f"cannot read the kubeconfig {source}: not valid YAML") from None
    except (TypeError, AttributeError, KeyError):
        # The client indexes the parsed YAML without checking its shape.
        raise OperationError(
            f"cannot read the kubeconfig {source}: not a kubeconfig (unexpected structure)"
        ) from None
    names = [c["name"] for c in contexts or []]
    if context is not None:
        if context not in names:
            available = ", ".join(names) or "none"
            raise UsageError(
                f"kube.context {context!r} is not in the kubeconfig ({source}); "
                f"available contexts: {available}"
            )
        chosen = context
    else:
        if not active:
            raise OperationError(
                f"the kubeconfig ({source}) has no current context: set kube.context in "
                "bhsvc.yaml or run kubectl config use-context <name>"
            )
        chosen = active["name"]
    configuration = client.Configuration()
    try:
        with _plugin_failures() as failures:
            _within(
                CREDENTIAL_PLUGIN_TIMEOUT,
                f"the credential plugin of context {chosen} (kubeconfig user 'exec')",
                lambda: kconfig.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=source,
                    context=chosen,
                    client_configuration=configuration,
                    persist_config=False,
                ),
            )
        if failures:
            raise OperationError(
                f"the credential plugin of context {chosen} failed: {short_reason(failures[0])}"
            )
    except (ConfigException, OSError, ValueError) as err:
        raise OperationError(
            f"cannot use context {chosen} of {source}: {short_reason(err)}"
        ) from None
    except (TypeError, AttributeError, KeyError):
        raise OperationError(
            f"cannot use context {chosen} of {source}: its cluster or user entry is malformed"
        ) from None
    # One retry at most: a dead cluster should fail fast, not after urllib3's default three.
    configuration.retries = 1
    return Kube(chosen, str(configuration.host), client.ApiClient(configuration), source)
