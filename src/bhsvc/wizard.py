"""`bhsvc init` without `--non-interactive`: a few questions, then provisioning, then the file.

Every answer goes through the same pydantic model as the config file
(`config.parse_config`), so a bad answer gets the same message as a bad key and
is asked again. Nothing is created and no file is written before the summary
is confirmed; the config file is written atomically, last, so Ctrl-C at any
point leaves no partial file, and an existing file is never replaced without
an explicit yes.
"""

from __future__ import annotations

import copy
import os
import shlex
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape

from bhsvc import files
from bhsvc.config import (
    Config,
    load_config,
    parse_config,
    server_host,
)
from bhsvc.errors import BhsvcError, ConfigError, UsageError
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.prompts import Prompter, TerminalPrompter, stdin_is_terminal
from bhsvc.registry.endpoints import artifact_registry_endpoint, iam_endpoint
from bhsvc.wizard_defaults import gcp_project, gcp_region, kube_contexts

PROVIDERS = ("gar", "dockerhub", "ghcr", "quay", "generic")
PROVIDER_TITLES = {
    "gar": "Google Artifact Registry (created for you)",
    "dockerhub": "Docker Hub",
    "ghcr": "GitHub Container Registry",
    "quay": "Quay.io",
    "generic": "another registry",
}
HEADER = "# Written by 'bhsvc init'. Reference: the bhsvc.yaml page of the documentation.\n"

# Valid stand-ins for answers not given yet, so each answer can be checked by the
# full model on its own: an error then can only come from the answer just given.
_PLACEHOLDERS: dict[str, Any] = {
    "kube.namespace": "binder",
    "registry.gar.project": "placeholder-project",
    "registry.gar.region": "europe-west10",
    "registry.username": "placeholder",
    "registry.server": "registry.example.org",
    "registry.image_prefix": "registry.example.org/binder/",
}


class Cancelled(Exception):
    """The user said no, or pressed Ctrl-C: nothing was changed."""


# ---- nested dict helpers (pure) --------------------------------------------------


