"""The typer app: thin commands that parse flags and hand over to `bhsvc.commands`.

Nothing heavy is imported here: each command imports what it needs when it runs,
so `bhsvc --help` stays fast.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bhsvc import __version__
from bhsvc.errors import BhsvcError

app = typer.Typer(
    name="bhsvc",
    help="Run BinderHub as a build-and-push service on Kubernetes and wire it into JupyterHub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class Output(str, enum.Enum):
    text = "text"
    json = "json"


class _State:
    debug = False


ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", help="The bhsvc.yaml to read.", show_default=True),
]
OutputOpt = Annotated[
    Output, typer.Option("--output", "-o", help="text for people, json for scripts.")
]
HelmOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at runtime on 3.10
    typer.Option(
        "--helm",
        help="helm binary to use (default: $BHSVC_HELM, then PATH, then a pinned download).",
        show_default=False,
    ),
]
DEFAULT_CONFIG = Path("bhsvc.yaml")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bhsvc {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """bhsvc: BinderHub as a standalone build-and-push service."""
    _State.debug = debug


@app.command()
def render(
    config: ConfigOpt = DEFAULT_CONFIG,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-d", help="Where to write the files.")
    ] = Path("rendered"),
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Write both charts' values and the BinderHub manifests, offline (no cluster)."""
    from bhsvc.commands.render import run

    run(config, output_dir, output.value, helm)


@app.command()
def deploy(
    config: ConfigOpt = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the ordered plan; change nothing.")
    ] = False,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Install or upgrade BinderHub (and JupyterHub when enabled) on the cluster."""
    from bhsvc.commands.deploy import run

    run(config, dry_run, output.value, helm)


def main() -> None:
    try:
        app()
    except BhsvcError as err:
        from bhsvc.ui import print_error

        if _State.debug:
            import traceback

            traceback.print_exc()
        print_error(str(err))
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
