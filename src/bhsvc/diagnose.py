"""Why pods are not ready, in words: pure functions over the API's JSON objects.

`kube.Kube.diagnose` reads pods, events and logs; this module turns them into
lines a person can act on (ImagePullBackOff with the image, CrashLoopBackOff
with the exit code and the last log lines, Pending with the scheduler's
message).
"""

from __future__ import annotations

from typing import Any

from bhsvc.server_text import clean

MAX_MESSAGE = 300


def _conditions(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (pod.get("status") or {}).get("conditions") or []}


def pod_ready(pod: dict[str, Any]) -> bool:
    ready = _conditions(pod).get("Ready")
    return bool(ready and ready.get("status") == "True")


def _clip(text: str) -> str:
    """Server text on one line, clipped, without control characters or escape
    sequences (a pod's message or log line may hold anything)."""
    return clean(" ".join(str(text).split()), MAX_MESSAGE)


def _container_statuses(pod: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    status = pod.get("status") or {}
    found = [("init container", s) for s in status.get("initContainerStatuses") or []]
    return found + [("container", s) for s in status.get("containerStatuses") or []]


def pod_problems(pod: dict[str, Any]) -> list[str]:
    """One line per reason this pod is not ready."""
    meta = pod.get("metadata") or {}
    name = meta.get("name", "?")
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    head = f"pod {name} ({phase})"
    if meta.get("deletionTimestamp"):
        return [f"{head}: being deleted"]
    scheduled = _conditions(pod).get("PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        reason = scheduled.get("reason") or "not scheduled"
        message = scheduled.get("message") or ""
        return [f"{head}: {reason}: {_clip(message)}" if message else f"{head}: {reason}"]
    lines = []
    for what, state in _container_statuses(pod):
        container = state.get("name", "?")
        current = state.get("state") or {}
        restarts = int(state.get("restartCount") or 0)
        waiting = current.get("waiting")
        terminated = current.get("terminated")
        where = f"{head} {what} {container}"
        if waiting:
            reason = waiting.get("reason") or "Waiting"
            line = f"{where}: {reason}"
            if waiting.get("message"):
                line += f": {_clip(waiting['message'])}"
            last = (state.get("lastState") or {}).get("terminated")
            if last:
                line += f" (restarted {restarts} times, last exit code {last.get('exitCode')}"
                line += f", {last.get('reason')})" if last.get("reason") else ")"
            lines.append(line)
        elif terminated and (terminated.get("exitCode") or 0) != 0:
            lines.append(
                f"{where}: terminated with exit code {terminated.get('exitCode')}"
                + (f" ({terminated.get('reason')})" if terminated.get("reason") else "")
            )
        elif "running" in current and not state.get("ready") and what == "container":
            lines.append(f"{where}: running but not ready (its readiness probe fails)")
    if not lines:
        ready = _conditions(pod).get("Ready") or {}
        detail = ready.get("message") or ready.get("reason") or "waiting for its containers"
        lines.append(f"{head}: not ready: {_clip(detail)}")
    return lines


def _event_time(event: dict[str, Any]) -> tuple[str, int]:
    stamp = str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )
    # Timestamps have one-second resolution: the resource version orders events within one.
    version = str((event.get("metadata") or {}).get("resourceVersion") or "0")
    return stamp, int(version) if version.isdigit() else 0


def event_lines(events: list[dict[str, Any]], limit: int = 5, indent: str = "") -> list[str]:
    """The last `limit` events, oldest first, one line each."""
    chosen = sorted(events, key=_event_time)[-limit:]
    lines = []
    for event in chosen:
        involved = event.get("involvedObject") or {}
        subject = f"{involved.get('kind', '')} {involved.get('name', '')}".strip()
        count = int(event.get("count") or 1)
        times = f" (x{count})" if count > 1 else ""
        lines.append(
            f"{indent}event {event.get('type', 'Normal')} {event.get('reason', '')} on {subject}: "
            f"{_clip(event.get('message', ''))}{times}"
        )
    return lines


def containers_with_logs(pod: dict[str, Any]) -> list[tuple[str, bool]]:
    """(container, previous) pairs whose logs help: crashed ones (the previous run's
    log) and running-but-unready ones (the current log)."""
    found = []
    for _what, state in _container_statuses(pod):
        current = state.get("state") or {}
        waiting = current.get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff" or (
            waiting and (state.get("lastState") or {}).get("terminated")
        ):
            found.append((state.get("name", ""), True))
        elif "terminated" in current or ("running" in current and not state.get("ready")):
            found.append((state.get("name", ""), False))
    return found


def log_lines(container: str, lines: list[str], previous: bool) -> list[str]:
    which = "previous run" if previous else "current run"
    if not lines:
        return [f"  log of container {container} ({which}): empty"]
    return [f"  last {len(lines)} log lines of container {container} ({which}):"] + [
        f"    | {clean(line, MAX_MESSAGE)}" for line in lines
    ]
