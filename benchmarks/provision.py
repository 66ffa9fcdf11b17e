"""Parallelism of `bhsvc init --non-interactive` provisioning Google Artifact Registry.

    python benchmarks/provision.py [--runs N] [--latency SECONDS] [--timeline]

Runs the real CLI (a subprocess) against the local Artifact Registry and IAM
fakes, with `--latency` (default 0.3 s) added to every request. For a first
provisioning it reports the parallelism ratio: the sum of the request
latencies divided by the wall time from the first request's start to the last
one's end. Goal: >= 1.6. Then a second run on the same state: how many
requests, and how many of them change anything (goal: none).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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
GOAL = 1.6


def run_init(gcp: Gcp, workdir: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BHSVC_", "GOOGLE_", "CLOUDSDK_"))
    }
    env.update(gcp.env)
    command = [sys.executable, "-m", "bhsvc", "init", "--non-interactive", "--output", "json"]
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bhsvc init failed ({done.returncode}): {done.stderr.strip()}")


def timeline(gcp: Gcp) -> list[str]:
    records = gcp.artifact_registry.calls() + gcp.iam.calls()
    start = min(r.start for r in records)
    lines = []
    for r in sorted(records, key=lambda r: r.start):
        offset = r.start - start
        bar = " " * int(offset * 20) + "#" * max(1, int(r.seconds * 20))
        lines.append(f"  {offset:5.2f}s {r.method:<24} {r.status:<10} {bar}")
    return lines


Summary = dict[str, float]


def one_round(latency: float, show_timeline: bool) -> tuple[Summary, Summary]:
    with serve_gcp() as gcp, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bhsvc.yaml").write_text(CONFIG)
        gcp.set_latency(latency)
        run_init(gcp, workdir)
        first = gcp.summary()
        lines = timeline(gcp)
        gcp.reset_log()
        run_init(gcp, workdir)
        second = gcp.summary()
    if show_timeline:
        print("first run:")
        print("\n".join(lines))
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--timeline", action="store_true", help="draw the first run's requests")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    rounds = [one_round(args.latency, args.timeline and i == 0) for i in range(args.runs)]
    ratios = [first["parallelism"] for first, _ in rounds]
    first, second = rounds[0]
    median = statistics.median(ratios)
    result = {
        "latency_seconds": args.latency,
        "runs": args.runs,
        "parallelism_median": round(median, 2),
        "parallelism_min": round(min(ratios), 2),
        "goal": GOAL,
        "first_run": {
            "requests": int(first["requests"]),
            "mutating": int(first["mutating"]),
            "wall_seconds": round(first["wall_seconds"], 2),
        },
        "second_run": {"requests": int(second["requests"]), "mutating": int(second["mutating"])},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"parallelism ratio (first run, {args.latency * 1000:.0f} ms per request): "
            f"median {median:.2f}, min {min(ratios):.2f} over {args.runs} runs (goal >= {GOAL})"
        )
        print(
            f"first run:  {int(first['requests'])} requests, {int(first['mutating'])} mutating, "
            f"{first['wall_seconds']:.2f} s from the first request to the last"
        )
        print(f"second run: {int(second['requests'])} requests, {int(second['mutating'])} mutating")
    if median < GOAL:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
