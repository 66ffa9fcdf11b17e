"""Start-up cost: `bhsvc --help` against a minimal two-command typer app, and the
time `bhsvc render` adds over the `helm template` it runs.

    python benchmarks/startup.py [--runs N] [--helm PATH]

Goal: help ratio <= 1.3 (medians, runs interleaved so both sides see the same
machine load). The render overhead is shown for information only: a command that
then waits minutes for a cluster gains nothing from a few milliseconds here.
bhsvc's modules are byte-compiled first, as `pip install` does, so a checkout run
with PYTHONDONTWRITEBYTECODE set measures what users get rather than the compiler.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gar.yaml"

MINIMAL_APP = '''
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    typer.echo(f"hello {name}")


@app.command()
def bye() -> None:
    """Say bye."""
    typer.echo("bye")


app()
'''


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def interleaved(a: list[str], b: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    times_a, times_b = [], []
    for _ in range(2):  # warm the page cache
        timed(a, env), timed(b, env)
    for _ in range(runs):
        times_a.append(timed(a, env))
        times_b.append(timed(b, env))
    return statistics.median(times_a), statistics.median(times_b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--helm", default=os.environ.get("BHSVC_HELM") or shutil.which("helm"))
    args = parser.parse_args()
    import bhsvc

    compileall.compile_dir(Path(bhsvc.__file__).parent, quiet=1)
    env = {**os.environ, "COLUMNS": "100"}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        bhsvc_help, minimal_help = interleaved(
            [sys.executable, "-m", "bhsvc", "--help"],
            [sys.executable, str(minimal), "--help"],
            args.runs,
            env,
        )
        ratio = bhsvc_help / minimal_help
        ok &= ratio <= 1.3
        print(f"bhsvc --help        {bhsvc_help * 1000:7.1f} ms (median of {args.runs})")
        print(f"minimal app --help  {minimal_help * 1000:7.1f} ms")
        print(f"ratio               {ratio:7.2f}  (goal <= 1.30)")
        if args.helm:
            from bhsvc.config import load_config
            from bhsvc.render import values_files

            values = Path(tmp) / "values.yaml"
            config = load_config(EXAMPLE)
            values.write_text(values_files(config, "x")["binderhub-service.values.yaml"])
            render_env = {**env, "BHSVC_HELM": args.helm}
            bhsvc_render, helm_template = interleaved(
                [sys.executable, "-m", "bhsvc", "render", "-c", str(EXAMPLE),
                 "-d", str(Path(tmp) / "out")],
                [args.helm, "template", "binderhub", str(ROOT / "chart"), "--namespace", "binder",
                 "--values", str(values)],
                args.runs,
                render_env,
            )  # fmt: skip
            overhead = (bhsvc_render - helm_template) * 1000
            print(f"bhsvc render        {bhsvc_render * 1000:7.1f} ms")
            print(f"helm template       {helm_template * 1000:7.1f} ms")
            print(f"render overhead     {overhead:7.1f} ms")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
