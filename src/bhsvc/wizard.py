"""`bhsvc init` without `--non-interactive`: the questions and the summary (the run,
from the terminal to the file written, is wizard_run.py).

Each answer is checked by the rule the model applies to its key (and by the
rules joining it to earlier answers, the same functions the model calls), so a
bad answer gets the message a bad key in the file gets and is asked again; it
never becomes the next default. The whole `Config` is built once, from all the
answers. Whether an existing file may be replaced is settled before the first
question; nothing is created and no file is written before the summary is
confirmed, and the config file is written atomically, last.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from rich.markup import escape

from bhsvc import files, private_env
from bhsvc.config import Config, KeyProblem, server_host
from bhsvc.config.fields import field_rule
from bhsvc.config.loading import parse_config, validate
from bhsvc.config.model import check_binderhub_with_hub, check_default_account
from bhsvc.config.registry import KEY, WORKLOAD_IDENTITY, check_account, check_images_go_to
from bhsvc.config.wording import field_path, problem_lines, problems
from bhsvc.config_file import read_config_document
from bhsvc.errors import ConfigError
from bhsvc.kube.workload_identity import Detection, read_cluster
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.naming import binderhub_service_account
from bhsvc.prompts import Prompter
from bhsvc.registry import cleanup
from bhsvc.registry.credentials import read_password_file
from bhsvc.registry.provision import check_inputs
from bhsvc.text import shown_command
from bhsvc.wizard_defaults import gcp_project, gcp_region, kube_contexts
from bhsvc.wizard_questions import (
    Questions,
    changes,
    get_path,
    image_prefix_warning,
    with_path,
)

PROVIDERS = ("gar", "dockerhub", "ghcr", "quay", "generic")
PROVIDER_TITLES = {
    "gar": "Google Artifact Registry (created for you)",
    "dockerhub": "Docker Hub",
    "ghcr": "GitHub Container Registry",
    "quay": "Quay.io",
    "generic": "another registry",
}
AUTH_WAYS: tuple[str, ...] = (WORKLOAD_IDENTITY, KEY)
AUTH_TITLES: dict[str, str] = {
    WORKLOAD_IDENTITY: "no key: GKE Workload Identity, short-lived tokens",
    KEY: "a service-account key, stored in the cluster",
}
HEADER = "# Written by 'bhsvc init'. Reference: the bhsvc.yaml page of the documentation.\n"
DEFERRED_PASSWORD = f"${REGISTRY_PASSWORD_ENV} is not set here: set it before 'bhsvc deploy'"
CLEANUP = "registry.gar.cleanup"
CLEANUP_NOTE = (
    "Artifact Registry applies cleanup policies about once a day; a deleted image cannot be "
    "brought back (BinderHub builds it again when someone launches it)."
)
# key, question, default for a new section, what leaving it empty means
CLEANUP_QUESTIONS: tuple[tuple[str, str, int | None, str], ...] = (
    ("untagged_after_days", "Delete untagged versions older than (days)", 7, "keep them"),
    ("older_than_days", "Delete any version older than (days)", 90, "no age limit"),
    ("keep_recent", "Always keep this many recent versions of each image", None, "none"),
)
CLEANUP_DRY_RUN = "Dry run first (Artifact Registry only logs what it would delete)?"
# How many changed keys of an existing file the summary lists.
SHOWN_CHANGES = 15


class Declined(Exception):
    """The user said no: nothing was created and no file was written."""


def render_config(data: Mapping[str, Any]) -> str:
    """The file's text: the sections in the order of the reference, version first."""
    order = list(Config.model_fields)
    body = {"version": 1, **dict(sorted(data.items(), key=lambda item: order.index(item[0])))}
    return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


# ---- the conversation ---------------------------------------------------------------------


