"""The typer app: thin commands that parse flags and hand over to `bhsvc.commands`.

Nothing heavy is imported here: each command imports what it needs when it runs,
so `bhsvc --help` stays fast.
"""

from __future__ import annotations

import enum
import math
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

# typer bundles click and does not re-export these two (typer is pinned below 0.29).
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from bhsvc import __version__, private_env
from bhsvc.errors import BhsvcError
from bhsvc.names import HUB_TOKEN_ENV

app = typer.Typer(
    name="bhsvc",
    help="Run BinderHub as a build-and-push service on Kubernetes and wire it into JupyterHub.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class Output(str, enum.Enum):
    text = "text"
    json = "json"


class _State:
    debug = False
    json = False  # --output json: a failure still prints one document


def _remember_output(value: Output) -> str:
    _State.json = value is Output.json
    return value.value  # typer converts what the callback returns to Output again


ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", help="The bhsvc.yaml to read.", show_default=True),
]
OutputOpt = Annotated[
    Output,
    typer.Option(
        "--output", "-o", help="text for people, json for scripts.", callback=_remember_output
    ),
]
HelmOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at runtime on 3.10
    typer.Option(
        "--helm",
        help="helm binary to use (default: $BHSVC_HELM, then PATH, then a pinned download).",
        show_default=False,
    ),
]
HubValuesOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045 - typer reads the annotation at runtime on 3.10
    typer.Option(
        "--hub-values",
        help="Your own z2jh values file, passed to helm before bhsvc's and never changed "
        "(repeat for several, in order), after those of hub.values_files; for this run "
        "only: list it in hub.values_files to keep it.",
        show_default=False,
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Upgrade the releases even when they run the same chart with the same values.",
    ),
]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation (needed without a terminal)."),
]
# Longer than any real wait: helm takes a --timeout below 10^10 s only, and refuses a
# longer one after bhsvc has changed the cluster.
MAX_TIMEOUT = 86400
HelmTimeoutOpt = Annotated[
    int,
    typer.Option(
        "--timeout",
        help="Seconds each helm release may take to become ready (at most 86400, a day).",
        min=1,
        max=MAX_TIMEOUT,
    ),
]


def _a_number(value: float) -> float:
    # float() reads "nan", which passes every range check (each comparison is false).
    if math.isnan(value):
        raise typer.BadParameter("nan is not a number of seconds")
    return value


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
def init(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="The bhsvc.yaml to write (questions) or to read (--non-interactive).",
            show_default=True,
        ),
    ] = DEFAULT_CONFIG,
    non_interactive: Annotated[
        bool,
        typer.Option(
            "--non-interactive",
            help="Ask nothing: provision what the config file describes.",
        ),
    ] = False,
    rotate_key: Annotated[
        bool,
        typer.Option(
            "--rotate-key",
            help="Artifact Registry with keys: create new keys (the pusher's, and the pull "
            "account's with a hub), then delete the old ones.",
        ),
    ] = False,
    delete_old_keys: Annotated[
        bool,
        typer.Option(
            "--delete-old-keys",
            help="Artifact Registry with workload-identity: delete the keys left in the key "
            "files by registry.gar.auth key, and the files (once builds work without them).",
        ),
    ] = False,
    output: OutputOpt = Output.text,
) -> None:
    """Create bhsvc.yaml by answering questions, and provision the image registry."""
    from bhsvc.commands.init import run

    run(config, non_interactive, rotate_key, output.value, delete_old_keys)


