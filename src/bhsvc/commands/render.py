"""`bhsvc render`."""

from __future__ import annotations

from pathlib import Path

from bhsvc import helm as helm_mod
from bhsvc import render as render_mod
from bhsvc.chart import chart_for
from bhsvc.config import load_config
from bhsvc.errors import UsageError


def run(config_path: Path, output_dir: Path, output: str, helm_path: str | None) -> None:
    config = load_config(config_path)
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir {output_dir}: is a file, not a directory")
    helm = helm_mod.find_helm(helm_path, notify=_notify)
    chart = chart_for(config)
    job = render_mod.start(config, str(config_path), helm, chart)
    # Imported while helm renders: the console's import cost overlaps helm's run.
    from bhsvc import ui

    steps = ui.Steps(quiet=output == "json")
    with steps.step(f"render with helm {helm.version_text}") as step:
        rendered = job.wait()
        try:
            written = render_mod.write(rendered, output_dir)
        except OSError as err:
            where = err.filename or output_dir
            raise UsageError(
                f"--output-dir {output_dir}: cannot write {where} ({err.strerror})"
            ) from None
        step.detail = f"{len(written)} files in {output_dir}"
    if output == "json":
        ui.print_json({"ok": True, "files": [str(p) for p in written], "helm": helm.version_text})
        return
    for path in written:
        ui.console.print(f"wrote {path}")


def _notify(message: str) -> None:
    from bhsvc import ui

    ui.print_notice(message)