class Wizard(Questions):
    def __init__(
        self,
        prompter: Prompter,
        config_path: Path,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
    ) -> None:
        super().__init__(prompter, env, home)
        self.path = config_path
        self.name = files.shown_path(config_path)  # for messages: escaped
        self.base_dir = config_path.parent
        self.exists = False  # something is at the config path; replacing it is agreed
        self.existing: dict[str, Any] | None = None  # its values, when it is a valid config
        self.existing_text: str | None = None
        self.reused = False  # its values are the defaults, so the keys not asked about are kept
        self.private: list[Path] = []  # secret files readable by others: 0600 on go-ahead
        self.password_deferred = False  # the password comes from an unset variable, at deploy
        self.detections: dict[str | None, Detection] = {}  # by kube.context

    # -- the file already there --

    def start(self) -> None:
        """Before any question: whether something at the config path may be replaced
        (a file bhsvc wrote: yes, showing the changes in the summary; anything else:
        only after a yes now), and its values as the defaults."""
        try:
            self.path.lstat()  # not exists(): a dangling symbolic link is something too
        except FileNotFoundError:
            return
        except OSError as err:
            problem = f"cannot check the config file ({err.strerror})"
            raise ConfigError(f"{self.name}: {problem}") from None
        self.exists = True
        try:
            mode: int | None = self.path.stat().st_mode
        except OSError:
            mode = None  # a link to nothing, or in a loop: reported below
        if mode is not None and not stat.S_ISREG(mode):
            # Found now, not when the file is written after provisioning.
            raise ConfigError(f"{self.name}: is {files.file_kind(mode)}, not a config file")
        try:
            document = read_config_document(self.path)
            parse_config(document.data, self.name, self.base_dir, document.positions)
        except ConfigError as err:
            self.p.say(f"[yellow]{escape(self.name)} exists but cannot be used:[/]")
            for line in str(err).splitlines():
                self.p.say(f"  {escape(line)}")
            self._agree_to_replace("nothing of it is kept")
            return
        self.existing, self.existing_text = document.data, document.text
        if self.confirm(f"{self.name} exists. Use its values as defaults?", True):
            self.data = {"version": 1, **document.data}
            self.reused = True
        if render_config(document.data) != document.text:
            kept = "its comments and formatting" if self.reused else "anything of it"
            self.p.say(
                f"{escape(self.name)} is not as bhsvc init wrote it (edited, or written "
                f"by hand): the new file, written from your answers, will not keep {kept}."
            )
            self._agree_to_replace(None)

    def _agree_to_replace(self, note: str | None) -> None:
        if note:
            self.p.say(f"Replacing it with your answers: {note}.")
        if not self.confirm(f"Replace {self.name} when you go ahead?", False):
            raise Declined(
                f"init stopped before any question: {self.name} is left as it is. To "
                f"provision what it describes: {equivalent_command(self.path)}; to "
                "write your answers to another file: bhsvc init --config <path>"
            )

    # -- the questions --

    def ask_all(self) -> dict[str, Any]:
        self.p.say(
            "[bold]bhsvc init[/]: a few questions, then a summary before anything is created."
        )
        self.p.say("Press Enter to take the default shown in brackets; Ctrl-C to stop.")
        self.p.say()
        self.private, self.password_deferred = [], False
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
            self.choose("kube.context", "Kubernetes context", contexts.names, default, notes)
        else:
            self.ask(
                "kube.context",
                "Kubernetes context",
                previous,
                none_means="the current context; no kubeconfig was found",
            )
        self.ask(
            "kube.namespace",
            "Namespace for BinderHub",
            get_path(self.data, "kube.namespace") or "binder",
        )

    def _binderhub(self) -> None:
        default = get_path(self.data, "binderhub.release") or "binderhub"
        self.ask("binderhub.release", "Helm release name", default, check=self._account_fits)

    def _account_fits(self, release: str) -> None:
        """With Artifact Registry, the pusher's id derives from the release name."""
        gar = (get_path(self.data, "registry.provider") or "gar") == "gar"
        if gar and get_path(self.data, "registry.gar.service_account") is None:
            check_default_account(release)

    def _registry(self) -> None:
        self.p.say("Image registry:")
        previous = get_path(self.data, "registry.provider") or "gar"
        kept = get_path(self.data, "registry")
        provider = self.choose(
            "registry.provider", "Registry", PROVIDERS, previous, PROVIDER_TITLES
        )
        if provider != previous or kept is None:
            # Another provider: the old provider's keys would not fit.
            self.data = with_path(self.data, "registry", {"provider": provider})
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
        self._gar_auth()
        self._gar_cleanup()

    def _detect(self, context: str | None) -> Detection:
        """What the cluster's nodes say about Workload Identity (read once per context)."""
        if context not in self.detections:
            home = self.home or Path.home()
            kubeconfig = self.env.get("KUBECONFIG") or str(home / ".kube" / "config")
            self.p.say("  reading the cluster's nodes ...")
            self.detections[context] = read_cluster(context, kubeconfig)
        return self.detections[context]

    def _gar_auth(self) -> None:
        """Keyless (Workload Identity) where the cluster's nodes allow it, else a key."""
        self.p.say("Push credentials:")
        project = get_path(self.data, "registry.gar.project")
        detection = self._detect(get_path(self.data, "kube.context"))
        for line in detection.lines(project):
            self.p.say(f"  [dim]{escape(line)}[/]")
        previous = get_path(self.data, "registry.gar.auth")
        # A file bhsvc wrote before this key existed pushes with a key: that stays the default.
        had_gar = self.reused and get_path(self.existing or {}, "registry.gar") is not None
        if previous is None and had_gar:
            previous = KEY
        auth = self.choose(
            "registry.gar.auth",
            "Push credentials",
            AUTH_WAYS,
            previous or detection.default_auth(project),
            AUTH_TITLES,
        )
        if auth == KEY:
            if had_gar and get_path(self.existing or {}, "registry.gar.auth") is None:
                self.data = with_path(self.data, "registry.gar.auth", None)  # the default
            self.data = with_path(self.data, "registry.gar.node_service_account", None)
            return
        self.ask(
            "registry.gar.node_service_account",
            "Service account of the cluster's nodes (they pull the images)",
            get_path(self.data, "registry.gar.node_service_account"),
            none_means="the project's Compute Engine default service account",
        )

    def _gar_cleanup(self) -> None:
        """Cleanup policies: off unless asked for. Each number is checked by its key's
        rule, then the section by its own (it must delete something)."""
        previous = get_path(self.data, CLEANUP)
        question = "Delete old images from the repository (Artifact Registry cleanup policies)?"
        if not self.confirm(question, previous is not None):
            self.data = with_path(self.data, CLEANUP, None)
            return
        self.p.say(f"  [dim]{escape(CLEANUP_NOTE)}[/]")
        while True:
            for key, label, default, none_means in CLEANUP_QUESTIONS:
                kept = get_path(self.data, f"{CLEANUP}.{key}") if previous else default
                self.ask_number(f"{CLEANUP}.{key}", label, kept, none_means)
            dry_run = get_path(self.data, f"{CLEANUP}.dry_run") if previous else True
            dry_run = self.confirm(CLEANUP_DRY_RUN, bool(dry_run))
            self.data = with_path(self.data, f"{CLEANUP}.dry_run", dry_run)
            try:
                field_rule(CLEANUP).validate_python(get_path(self.data, CLEANUP))
                return
            except ValidationError as err:
                self._refuse(problem_lines(err, tuple(CLEANUP.split("."))))
                previous = get_path(self.data, CLEANUP)

    def _other_registry(self, provider: str) -> None:
        if provider == "generic":
            self.ask(
                "registry.server",
                "Registry server",
                get_path(self.data, "registry.server"),
                hint="host[:port]",
            )
        self.ask(
            "registry.username",
            "User name",
            get_path(self.data, "registry.username"),
            check=lambda name: _in_registry(lambda: check_account(provider, name)),
        )
        if provider == "generic":
            prefix = self.ask(
                "registry.image_prefix",
                "Image prefix",
                get_path(self.data, "registry.image_prefix"),
                hint="e.g. registry.example.org/binder/binder-",
                check=self._on_server,
            )
            warning = image_prefix_warning(prefix or "")
            if warning:
                self.warn(warning)
        self._password_file()

    def _on_server(self, prefix: str) -> None:
        host = server_host(str(get_path(self.data, "registry.server")))
        _in_registry(lambda: check_images_go_to(prefix, host, "registry.server"))

    def _password_file(self) -> None:
        answer = self.ask(
            "registry.password_file",
            "File holding the password or access token",
            get_path(self.data, "registry.password_file"),
            none_means=f"read it from ${REGISTRY_PASSWORD_ENV} when deploying",
            check=self._readable_secret,
            expand=True,
        )
        held = self.env.get(REGISTRY_PASSWORD_ENV) or private_env.get(REGISTRY_PASSWORD_ENV)
        # Blanks only are no password, as deploy reads it.
        self.password_deferred = answer is None and not (held or "").strip()
        if self.password_deferred:
            self.p.say(f"  {escape(DEFERRED_PASSWORD)}, which reads it.")

    def _readable_secret(self, answer: str) -> None:
        """A password file must be readable now (its content is not kept); one that
        others may read is made private when you go ahead."""
        path = self.base_dir / Path(answer)
        read_password_file(path)
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            self.private = [path]
            self.p.say(
                f"  {escape(answer)} is readable by others: it is made 0600 when you go ahead."
            )

    def _hub(self) -> None:
        enabled = bool(get_path(self.data, "hub.enabled"))
        if not self.confirm(
            "Connect BinderHub to a JupyterHub installed with the z2jh chart?", enabled
        ):
            if "hub" in self.data:
                self.data = with_path(self.data, "hub.enabled", False)
            return
        candidate = with_path(self.data, "hub.enabled", True)
        try:  # the hub's own rules, and what it asks of BinderHub's settings
            hub = field_rule("hub").validate_python(candidate["hub"])
            binderhub = field_rule("binderhub").validate_python(candidate.get("binderhub") or {})
            check_binderhub_with_hub(binderhub, hub)
        except ValidationError as err:  # a combination the model refuses: say why, leave it off
            self._refuse(problem_lines(err, ("hub",)))
            return
        except KeyProblem as err:
            self._refuse([f"{err.key}: {err}"])
            return
        self.data = candidate
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

    # -- the whole --

    def build(self) -> Config:
        """The whole model, once, from all the answers. What only the whole shows (a key
        kept from the existing file that no longer fits an answer) is asked again."""
        while True:
            try:
                return validate(self.data, self.base_dir)
            except ValidationError as err:
                found = problems(err)
            self.p.say("[red]✗[/] together, these answers are refused:")
            for loc, message in found:
                self.p.say(f"  {escape(field_path(loc))}: {escape(message)}")
            keys = [".".join(map(str, loc)) for loc, _ in found]
            if not all(_is_key(key) for key in keys):
                raise ConfigError(f"{self.name}: these answers cannot make a valid config")
            for key in dict.fromkeys(keys):
                current = get_path(self.data, key)
                default = None if current is None else str(current)
                self.ask(key, key, default, none_means="remove it: bhsvc's default")

    def summary(self, config: Config) -> list[str]:
        lines = ["", "[bold]Summary[/]"]
        context = config.kube.context or "the current kubeconfig context"
        lines.append(f"  cluster      {escape(context)}, namespace {escape(config.kube.namespace)}")
        lines.append(f"  BinderHub    release {escape(config.binderhub.release)}")
        registry, gar = config.registry, config.registry.gar
        if gar is not None:
            lines.append(
                f"  registry     Google Artifact Registry, project {escape(gar.project)}, "
                f"region {escape(gar.region)}"
            )
        else:
            source = registry.password_file or f"${REGISTRY_PASSWORD_ENV}"
            lines.append(
                f"  registry     {escape(PROVIDER_TITLES[registry.provider])}, "
                f"user {escape(registry.username or '')} at {escape(config.registry_server)}, "
                f"password from {escape(str(source))}"
            )
        lines.append(f"  images       {escape(config.image_prefix)}<name>")
        if gar is not None and gar.cleanup is not None:
            lines.append(f"  cleanup      {escape(cleanup.in_words(gar.cleanup))}")
        if config.hub.enabled:
            lines.append(
                f"  JupyterHub   release {escape(config.hub.release)} in namespace "
                f"{escape(config.hub_namespace)}, "
                f"BinderHub at /services/{escape(config.hub.service_name)}/"
            )
        lines += ["", "[bold]init will now[/]"]
        if gar is not None:
            lines += [f"  • {escape(line)}" for line in gar_plan(config)]
        elif self.password_deferred:
            lines.append(f"  • check nothing now: {escape(DEFERRED_PASSWORD)}")
        else:
            lines.append("  • check that the push credentials can be read")
        lines += [f"  • make {escape(str(p))} readable by you only (0600)" for p in self.private]
        lines += self._file_lines()
        lines.append("Nothing is installed on the cluster: that is 'bhsvc deploy', afterwards.")
        return lines

    def _file_lines(self) -> list[str]:
        name = escape(self.name)
        if not self.exists:
            return [f"  • write {name}"]
        if self.existing is None:
            return [f"  • replace {name} (it could not be used)"]
        if render_config(self.data) == self.existing_text:
            return [f"  • keep {name}: nothing in it changes"]
        found = changes(self.existing, self.data)
        lines = [f"  • update {name}:"]
        lines += [f"      {escape(line)}" for line in found[:SHOWN_CHANGES]]
        if len(found) > SHOWN_CHANGES:
            lines.append(f"      ... and {len(found) - SHOWN_CHANGES} more")
        return lines

    def converse(self, rotate_key: bool, delete_old_keys: bool = False) -> Config:
        """From the first question to a confirmed config (answers kept across a no)."""
        self.start()
        while True:
            self.ask_all()
            config = self.build()
            check_inputs(config, rotate_key, delete_old_keys=delete_old_keys)
            for line in self.summary(config):
                self.p.say(line)
            self.p.say()
            if self.confirm("Go ahead?", True):
                return config
            if not self.confirm("Change some answers? (they are the defaults)", True):
                raise Declined("init cancelled: nothing was created and no file was written")