@app.command()
def deploy(
    config: ConfigOpt = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the ordered plan and what already exists on the cluster; change nothing.",
        ),
    ] = False,
    yes: YesOpt = False,
    timeout: HelmTimeoutOpt = 600,
    hub_values: HubValuesOpt = None,
    force: ForceOpt = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="After the deploy, remove what bhsvc left behind on the cluster: its Secrets "
            "and releases under another namespace or release name, what it set up for a hub "
            "turned off, and the namespaces it created that are empty then.",
        ),
    ] = False,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Install or upgrade BinderHub (and JupyterHub when enabled) on the cluster."""
    from bhsvc.commands.deploy import run

    run(config, dry_run, output.value, helm, yes, timeout, hub_values or (), force, prune)


@app.command()
def verify(
    config: Annotated[
        Optional[Path],  # noqa: UP045 - typer reads the annotation at runtime on 3.10
        typer.Option(
            "--config",
            "-c",
            help="The bhsvc.yaml to read (default: ./bhsvc.yaml; needed without --url).",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--url",
            help="BinderHub's base URL, as in the example above "
            "(default: port-forward to the release's BinderHub pod).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--token",
            help="JupyterHub API token sent as 'Authorization: Bearer' (its scope: see "
            f"above). Default: ${HUB_TOKEN_ENV}, which keeps it out of the process list.",
            show_default=False,
        ),
    ] = None,
    repo: Annotated[
        str,
        typer.Option(
            "--repo",
            help="What to build: BinderHub's <provider>/<spec> (gh/<owner>/<repo>/<ref>, "
            "gl/..., git/..., zenodo/...), or a GitHub URL (.../tree/<ref> for a branch). "
            "Default: the repository named above.",
            show_default=False,
        ),
    ] = "gh/binder-examples/requirements/HEAD",
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Give up after this many seconds in all (at most 86400, a day).",
            min=0.001,
            max=MAX_TIMEOUT,
            callback=_a_number,
        ),
    ] = 1800.0,
    idle_timeout: Annotated[
        float,
        typer.Option(
            "--idle-timeout",
            help="Give up when no build event (keepalives do not count) comes for this many "
            "seconds (at most 86400, a day).",
            min=0.001,
            max=MAX_TIMEOUT,
            callback=_a_number,
        ),
    ] = 600.0,
    output: OutputOpt = Output.text,
) -> None:
    """Build a repository through BinderHub and check that the image was pushed.

    For example: bhsvc verify --url https://hub.example.org/services/binder/

    Without --repo it builds gh/binder-examples/requirements/HEAD. When BinderHub
    runs with hub auth, the token needs the scope access:services!service=<name>.
    """
    from bhsvc.commands.verify import run

    token_source = "--token"
    if token is None:
        token, token_source = private_env.get(HUB_TOKEN_ENV), HUB_TOKEN_ENV
    run(config, url, token, repo, timeout, idle_timeout, output.value, token_source)


@app.command("connect-hub")
def connect_hub(
    config: ConfigOpt = DEFAULT_CONFIG,
    hub_values: HubValuesOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the values diff and the helm commands; change nothing."
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Upgrade both releases without asking.")
    ] = False,
    timeout: HelmTimeoutOpt = 600,
    force: ForceOpt = False,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Make BinderHub a service of a z2jh JupyterHub at /services/<name>/."""
    from bhsvc.commands.connect_hub import run

    run(config, hub_values or [], dry_run, yes, output.value, helm, timeout, force)


@app.command()
def uninstall(
    config: ConfigOpt = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print what would be removed, in order, and what stays; change nothing.",
        ),
    ] = False,
    yes: YesOpt = False,
    hub: Annotated[
        bool,
        typer.Option(
            "--hub",
            help="Uninstall the JupyterHub release too, when bhsvc installed it (without: "
            "only bhsvc's values leave the hub, which keeps running).",
        ),
    ] = False,
    registry: Annotated[
        bool,
        typer.Option(
            "--registry",
            help="Also delete what init created in Artifact Registry: the repository, the "
            "pusher service account, its keys, and the key file.",
        ),
    ] = False,
    delete_images: Annotated[
        bool,
        typer.Option(
            "--delete-images",
            help="With --registry: delete the repository even when it holds images (they "
            "go with it).",
        ),
    ] = False,
    timeout: Annotated[
        int,
        typer.Option(
            "--timeout",
            help="Seconds each helm uninstall or upgrade may take (at most 86400, a day).",
            min=1,
            max=MAX_TIMEOUT,
        ),
    ] = 600,
    hub_values: Annotated[
        Optional[list[Path]],  # noqa: UP045 - typer reads the annotation at runtime on 3.10
        typer.Option(
            "--hub-values",
            help="Your own z2jh values file, kept in the hub when bhsvc's values leave it "
            "(repeat for several, in order), after those of hub.values_files.",
            show_default=False,
        ),
    ] = None,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Remove what bhsvc made, in the reverse order of deploy (only what it made)."""
    from bhsvc.commands.uninstall import Asked, run

    asked = Asked(hub=hub, registry=registry, delete_images=delete_images)
    run(config, dry_run, yes, asked, output.value, helm, timeout, hub_values or ())


@app.command()
def adopt(
    release: Annotated[
        str,
        typer.Option(
            "--release",
            help="The helm release of the 2i2c binderhub-service chart to take over.",
            show_default=False,
        ),
    ],
    namespace: Annotated[
        str,
        typer.Option("--namespace", "-n", help="The release's namespace.", show_default=False),
    ],
    context: Annotated[
        Optional[str],  # noqa: UP045 - typer reads the annotation at runtime on 3.10
        typer.Option(
            "--context",
            help="The kubeconfig context of the release (default: the current one); "
            "written into bhsvc.yaml as kube.context.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="The bhsvc.yaml to write; the push password goes into a file under .bhsvc/ "
            "next to it. Never written over: an existing file stops adopt (unless it holds "
            "exactly what adopt would write).",
            show_default=True,
        ),
    ] = DEFAULT_CONFIG,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Write the bhsvc.yaml that takes over a release of the 2i2c binderhub-service chart
    in place (every object keeps its name); changes nothing on the cluster."""
    from bhsvc.commands.adopt import run

    run(config, release, namespace, context, helm, output.value)


