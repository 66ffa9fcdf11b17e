"""`bhsvc adopt`: write the bhsvc.yaml that takes over a 2i2c binderhub-service release.

It reads the release (`helm list`, `helm get values`, `helm get manifest`),
decides the config that keeps every object (`bhsvc.takeover`), renders
bhsvc's chart with it offline and compares the result with the release's
manifest, object by object; only then does it write the push password's file
and bhsvc.yaml. It changes nothing on the cluster: `bhsvc deploy` then
upgrades the same release in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bhsvc import helm as helm_mod
from bhsvc import naming, render, ui
from bhsvc.chart import chart_for
from bhsvc.components.releases import READ_TIMEOUT, deployed_values, listed_release, recovery_hint
from bhsvc.config.fields import field_rule
from bhsvc.errors import OperationError, UsageError
from bhsvc.files import (
    DOCUMENT_LIMIT,
    SECRET_LIMIT,
    SECRET_MODE,
    UnusableFile,
    read_user_file,
    shown_path,
    write_atomic,
    yaml_text,
)
from bhsvc.kube import connect
from bhsvc.lifecycle import Cluster
from bhsvc.takeover import (
    CannotAdopt,
    ObjectChanges,
    Takeover,
    compare_objects,
    config_of,
    plan_takeover,
)
from bhsvc.text import printable
from bhsvc.workdir import MANIFESTS_FILE

HEADER = (
    "# Written by 'bhsvc adopt' from helm release {release} in namespace {namespace}\n"
    "# ({chart}, revision {revision}). Reference: the bhsvc.yaml page of the documentation.\n"
)


def _checked_flag(key: str, flag: str, value: str) -> str:
    """A flag checked by the rule of the config key it becomes (bad input: exit 2)."""
    try:
        checked: str = field_rule(key).validate_python(value)
    except ValidationError as err:
        reason = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise UsageError(f"{flag}: {reason}") from None
    return checked


def run(
    config_path: Path,
    release: str,
    namespace: str,
    context: str | None,
    helm_path: str | None,
    output: str,
) -> None:
    release = _checked_flag("binderhub.release", "--release", release)
    namespace = _checked_flag("kube.namespace", "--namespace", namespace)
    if context is not None:
        _checked_flag("kube.context", "--context", context)
    _check_target(config_path, "--config")
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    kube = connect(context)
    cluster = Cluster(kube, helm)
    steps = ui.Steps(quiet=output == "json")
    with steps.step(f"read release {release} in namespace {namespace}") as step:
        listed, values, manifest = _read_release(cluster, release, namespace)
        step.detail = f"{printable(str(listed.get('chart')))}, revision {listed.get('revision')}"
    takeover = plan_takeover(values, release, namespace)
    if context is not None:
        takeover.document["kube"]["context"] = context
    with steps.step("render bhsvc's chart with it and compare the objects") as step:
        changes = _compare(takeover, config_path, helm, manifest)
        step.detail = (
            f"{len(changes.kept)} kept, {len(changes.added)} added, "
            f"{len(changes.taken)} taken over by bhsvc"
        )
    header = HEADER.format(
        release=release,
        namespace=namespace,
        chart=printable(str(listed.get("chart")), 200),
        revision=listed.get("revision"),
    )
    secret_path = config_path.parent / takeover.secret.path
    config_text = yaml_text(takeover.document, header)
    # Both checked before either is written: never one without the other.
    _check_target(secret_path, takeover.secret.what)
    secret_new = _is_new(secret_path, takeover.secret.text, SECRET_LIMIT)
    config_new = _is_new(config_path, config_text, DOCUMENT_LIMIT)
    try:
        if secret_new:
            write_atomic(secret_path, takeover.secret.text, SECRET_MODE, durable=True)
        if config_new:
            # Mode 0600: the release's own values may hold anything.
            write_atomic(config_path, config_text, SECRET_MODE, durable=True)
    except OSError as err:
        raise OperationError(
            f"cannot write {shown_path(err.filename or config_path)}: {err.strerror}"
        ) from None
    document = _document(
        takeover, changes, config_path, secret_path, listed, kube.context_name, config_new
    )
    if output == "json":
        ui.print_json(document)
        return
    _print_summary(document, takeover)


def _read_release(
    cluster: Cluster, release: str, namespace: str
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The release as helm lists it, its values and its manifest."""
    listed = listed_release(cluster, release, namespace)
    where = f"namespace {namespace} (context {cluster.context})"
    if listed is None:
        raise UsageError(f"--release: there is no helm release {release} in {where}")
    chart = str(listed.get("chart", ""))
    if not chart.startswith(f"{naming.CHART_NAME}-"):
        raise CannotAdopt(
            f"release {release} in {where} runs chart {printable(chart)}, not the 2i2c "
            f"{naming.CHART_NAME} chart"
        )
    status = str(listed.get("status", ""))
    if status != "deployed":
        hint = (
            recovery_hint(release, namespace, cluster.context)
            if status.startswith("pending")
            else "make it deployed again with helm (helm history, helm rollback) first"
        )
        raise CannotAdopt(f"release {release} in {where} is {printable(status)}: {hint}")
    values = deployed_values(cluster, release, namespace)
    args = ["get", "manifest", release, "--namespace", namespace]
    try:
        manifest = helm_mod.run(
            cluster.helm, [*args, "--kube-context", cluster.context], READ_TIMEOUT
        )
    except helm_mod.HelmFailed as err:
        raise OperationError(f"cannot read the manifest of release {release}: {err}") from None
    return listed, values, manifest


