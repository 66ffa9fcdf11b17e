"""The text screen of status and doctor, from their JSON documents. Pure: it returns
lines in rich markup, every value from the cluster escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape

from bhsvc.health.summary import size_text
from bhsvc.registry import cleanup

_MARKS = {
    "converged": "[green]✓[/]",
    "drifted": "[yellow]~[/]",
    "missing": "[red]✗[/]",
    "failing": "[red]✗[/]",
    "unknown": "[dim]?[/]",
}
_SEVERITY = {"error": "[red]error[/]", "warning": "[yellow]warning[/]"}
LABEL = 11  # width of the section labels


def _row(label: str, text: str) -> str:
    return f"[bold]{label:<{LABEL}}[/] {text}"


def _more(label: str, text: str) -> str:
    return f"{'':<{LABEL}} {text}"


def status_lines(doc: Mapping[str, Any]) -> list[str]:
    e = escape
    lines = [
        f"Release [bold]{e(doc['release'])}[/] in namespace [bold]{e(doc['namespace'])}[/], "
        f"context [bold]{e(doc['context'])}[/] ({e(doc['server'])}), Kubernetes "
        f"{e(doc['kubernetes_version'])}",
        "",
    ]
    lines += _components(doc["components"])
    lines += _releases(doc["releases"])
    lines += _binderhub(doc["binderhub"])
    lines += _builds(doc["builds"])
    lines += _registry(doc["registry"])
    lines += _hub(doc["hub"])
    lines += _orphans(doc["orphans"])
    lines.append("")
    lines += problem_lines(doc["problems"])
    return lines


def _components(components: Sequence[Mapping[str, Any]]) -> list[str]:
    width = max((len(c["name"]) for c in components), default=0)
    lines = ["[bold]Components[/]"]
    for c in components:
        detail = f"  [dim]{escape(c['detail'])}[/]" if c["detail"] else ""
        lines.append(
            f"  {_MARKS.get(c['state'], '?')} {escape(c['name']):<{width}}  {c['state']}{detail}"
        )
    return lines


def _releases(releases: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for number, r in enumerate(releases):
        label = "Releases" if number == 0 else ""
        where = f"{escape(r['release'])} in {escape(r['namespace'])}:"
        if not r["installed"]:
            lines.append(_row(label, f"{where} [red]not installed[/]"))
            continue
        lines.append(
            _row(
                label,
                f"{where} {escape(r['chart'] or '')} {escape(r['chart_version'] or '')} "
                f"(app {escape(r['app_version'] or '?')}), revision {r['revision']}, "
                f"{escape(r['status'] or '?')}, last deployed {escape(r['last_deployed'] or '?')}",
            )
        )
    return lines


def _answer(answer: Mapping[str, Any]) -> str:
    if answer["answered"]:
        return f"[green]BinderHub {escape(answer['binderhub'])}[/]"
    return f"[red]no answer[/] ({escape(answer['error'] or '')})"


def _binderhub(bh: Mapping[str, Any]) -> list[str]:
    if bh["pods_total"] is None:
        pods = "pods not read"
    else:
        pods = f"{bh['pods_ready']}/{bh['pods_total']} pods ready"
    wanted = f" ({bh['replicas']} wanted)" if bh["replicas"] is not None else ""
    return [_row("BinderHub", f"{pods}{wanted}; /versions: {_answer(bh['versions'])}")]


def _builds(builds: Mapping[str, Any]) -> list[str]:
    parts = [f"builder {escape(builds['builder'])}"]
    daemon = builds["daemon"]
    if builds["builder"] != "host" and daemon is not None:
        nodes = ", ".join(f"{escape(n['node'])} {n['ready']}/{n['total']}" for n in daemon)
        parts.append(f"daemon ready per node: {nodes or '[red]no daemon pod[/]'}")
    if builds["running"] is not None:
        parts.append(f"{len(builds['running'])} running")
    failed = builds["failed_recently"]
    if failed is not None:
        parts.append(f"{len(failed)} failed in the last 24 h")
    lines = [_row("Builds", "; ".join(parts))]
    for build in failed or []:
        lines.append(
            _more(
                "",
                f"[red]failed[/] {escape(build['name'])} ({escape(build['repository'])}): "
                f"{escape(build['reason'])}",
            )
        )
    return lines


def _registry(reg: Mapping[str, Any]) -> list[str]:
    prefix = f"image prefix {escape(reg['image_prefix'])}"
    if not reg["checked"]:
        return [_row("Registry", f"{prefix}; not checked: {escape(reg['not_checked_reason'])}")]
    repo, pusher = reg["repository"], reg["pusher"]
    if repo["present"] is None:
        state = "not read"
    elif not repo["present"]:
        state = "[red]does not exist[/]"
    elif repo["images"] is None:
        state = "present, images not read"
    else:
        more = "" if repo["complete"] else " or more"
        state = f"present, {repo['images']}{more} images, {size_text(repo['size_bytes'])}"
    lines = [_row("Registry", f"{escape(repo['name'])}: {state}"), _more("", prefix)]
    if repo["cleanup"] is not None:
        lines.append(_more("", f"cleanup policies: {escape(_cleanup(repo['cleanup']))}"))
    account = escape(pusher["account"])
    if pusher["present"] is None:
        lines.append(_more("", f"pusher {account}: not read"))
    elif not pusher["present"]:
        lines.append(_more("", f"pusher {account}: [red]does not exist[/]"))
    else:
        enabled = "[red]disabled[/]" if pusher["disabled"] else "enabled"
        lines.append(_more("", f"pusher {account}: {enabled}; {_key(pusher)}"))
    return lines


def _cleanup(found: Mapping[str, Any]) -> str:
    if not found["policies"]:
        return "none"
    views = [cleanup.PolicyView(**policy) for policy in found["policies"]]
    return cleanup.describe(views, found["dry_run"])


def _key(pusher: Mapping[str, Any]) -> str:
    if pusher["auth"] == "workload-identity":
        return "no key: BinderHub pushes through Workload Identity"
    key_id = pusher["key_id"]
    if key_id is None:
        return "key in use not known"
    shown = escape(key_id[:12])
    if pusher["key_present"] is False:
        return f"key {shown} [red]deleted[/]"
    if pusher["key_present"] is None:
        return f"key {shown}"
    state = "[red]disabled[/]" if pusher["key_disabled"] else "enabled"
    age = pusher["key_age_days"]
    old = " [yellow](rotate it)[/]" if age is not None and age > 90 else ""
    return f"key {shown}, {age} days old{old}, {state}"


def _hub(hub: Mapping[str, Any]) -> list[str]:
    if not hub["enabled"]:
        return [_row("Hub", "not configured (hub.enabled: false)")]
    service = hub["service"]
    wiring = (
        f"service {escape(service['name'])} -> {escape(service['url'] or '?')}"
        if service
        else "[red]no hub service entry[/]"
    )
    route = hub["route"]
    return [_row("Hub", f"{wiring}; {escape(route['path'])} through the proxy: {_answer(route)}")]


def _orphans(orphans: Sequence[Mapping[str, Any]] | None) -> list[str]:
    if orphans is None:
        return [_row("Orphans", "not read")]
    if not orphans:
        return [_row("Orphans", "none")]
    return [
        _row(
            "Orphans" if number == 0 else "",
            f"[yellow]{escape(o['kind'])} {escape(o['namespace'])}/{escape(o['name'])}[/] "
            f"(release {escape(o['release'])})",
        )
        for number, o in enumerate(orphans)
    ]


def problem_lines(problems: Sequence[Mapping[str, Any]]) -> list[str]:
    if not problems:
        return ["[green]Healthy:[/] no problem found."]
    errors = sum(1 for p in problems if p["severity"] == "error")
    lines = [f"[bold]{errors} error(s), {len(problems) - errors} warning(s):[/]"]
    for p in problems:
        lines.append(
            f"  {_SEVERITY.get(p['severity'], p['severity'])} {escape(p['subject'])}: "
            f"{escape(p['message'])}"
        )
    return lines


def finding_lines(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    if not findings:
        return ["[green]Doctor:[/] no known failure found."]
    lines = [f"[bold]Doctor: {len(findings)} finding(s)[/]"]
    for number, f in enumerate(findings, start=1):
        check = escape(f"[{f['check']}]")
        severity = _SEVERITY.get(f["severity"], f["severity"])
        lines.append(f"{number}. {severity} {check} {escape(f['finding'])}")
        lines.append(f"   [bold]fix:[/] {escape(f['fix'])}")
    return lines
