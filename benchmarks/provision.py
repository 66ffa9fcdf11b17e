"""Time of `bhsvc init --non-interactive` provisioning Google Artifact Registry.

    python benchmarks/provision.py [--runs N] [--latency SECONDS] [--timeline] [--json]

Runs the real CLI (a subprocess) against the local Artifact Registry and IAM
fakes, with `--latency` (default 0.1 s) added to every request, and measures
what a user waits for: a first provisioning from nothing, and a converged
re-run on the same state (the command's wall time, and the time from its first
request to its last). The re-run must change nothing: its mutating requests
are counted, goal none (the script exits 1 otherwise). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.gcp_services import Gcp, serve_gcp  # noqa: E402

CONFIG = """\
version: 1
kube:
  namespace: binder
registry:
  provider: gar
  gar:
    project: my-project
    region: europe-west10
    repository: binder
"""


def run_init(gcp: Gcp, workdir: Path) -> float:
    """One `bhsvc init --non-interactive` run; its wall time in seconds."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BHSVC_", "GOOGLE_", "CLOUDSDK_"))
    }
    env.update(gcp.env)
    command = [sys.executable, "-m", "bhsvc", "init", "--non-interactive", "--output", "json"]
    start = time.monotonic()
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"bhsvc init failed ({done.returncode}): {done.stderr.strip()}")
    return seconds


def timeline(gcp: Gcp) -> list[str]:
    records = sorted(gcp.artifact_registry.calls() + gcp.iam.calls(), key=lambda r: r.start)
    start = records[0].start
    lines = []
    for r in records:
        offset = r.start - start
        bar = " " * int(offset * 20) + "#" * max(1, int(r.seconds * 20))
        lines.append(f"  {offset:5.2f}s {r.method:<24} {r.status:<10} {bar}")
    return lines


def measure(gcp: Gcp, workdir: Path) -> dict[str, Any]:
    gcp.reset_log()
    wall = run_init(gcp, workdir)
    summary = gcp.summary()
    return {
        "command_seconds": wall,
        "requests_seconds": summary["wall_seconds"],
        "requests": int(summary["requests"]),
        "mutating": int(summary["mutating"]),
        "mutating_methods": sorted(gcp.mutating()),
    }


def one_round(latency: float, show_timeline: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    with serve_gcp() as gcp, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bhsvc.yaml").write_text(CONFIG)
        gcp.set_latency(latency)
        first = measure(gcp, workdir)
        if show_timeline:
            print("first run:")
            print("\n".join(timeline(gcp)))
        rerun = measure(gcp, workdir)
        if show_timeline:
            print("re-run:")
            print("\n".join(timeline(gcp)))
    return first, rerun


def _median(rounds: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in rounds), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--timeline", action="store_true", help="draw the first round's requests")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    rounds = [one_round(args.latency, args.timeline and i == 0) for i in range(args.runs)]
    firsts = [first for first, _ in rounds]
    reruns = [rerun for _, rerun in rounds]
    result = {
        "latency_seconds": args.latency,
        "runs": args.runs,
        "first_run": {
            "command_seconds_median": _median(firsts, "command_seconds"),
            "requests_seconds_median": _median(firsts, "requests_seconds"),
            "requests": firsts[0]["requests"],
            "mutating": firsts[0]["mutating_methods"],
        },
        "rerun": {
            "command_seconds_median": _median(reruns, "command_seconds"),
            "requests_seconds_median": _median(reruns, "requests_seconds"),
            "requests": reruns[0]["requests"],
            "mutating_max": max(r["mutating"] for r in reruns),
            "goal_mutating": 0,
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        first, rerun = result["first_run"], result["rerun"]
        print(f"{args.runs} rounds, {args.latency * 1000:.0f} ms per request, medians:")
        print(
            f"first run: {first['command_seconds_median']:.2f} s for the command, "
            f"{first['requests_seconds_median']:.2f} s from its first request to its last; "
            f"{first['requests']} requests, mutating: {', '.join(first['mutating'])}"
        )
        print(
            f"re-run:    {rerun['command_seconds_median']:.2f} s for the command, "
            f"{rerun['requests_seconds_median']:.2f} s from its first request to its last; "
            f"{rerun['requests']} requests, {rerun['mutating_max']} mutating (goal 0)"
        )
    if result["rerun"]["mutating_max"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