def _compare(
    takeover: Takeover, config_path: Path, helm: helm_mod.Helm, manifest: str
) -> ObjectChanges:
    """What `bhsvc deploy` with this config would do to the release's objects; the
    takeover is refused when it would delete one or change one in a way that breaks."""
    config = config_of(takeover.document, config_path.parent)
    try:
        rendered = render.render(config, str(config_path), helm, chart_for(config))
    except UsageError as err:
        raise CannotAdopt(f"bhsvc's chart refuses the release's values: {err}") from None
    try:
        deployed = [doc for doc in yaml.safe_load_all(manifest) if isinstance(doc, dict)]
    except yaml.YAMLError:
        raise OperationError("helm printed a manifest that is not YAML") from None
    ours = yaml.safe_load_all(rendered.files[MANIFESTS_FILE])
    push_secret = ("Secret", naming.registry_secret(config))
    changes = compare_objects(deployed, [doc for doc in ours if doc], [push_secret])
    if changes.lost or changes.problems:
        problems = [f"would delete {name}" for name in changes.lost] + changes.problems
        raise CannotAdopt(
            "an upgrade to bhsvc's chart would not keep the release's objects: "
            + "; ".join(problems)
        )
    return changes


def _check_target(path: Path, what: str) -> None:
    """A file adopt writes may exist only as a regular file (compared before writing)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UsageError(f"{what}: {shown_path(path)} exists and is not a regular file")


def _is_new(path: Path, text: str, limit: int) -> bool:
    """False when `path` holds `text` already (a re-run); refuses any other file there:
    adopt never writes over a file."""
    try:
        same = read_user_file(path, "file", max(limit, len(text.encode()))) == text
    except UnusableFile as err:
        if err.missing:
            return True
        same = False
    if not same:
        raise UsageError(
            f"{shown_path(path)} exists: bhsvc adopt never writes over a file; move it away "
            "(or pass another --config)"
        )
    return False


def _document(
    takeover: Takeover,
    changes: ObjectChanges,
    config_path: Path,
    secret_path: Path,
    listed: dict[str, Any],
    context: str,
    written: bool,
) -> dict[str, Any]:
    return {
        "ok": True,
        "release": takeover.document["binderhub"]["release"],
        "namespace": takeover.document["kube"]["namespace"],
        "context": context,
        "chart": printable(str(listed.get("chart")), 200),
        "revision": int(listed.get("revision") or 0),
        "config": str(config_path),
        "config_written": written,
        "secret_file": str(secret_path),
        "secret_holds": takeover.secret.what,
        "provider": takeover.document["registry"]["provider"],
        "mapped": [{"from": old, "to": new} for old, new in takeover.mapped],
        "values": [printable(key) for key in takeover.carried],
        "not_carried": [{"value": key, "why": why} for key, why in takeover.dropped],
        "notes": takeover.notes,
        "objects": {
            "kept": changes.kept,
            "added": changes.added,
            "taken_over": changes.taken,
        },
        "next": f"bhsvc deploy --config {config_path} --dry-run",
    }


def _print_summary(document: dict[str, Any], takeover: Takeover) -> None:
    out = ui.console
    what = "Wrote" if document["config_written"] else "Kept (the same)"
    out.print(
        f"{what} {document['config']} (mode 0600), for release {document['release']} in "
        f"namespace {document['namespace']} ({document['chart']}, revision "
        f"{document['revision']}).",
        markup=False,
    )
    out.print(
        f"Moved buildPodsRegistryCredentials.password ({document['secret_holds']}) out of the "
        f"values into {document['secret_file']} (mode 0600).",
        markup=False,
    )
    out.print("Values that became bhsvc keys:", markup=False)
    for old, new in takeover.mapped:
        out.print(f"  {old} -> {new}", markup=False)
    out.print(
        "Kept as they are in binderhub.values: " + ", ".join(document["values"]), markup=False
    )
    out.print("  (naming: 2i2c gives every object the name the 2i2c chart gave it)", markup=False)
    for item in document["not_carried"]:
        out.print(f"Not carried over: {item['value']} ({item['why']})", markup=False)
    objects = document["objects"]
    out.print(
        f"The upgrade keeps {len(objects['kept'])} objects with their names, kinds and "
        f"selectors: {', '.join(objects['kept'])}.",
        markup=False,
    )
    if objects["added"]:
        out.print(f"It adds: {', '.join(objects['added'])}.", markup=False)
    for name in objects["taken_over"]:
        out.print(
            f"{name}: bhsvc writes it from now on (the registry credentials), kept by helm.",
            markup=False,
        )
    for note in document["notes"]:
        out.print(f"Note: {note[0].upper()}{note[1:]}.", markup=False)
    out.print(f"Next: {document['next']}, then without --dry-run.", markup=False)
