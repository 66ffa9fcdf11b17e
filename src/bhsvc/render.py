"""`bhsvc render`: values for both charts and the manifests, fully offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bhsvc import helm
from bhsvc.config import Config
from bhsvc.errors import UsageError
from bhsvc.files import SECRET_MODE, write_if_changed, yaml_text
from bhsvc.values import binderhub_values, jupyterhub_values
from bhsvc.workdir import (
    BINDERHUB_VALUES_FILE,
    GENERATED,
    HUB_VALUES_FILE,
    MANIFESTS_FILE,
    check_writable,
)

HEADER = GENERATED + "{source}; edit that file, not this one.\n"


def header(source: str) -> str:
    """The files' first line; the source is quoted and escaped (JSON's string form) so
    that no file name, however odd, can end the comment and add values."""
    return HEADER.format(source=json.dumps(source))


# How helm (3 and 4) words a values-schema failure, and a chart's own `fail`.
SCHEMA_REFUSAL = "values don't meet the specifications of the schema"
CHART_CHECK = "execution error at ("
HELM_DEBUG_HINT = "Use --debug flag to render out invalid YAML"


@dataclass(frozen=True)
class RenderedFiles:
    """Text of each file `render` writes, keyed by file name."""

    files: dict[str, str]


def values_files(
    config: Config,
    source: str,
    hub_values_in: Mapping[str, Any] | None = None,
    service: tuple[str, int] | None = None,
) -> dict[str, str]:
    """The values files' text for both charts (pure). `hub_values_in`: the user's own
    z2jh values, which bhsvc's hub file extends rather than replaces; `service`:
    BinderHub's discovered Service (name, port), else the chart's naming."""
    first = header(source)
    files = {BINDERHUB_VALUES_FILE: yaml_text(binderhub_values(config, hub_values_in), first)}
    hub = jupyterhub_values(config, hub_values_in, service)
    if hub is not None:
        files[HUB_VALUES_FILE] = yaml_text(hub, first)
    return files


def render(
    config: Config,
    source: str,
    helm_bin: helm.Helm,
    chart: str,
    hub_values_in: Mapping[str, Any] | None = None,
) -> RenderedFiles:
    """Both charts' values files and BinderHub's manifests (`helm template`, offline).

    A chart that refuses the settings is bad input. `hub_values_in`: as for
    `values_files`.
    """
    files = values_files(config, source, hub_values_in)
    args = helm.template_args(
        config.binderhub.release,
        chart,
        config.kube.namespace,
        ["-"],
        version=config.binderhub.chart_version,
    )
    try:
        manifests = helm.run(helm_bin, args, stdin=files[BINDERHUB_VALUES_FILE])
    except helm.HelmFailed as err:
        raise chart_refusal(str(err)) or err from None
    return RenderedFiles({**files, MANIFESTS_FILE: header(source) + manifests})


def _refusal(helm_error: str) -> tuple[str, str] | None:
    """What a failed `helm template` says about the values, if that is why it failed:
    ("schema", what the schema refuses) or ("check", the chart's own message)."""
    refused = helm_error.partition(SCHEMA_REFUSAL)
    if refused[1]:
        return "schema", (refused[2].partition("chart(s): ")[2] or refused[2]).strip()
    failed = helm_error.partition(CHART_CHECK)[2]
    if failed:
        return "check", failed.partition("): ")[2].removesuffix(HELM_DEBUG_HINT).strip()
    return None


def chart_refusal(helm_error: str) -> UsageError | None:
    """The bad input behind a failed `helm template`, if that is what it was: values
    its schema refuses (binderhub.values: the values bhsvc writes always meet the
    bundled chart's schema), or a combination its checks refuse (the chart's own
    message, such as a build daemon memory limit that holds no build)."""
    found = _refusal(helm_error)
    if found is None:
        return None
    kind, detail = found
    if kind == "schema":
        return UsageError(f"binderhub.values: the chart's schema refuses the values ({detail})")
    return UsageError(f"the binderhub-service chart refuses these settings: {detail}")


# Where the values the hub's chart reads come from, in the order helm takes them.
HUB_VALUES_SOURCES = "the hub values (hub.values_files, --hub-values, hub.values, then bhsvc's)"


def render_hub(
    config: Config, helm_bin: helm.Helm, chart: str, user_files: Sequence[Path], ours: str
) -> None:
    """`helm template` of the hub's chart (offline) with all its values: the user's
    files, then bhsvc's (`ours`, on standard input). Values the chart refuses are bad
    input, worded as helm names the key."""
    args = helm.template_args(config.hub.release, chart, config.hub_namespace, [*user_files, "-"])
    try:
        helm.run(helm_bin, args, stdin=ours)
    except helm.HelmFailed as err:
        found = _refusal(str(err))
        if found is None:
            raise
        kind, detail = found
        if kind == "schema":
            # "jupyterhub: - at '/hub': ..." names the chart, then each refusal.
            detail = re.sub(r"^[\w.-]+: - ", "", detail).replace(" - at ", "; at ")
            raise UsageError(
                f"{HUB_VALUES_SOURCES}: the z2jh chart's schema refuses them ({detail})"
            ) from None
        raise UsageError(f"the z2jh chart refuses {HUB_VALUES_SOURCES}: {detail}") from None


def write(rendered: RenderedFiles, output_dir: Path, inputs: Iterable[Path]) -> list[Path]:
    """The files, readable by their owner only: bhsvc puts no secret in them, but the
    user's own values they carry (raw values, profiles of the hub's files) may.

    Nothing is written when any of them would replace an input file or a file
    bhsvc did not write.
    """
    paths = {output_dir / name: text for name, text in rendered.files.items()}
    inputs = list(inputs)
    for path in paths:
        check_writable(path, inputs)
    for path, text in paths.items():
        write_if_changed(path, text, SECRET_MODE)
    return list(paths)