def gar_plan(config: Config) -> list[str]:
    """What init does in Google Cloud for `config`, one line per change."""
    gar = config.registry.gar
    assert gar is not None
    repo = f"projects/{gar.project}/locations/{gar.region}/repositories/{gar.repository}"
    lines = [
        f"create the Docker repository {repo} (if missing)",
        f"create the service account {config.pusher_email} (if missing)",
        "grant it roles/artifactregistry.writer on that repository only",
    ]
    if gar.cleanup is not None:
        lines.insert(
            1,
            f"set cleanup policies on it: {cleanup.in_words(gar.cleanup)}; other policies "
            "on it stay",
        )
    if gar.keyless:
        ksa = f"{config.kube.namespace}/{binderhub_service_account(config)}"
        nodes = gar.node_service_account or "the project's Compute Engine default service account"
        return [
            *lines,
            f"let BinderHub's Kubernetes ServiceAccount {ksa} act as it (Workload Identity: "
            f"roles/iam.workloadIdentityUser for {gar.project}.svc.id.goog[{ksa}])",
            f"grant the nodes' service account ({nodes}) roles/artifactregistry.reader on "
            "that repository, so that they pull without a Secret",
            "create no key",
        ]
    lines.append(
        f"create a key for it in {config.key_file} (mode 0600), unless a valid one is there"
    )
    if config.needs_pull_key:
        puller = f"{config.pull_service_account_id}@{gar.project}.iam.gserviceaccount.com"
        lines += [
            f"create the service account {puller} (if missing), grant it "
            "roles/artifactregistry.reader on that repository, and create a key for it in "
            f"{config.pull_key_file}: the hub's users pull with it, never with the pusher's",
        ]
    return lines


def _in_registry(rule: Callable[[], None]) -> None:
    """A registry rule's finding, named under registry (its keys are relative to it)."""
    try:
        rule()
    except KeyProblem as err:
        raise KeyProblem(f"registry.{err.key}", str(err)) from None


def _is_key(path: str) -> bool:
    try:
        field_rule(path)
    except KeyError:
        return False
    return True


def _init_command(config_path: Path) -> list[str]:
    return ["bhsvc", "init", "--non-interactive", "--config", str(config_path)]


def equivalent_command(config_path: Path) -> str:
    """The command to run again, escaped for a message if the path needs it."""
    return shown_command(_init_command(config_path))