@app.command()
def render(
    config: ConfigOpt = DEFAULT_CONFIG,
    output_dir: Annotated[
        Optional[Path],  # noqa: UP045 - typer reads the annotation at runtime on 3.10
        typer.Option(
            "--output-dir",
            "-d",
            help="Where to write the files (default: .bhsvc/rendered/ next to the config, "
            "where deploy writes its values files).",
            show_default=False,
        ),
    ] = None,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Write both charts' values and the BinderHub manifests, offline (no cluster)."""
    from bhsvc.commands.render import run

    run(config, output_dir, output.value, helm)


@app.command()
def status(
    config: ConfigOpt = DEFAULT_CONFIG,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Show the installation at a glance (read-only): components, releases, BinderHub,
    builds, registry, hub wiring and orphans. Exit code 1 when a problem is found."""
    from bhsvc.commands.status import run

    run(config, output.value, helm)


@app.command()
def doctor(
    config: ConfigOpt = DEFAULT_CONFIG,
    output: OutputOpt = Output.text,
    helm: HelmOpt = None,
) -> None:
    """Status, then checks for the failures that break BinderHub (rebuild loops, refused
    pushes and pulls, hub wiring, build daemons, keys), each with the exact fix."""
    from bhsvc.commands.doctor import run

    run(config, output.value, helm)


def main() -> None:
    _State.json = False
    private_env.hold()
    try:
        code = app(standalone_mode=False, prog_name="bhsvc")
        if code == 130:  # typer turns Ctrl-C into exit code 130
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except NoArgsIsHelpError as err:  # bare `bhsvc`: the help, which is no error
        typer.echo(err.ctx.get_help() if err.ctx else "")
        sys.exit(0)
    except ClickException as err:  # a bad flag or flag value
        _State.json = _State.json or _asks_for_json(sys.argv[1:])
        _fail(f"{err.format_message()} (see '{_command_path(err)} --help')", 2)
    except typer.Abort:  # end of input at a prompt
        _fail("aborted: no answer", 1)
    except BhsvcError as err:
        if _State.debug:
            import traceback

            traceback.print_exc()
        _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        _failure_document("interrupted", 130)
        sys.exit(130)
    finally:
        ui = sys.modules.get("bhsvc.ui")
        if ui is not None:  # the next run in this process starts afresh (tests)
            ui.JsonPrinted.done = False


def _fail(error: str, exit_code: int) -> NoReturn:
    from bhsvc.ui import print_error

    print_error(error)
    _failure_document(error, exit_code)
    sys.exit(exit_code)


def _command_path(err: ClickException) -> str:
    ctx = getattr(err, "ctx", None)
    return str(ctx.command_path) if ctx is not None else "bhsvc"


def _asks_for_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON, read before (or without) typer parsing
    it: a usage error may stop the parse before --output is reached."""
    for flag, value in zip(args, [*args[1:], ""], strict=True):
        if flag in ("-o", "--output") and value == "json":
            return True
        if flag in ("--output=json", "-ojson"):
            return True
    return False


def _failure_document(error: str, exit_code: int) -> None:
    """With --output json, a script reads a document on every failure, even one that
    stopped before the command's own document (bad input, Ctrl-C)."""
    if not _State.json:
        return
    from bhsvc import ui

    if not ui.JsonPrinted.done:
        ui.print_json(ui.failure_document(error, exit_code))
