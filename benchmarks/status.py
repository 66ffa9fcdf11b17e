"""Time of `bhsvc status` (and `bhsvc doctor`) against one installation.

    python benchmarks/status.py [--runs N] [--hub] [--doctor] [--python PATH] [--json]

Installs BinderHub once with `bhsvc deploy` (real helm 4, from $BHSVC_HELM or
PATH) into the fake Kubernetes API, with a fake BinderHub behind the
port-forward and the Artifact Registry and IAM fakes, then runs the real CLI (a
subprocess: interpreter start and imports included) N times and reports the
wall time and the requests each run makes: to the Kubernetes API, to Google
Cloud, and helm processes. Every run must be read-only (no write to the
cluster, no mutating Google call: the script exits 1 otherwise) and healthy.
Goal: about 2 s per status run. Not part of the tests.

Run the CLI with an interpreter whose environment has bhsvc without its test
extras (`--python`, e.g. .nox/lint/bin/python): with kubernetes-validate
installed (a test dependency), `import kubernetes` also loads it through
kubernetes.dynamic, and its jsonschema's URI grammar costs seconds that users
never pay.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

from deploylib import key_json  # noqa: E402
from healthlib import provision  # noqa: E402

from fakes.binderhub import FakeBinderHub  # noqa: E402
from fakes.gcp_services import serve_gcp  # noqa: E402
from fakes.k8s_api import FakeKubernetes  # noqa: E402

GOAL_SECONDS = 2.0


def bhsvc(
    python: str, env: dict[str, str], *args: str
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """One run: its wall time, the CPU time of bhsvc and its helm processes, the result."""
    start, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [python, "-m", "bhsvc", *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.monotonic() - start, cpu, done


def setup(folder: Path, hub: bool) -> Path:
    """The project: its pusher key and its config file."""
    state = folder / "proj" / ".bhsvc"
    state.mkdir(parents=True)
    (state / "binderhub-pusher-key.json").write_text(key_json())
    (state / "binderhub-pusher-key.json").chmod(0o600)
    config = folder / "proj" / "bhsvc.yaml"
    text = (
        "version: 1\nkube: {namespace: binder}\nbinderhub: {release: binderhub}\n"
        "registry: {provider: gar, gar: {project: my-project, region: europe-west10}}\n"
    )
    if hub:
        from hub.hublib import fake_z2jh_chart

        chart = fake_z2jh_chart(folder / "charts", "4.3.1")
        text += f"hub: {{enabled: true, namespace: jupyterhub, chart: {chart}}}\n"
    config.write_text(text)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hub", action="store_true", help="with a (stand-in) JupyterHub")
    parser.add_argument("--doctor", action="store_true", help="time doctor instead")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of bhsvc")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="after the runs, profile one: top N"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    helm = os.environ.get("BHSVC_HELM") or shutil.which("helm")
    if not helm:
        raise SystemExit("no helm: set BHSVC_HELM or put helm 4 on PATH")
    command = "doctor" if args.doctor else "status"
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeKubernetes(strict_references=True) as cluster,
        FakeBinderHub(base_url="/services/binder/" if args.hub else "/") as binderhub,
        serve_gcp() as gcp,
    ):
        folder = Path(tmp)
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        cluster.port_targets[8000] = ("127.0.0.1", binderhub.port)
        provision(gcp)
        config = setup(folder, args.hub)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BHSVC_", "GOOGLE_"))},
            **gcp.env,
            "KUBECONFIG": str(cluster.kubeconfig(folder / "kubeconfig")),
            "BHSVC_HELM": helm,
            "HOME": str(folder / "home"),
        }
        _, _, done = bhsvc(args.python, env, "deploy", "--config", str(config), "--yes")
        if done.returncode:
            raise SystemExit(f"deploy failed: {done.stderr.strip()}")
        runs: list[dict[str, Any]] = []
        for _ in range(args.runs):
            cluster.writes.clear()
            cluster.requests.clear()
            gcp.reset_log()
            seconds, cpu, done = bhsvc(
                args.python, env, command, "--config", str(config), "-o", "json"
            )
            document = json.loads(done.stdout)
            runs.append(
                {
                    "seconds": seconds,
                    "cpu_seconds": cpu,
                    "exit_code": done.returncode,
                    "kubernetes_requests": len(cluster.requests),
                    "google_requests": gcp.requests(),
                    "writes": len(cluster.writes),
                    "google_mutating": len(gcp.mutating()),
                    "problems": len(document["problems"]),
                }
            )
        if args.profile:
            stats = folder / "profile.out"
            subprocess.run(
                [args.python, "-m", "cProfile", "-o", str(stats), "-m", "bhsvc", command,
                 "--config", str(config), "-o", "json"],
                env=env, capture_output=True, timeout=600, check=False,
            )  # fmt: skip
            pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(args.profile)
    times = [r["seconds"] for r in runs]
    cpu_times = [r["cpu_seconds"] for r in runs]
    result = {
        "command": command,
        "hub": args.hub,
        "runs": args.runs,
        "seconds_median": round(statistics.median(times), 2),
        "seconds_min": round(min(times), 2),
        "seconds_max": round(max(times), 2),
        # On a busy machine the wall time grows; the CPU time is what the run costs.
        "cpu_seconds_median": round(statistics.median(cpu_times), 2),
        "load_average": round(os.getloadavg()[0], 1),
        "goal_seconds": GOAL_SECONDS,
        "kubernetes_requests": runs[0]["kubernetes_requests"],
        "google_requests": runs[0]["google_requests"],
        "writes": max(r["writes"] + r["google_mutating"] for r in runs),
        "exit_codes": sorted({r["exit_code"] for r in runs}),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"bhsvc {command}{' (with a hub)' if args.hub else ''}, {args.runs} runs: median "
            f"{result['seconds_median']:.2f} s (min {result['seconds_min']:.2f}, max "
            f"{result['seconds_max']:.2f}; goal about {GOAL_SECONDS:.0f} s), CPU "
            f"{result['cpu_seconds_median']:.2f} s (bhsvc and its helm processes; load "
            f"average {result['load_average']}), "
            f"{result['kubernetes_requests']} Kubernetes API requests (helm's included), "
            f"{result['google_requests']} Google Cloud requests, {result['writes']} writes "
            f"(goal 0), exit codes {result['exit_codes']}"
        )
    if result["writes"] or result["exit_codes"] != [0]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