def get_path(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def with_path(data: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `data` with `path` set to `value` (None removes it)."""
    result = copy.deepcopy(dict(data))
    node = result
    *parents, last = path.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return result


def _placeholder(data: Mapping[str, Any], path: str) -> Any:
    if path == "registry.image_prefix":
        # On the server's host: the model refuses a prefix on another registry.
        host = server_host(str(get_path(data, "registry.server") or ""))
        if host is not None:
            return f"{host}/binder/"
    return _PLACEHOLDERS[path]


def with_placeholders(data: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(dict(data))
    provider = get_path(result, "registry.provider") or "gar"
    needed = ["kube.namespace"]
    if provider == "gar":
        needed += ["registry.gar.project", "registry.gar.region"]
    else:
        needed.append("registry.username")
        if provider == "generic":
            needed += ["registry.server", "registry.image_prefix"]
    for path in needed:
        if get_path(result, path) is None:
            result = with_path(result, path, _placeholder(result, path))
    return result


def config_problems(err: ConfigError) -> list[str]:
    """The per-field lines of a validation message (the first line names the source)."""
    lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
    return lines or [str(err)]


def render_config(data: Mapping[str, Any]) -> str:
    body = {"version": 1, **{k: v for k, v in data.items() if k != "version"}}
    return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


# ---- the conversation ---------------------------------------------------------------


class Wizard:
    def __init__(
        self,
        prompter: Prompter,
        config_path: Path,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
    ) -> None:
        self.p = prompter
        self.path = config_path
        self.base_dir = config_path.parent
        self.env = env
        self.home = home
        self.data: dict[str, Any] = {"version": 1}
        self.exists = False  # something is at the config path: replace it only after a yes
        self.existing_text: str | None = None  # its text, when it is a valid config file
        self.reused = False  # its values are the defaults, so the keys not asked about are kept

    # -- primitives --

    def _check(self, data: Mapping[str, Any]) -> list[str]:
        try:
            parse_config(with_placeholders(data), "answer", self.base_dir)
        except ConfigError as err:
            return config_problems(err)
        return []

    def _prompt(self, label: str, default: str | None, hint: str | None = None) -> str:
        text = f"[bold]{escape(label)}[/]"
        if hint:
            text += f" [dim]({escape(hint)})[/]"
        if default:
            text += f" [cyan]\\[{escape(default)}][/]"
        return text + ": "

    def ask(
        self,
        path: str,
        label: str,
        default: str | None,
        hint: str | None = None,
        required: bool = True,
    ) -> str | None:
        """Ask for the value at `path` until the model accepts it."""
        while True:
            value = self.p.ask(self._prompt(label, default, hint)).strip() or default
            if not value and required:
                self.p.say("[red]✗[/] an answer is needed")
                continue
            candidate = with_path(self.data, path, value or None)
            problems = self._check(candidate)
            if problems:
                for problem in problems:
                    self.p.say(f"[red]✗[/] {escape(problem)}")
                continue
            self.data = candidate
            return value or None

    def choose(
        self, label: str, options: Sequence[str], default: str, notes: Mapping[str, str]
    ) -> str:
        for number, option in enumerate(options, start=1):
            note = f" [dim]{escape(notes[option])}[/]" if option in notes else ""
            self.p.say(f"  {number}) {escape(option)}{note}")
        while True:
            answer = self.p.ask(self._prompt(label, default, "number or name")).strip() or default
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return options[int(answer) - 1]
            if answer in options:
                return answer
            self.p.say(f"[red]✗[/] choose one of: {escape(', '.join(options))}")

    def confirm(self, question: str, default: bool) -> bool:
        hint = "Y/n" if default else "y/N"
        while True:
            answer = self.p.ask(f"[bold]{escape(question)}[/] [dim]\\[{hint}][/]: ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.p.say("[red]✗[/] answer y or n")

    # -- the questions --

    def start(self) -> None:
        """Offer an existing config file's values as the defaults."""
        try:
            self.path.lstat()  # not exists(): a dangling symbolic link is something too
        except FileNotFoundError:
            return
        except OSError as err:
            problem = f"cannot check the config file ({err.strerror})"
            raise ConfigError(f"{self.path}: {problem}") from None
        self.exists = True
        if self.path.is_dir():
            # Found now, not when the file is written after provisioning.
            raise ConfigError(f"{self.path}: is a directory, not a config file")
        try:
            load_config(self.path)
            text = self.path.read_text(encoding="utf-8")
        except (ConfigError, OSError, UnicodeDecodeError) as err:
            self.p.say(f"[yellow]{escape(str(self.path))} exists but cannot be used:[/]")
            for line in str(err).splitlines():
                self.p.say(f"  {escape(line)}")
            self.p.say("It will only be replaced if you say so at the end.")
            return
        self.existing_text = text
        if self.confirm(f"{self.path} exists. Use its values as defaults?", True):
            raw = yaml.safe_load(text)
            self.data = {"version": 1, **raw}
            self.reused = True

    def confirm_replace(self, text: str) -> bool:
        """Whether writing `text` may go ahead: an existing file is replaced only on a yes."""
        if not self.exists or self.existing_text == text:
            return True
        if self.reused:
            kept = "keeps its keys that were not asked about, but not its comments and formatting"
        else:
            kept = "keeps nothing of it: not its other keys, comments or formatting"
        self.p.say(f"Replacing {escape(str(self.path))} {kept}.")
        return self.confirm(f"Replace the existing {self.path}?", False)

    def ask_all(self) -> dict[str, Any]:
        self.p.say(
            "[bold]bhsvc init[/]: a few questions, then a summary before anything is created."
        )
        self.p.say("Press Enter to take the default shown in brackets; Ctrl-C to stop.")
        self.p.say()
        self._kube()
        self._binderhub()
        self._registry()
        self._hub()
        return self.data

    def _kube(self) -> None:
        contexts = kube_contexts(self.env, self.home)
        previous = get_path(self.data, "kube.context")
        if contexts.names:
            self.p.say("Kubernetes contexts in your kubeconfig:")
            default = previous if previous in contexts.names else contexts.names[0]
            notes = {contexts.current: "(current)"} if contexts.current else {}
            context = self.choose("Kubernetes context", contexts.names, default, notes)
            self.data = with_path(self.data, "kube.context", context)
        else:
            self.ask(
                "kube.context",
                "Kubernetes context",
                previous,
                hint="no kubeconfig found; empty: the current context",
                required=False,
            )
        self.ask(
            "kube.namespace",
            "Namespace for BinderHub",
            get_path(self.data, "kube.namespace") or "binder",
        )

    def _binderhub(self) -> None:
        default = get_path(self.data, "binderhub.release") or "binderhub"
        self.ask("binderhub.release", "Helm release name", default)

    def _registry(self) -> None:
        self.p.say("Image registry:")
        previous = get_path(self.data, "registry.provider") or "gar"
        provider = self.choose("Registry", PROVIDERS, previous, PROVIDER_TITLES)
        if provider != previous or get_path(self.data, "registry") is None:
            # Another provider: the old provider's keys would not fit.
            self.data = with_path(self.data, "registry", {"provider": provider})
        else:
            self.data = with_path(self.data, "registry.provider", provider)
        if provider == "gar":
            self._gar()
        else:
            self._other_registry(provider)

    def _gar(self) -> None:
        context = get_path(self.data, "kube.context")
        project = get_path(self.data, "registry.gar.project") or gcp_project(
            context, self.env, self.home
        )
        self.ask("registry.gar.project", "Google Cloud project", project)
        region = get_path(self.data, "registry.gar.region") or gcp_region(context)
        self.ask("registry.gar.region", "Region", region, hint="e.g. europe-west10, us-central1")
        repository = get_path(self.data, "registry.gar.repository") or "binder"
        self.ask("registry.gar.repository", "Repository name", repository)

    def _other_registry(self, provider: str) -> None:
        if provider == "generic":
            self.ask(
                "registry.server",
                "Registry server",
                get_path(self.data, "registry.server"),
                hint="host[:port]",
            )
        self.ask("registry.username", "User name", get_path(self.data, "registry.username"))
        if provider == "generic":
            self.ask(
                "registry.image_prefix",
                "Image prefix",
                get_path(self.data, "registry.image_prefix"),
                hint="e.g. registry.example.org/binder/binder-",
            )
        while True:
            answer = self.ask(
                "registry.password_file",
                "File holding the password or access token",
                get_path(self.data, "registry.password_file"),
                hint=f"empty: read it from ${REGISTRY_PASSWORD_ENV} when deploying",
                required=False,
            )
            if answer is None:
                # init checks the credentials right away, from the real environment.
                if os.environ.get(REGISTRY_PASSWORD_ENV):
                    return
                self.p.say(
                    f"[red]✗[/] ${REGISTRY_PASSWORD_ENV} is not set: give a file, or stop "
                    "(Ctrl-C), set it and run init again"
                )
                continue
            path = Path(answer)
            if (path if path.is_absolute() else self.base_dir / path).is_file():
                return
            self.p.say(f"[red]✗[/] registry.password_file: {escape(answer)} is not a file")

    def _hub(self) -> None:
        enabled = bool(get_path(self.data, "hub.enabled"))
        if not self.confirm(
            "Connect BinderHub to a JupyterHub installed with the z2jh chart?", enabled
        ):
            if "hub" in self.data:
                self.data = with_path(self.data, "hub.enabled", False)
            return
        self.data = with_path(self.data, "hub.enabled", True)
        problems = self._check(self.data)
        if problems:  # e.g. a combination the model refuses; say why and leave it off
            for problem in problems:
                self.p.say(f"[red]✗[/] {escape(problem)}")
            self.data = with_path(self.data, "hub.enabled", False)
            return
        self.ask(
            "hub.release",
            "JupyterHub's Helm release name",
            get_path(self.data, "hub.release") or "jupyterhub",
        )
        namespace = get_path(self.data, "kube.namespace")
        hub_ns = self.ask(
            "hub.namespace",
            "JupyterHub's namespace",
            get_path(self.data, "hub.namespace") or namespace,
        )
        if hub_ns == namespace:
            self.data = with_path(self.data, "hub.namespace", None)  # the default: same namespace

    # -- summary --

    def summary(self, config: Config) -> list[str]:
        lines = ["", "[bold]Summary[/]"]
        context = config.kube.context or "the current kubeconfig context"
        lines.append(f"  cluster      {escape(context)}, namespace {escape(config.kube.namespace)}")
        lines.append(f"  BinderHub    release {escape(config.binderhub.release)}")
        gar = config.registry.gar
        if gar is not None:
            lines.append(
                f"  registry     Google Artifact Registry, project {escape(gar.project)}, "
                f"region {escape(gar.region)}"
            )
        else:
            lines.append(
                f"  registry     {escape(PROVIDER_TITLES[config.registry.provider])}, "
                f"user {escape(config.registry.username or '')} at {escape(config.registry_server)}"
            )
        lines.append(f"  images       {escape(config.image_prefix)}<name>")
        if config.hub.enabled:
            lines.append(
                f"  JupyterHub   release {escape(config.hub.release)} in namespace "
                f"{escape(config.hub_namespace)}, "
                f"BinderHub at /services/{escape(config.hub.service_name)}/"
            )
        lines += ["", "[bold]init will now[/]"]
        if gar is not None:
            repo = f"projects/{gar.project}/locations/{gar.region}/repositories/{gar.repository}"
            lines += [
                f"  • create the Docker repository {escape(repo)} (if missing)",
                f"  • create the service account {escape(config.service_account_id)}@"
                f"{escape(gar.project)}.iam.gserviceaccount.com (if missing)",
                "  • grant it roles/artifactregistry.writer on that repository only",
                f"  • create a key for it in {escape(str(config.key_file))} (mode 0600), "
                "unless a valid one is there",
            ]
        else:
            lines.append("  • check that the push credentials can be read")
        lines.append(f"  • write {escape(str(self.path))}")
        lines.append("Nothing is installed on the cluster: that is 'bhsvc deploy', afterwards.")
        return lines


# ---- entry point ---------------------------------------------------------------------------


def equivalent_command(config_path: Path) -> str:
    return shlex.join(["bhsvc", "init", "--non-interactive", "--config", str(config_path)])


def run_wizard(
    config_path: Path,
    rotate_key: bool,
    prompter: Prompter | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> None:
    from bhsvc.commands.init import print_summary, provision
    from bhsvc.registry.provision import check_inputs

    if prompter is None:
        if not stdin_is_terminal():
            raise UsageError(
                "bhsvc init asks questions and needs a terminal; without one, write bhsvc.yaml "
                "(see examples/) and run 'bhsvc init --non-interactive --config bhsvc.yaml'"
            )
        prompter = TerminalPrompter()
    # Bad endpoint overrides are bad input: say so before asking anything.
    artifact_registry_endpoint()
    iam_endpoint()
    wizard = Wizard(prompter, config_path, env, home)
    try:
        wizard.start()
        data = wizard.ask_all()
        config = parse_config(data, str(config_path), config_path.parent)
        check_inputs(config, rotate_key)
        for line in wizard.summary(config):
            prompter.say(line)
        prompter.say()
        if not wizard.confirm("Go ahead?", True):
            raise Cancelled
        text = render_config(data)
        if not wizard.confirm_replace(text):
            raise Cancelled
    except (Cancelled, KeyboardInterrupt, EOFError):
        prompter.say()
        prompter.say("Cancelled: nothing was created and no file was written.")
        raise SystemExit(130) from None
    try:
        report = provision(config, rotate_key, quiet=False)
    except KeyboardInterrupt:
        prompter.say()
        prompter.say(
            f"Interrupted: {config_path} was not written. Run 'bhsvc init' again: "
            "what exists already is kept and reused."
        )
        raise SystemExit(130) from None
    except BhsvcError:
        # The answers are valid: keep them, so a re-run needs no questions.
        files.write_atomic(config_path, text, _config_mode(config_path), durable=True)
        prompter.say(f"Wrote {escape(str(config_path))}. Fix the problem below, then run:")
        prompter.say(f"  {escape(equivalent_command(config_path))}")
        raise
    files.write_atomic(config_path, text, _config_mode(config_path), durable=True)

    def wrote() -> None:
        prompter.say()
        prompter.say(f"Wrote {escape(str(config_path))}. To provision again without questions:")
        prompter.say(f"  {escape(equivalent_command(config_path))}")

    print_summary(config_path, config, report, before_next=wrote)


def _config_mode(path: Path) -> int:
    """A replaced bhsvc.yaml keeps its mode: one made private stays private."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644
