"""`helm template` started before the config is validated.

helm takes about 40 ms to start before it reads its values from standard input,
about as long as importing and building the config model. `bhsvc render` starts
it on the release and namespace the file names, and `render.start` feeds it the
values once the config is valid, or stops it when the config asks for another
command. helm has read nothing until it is fed, so a stopped one did nothing; and
only a helm already probed on an earlier run is used, so nothing is run, fetched
or written before the config is known to be valid.
"""

from __future__ import annotations

import re
from typing import Any

from bhsvc import helm
from bhsvc.chart import bundled_chart
from bhsvc.errors import BhsvcError
from bhsvc.names import DEFAULT_RELEASE, LABEL, RELEASE


def template_names(data: Any) -> tuple[str, str] | None:
    """(release, namespace) of a config file's raw data, when both are plain names
    and the bundled chart is used; None otherwise (the config model then decides).

    Only names that cannot read as a helm flag reach helm before validation.
    """
    if not isinstance(data, dict):
        return None
    kube, binderhub = data.get("kube"), data.get("binderhub", {})
    if not isinstance(kube, dict) or not isinstance(binderhub, dict) or "chart" in binderhub:
        return None
    release, namespace = binderhub.get("release", DEFAULT_RELEASE), kube.get("namespace")
    if not (isinstance(release, str) and re.fullmatch(RELEASE, release)):
        return None
    if not (isinstance(namespace, str) and re.fullmatch(LABEL, namespace)):
        return None
    return release, namespace


def start(data: Any, helm_path: str | None) -> helm.Running | None:
    """`helm template` of the bundled chart waiting for its values, or None when the
    names are not plain or no known helm is at hand (the normal path then finds,
    probes or fetches one, after validation, and reports any problem)."""
    names = template_names(data)
    found = helm.known_helm(helm_path) if names is not None else None
    if names is None or found is None:
        return None
    release, namespace = names
    try:
        args = helm.template_args(release, str(bundled_chart()), namespace, ["-"])
        return helm.spawn(found, args, reads_stdin=True)
    except (BhsvcError, OSError):
        return None
