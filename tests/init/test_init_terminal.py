"""`bhsvc init` in a real terminal: tmux runs it, types the answers and reads the screen.

Set BHSVC_UPDATE_SCREENS=1 to rewrite screen-full-run.txt (used by the docs)
from the full run.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from init_testing import KEY_FILE, secret_fragments, write_kubeconfig, write_own_config

from bhsvc.config import load_config
from fakes.gcp_services import Gcp

SCREEN_FILE = Path(__file__).with_name("screen-full-run.txt")
GKE = "gke_my-project_europe-west10-a_binder-cluster"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (Debian: tmux)")


class Tmux:
    """One tmux server of our own (its own socket), one window running a command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    def start(self, command: str, cwd: Path) -> None:
        self.run(
            "new-session", "-d", "-s", "init", "-x", "132", "-y", "50", "-c", str(cwd), command
        )

    def screen(self) -> str:
        # The whole history, not just the visible part, joined where lines wrapped.
        return self.run("capture-pane", "-p", "-J", "-S", "-", "-t", "init")

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear on the screen:\n{screen}")
            time.sleep(0.1)

    def answer(self, prompt: str, keys: str = "") -> None:
        self.wait_for(prompt)
        if keys:
            self.run("send-keys", "-t", "init", "-l", keys)
        self.run("send-keys", "-t", "init", "Enter")

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10, check=False
        )


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux(f"bhsvc-test-{uuid.uuid4().hex[:8]}")
    try:
        yield session
    finally:
        session.kill()


def init_command(gcp: Gcp, workdir: Path) -> str:
    """`bhsvc init` with an environment of its own, then its exit code on the screen."""
    kubeconfig = write_kubeconfig(workdir, ["kind-dev", GKE], current=GKE)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir / "home"),
        "KUBECONFIG": str(kubeconfig),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        **gcp.env,
    }
    bhsvc = shlex.join(
        ["env", "-i", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "bhsvc", "init"]
    )
    # Keep the window open after the exit so the screen can still be read.
    return f'{bhsvc}; echo "EXIT=$?"; sleep 600'


def test_full_run_in_a_terminal(gcp: Gcp, workdir: Path, tmux: Tmux) -> None:
    tmux.start(init_command(gcp, workdir), workdir)

    tmux.answer("Kubernetes context (number or name) [")
    tmux.answer("Namespace for BinderHub [binder]: ")
    tmux.answer("Helm release name [binderhub]: ")
    tmux.answer("Registry (number or name) [gar]: ")
    tmux.answer("Google Cloud project [my-project]: ")
    tmux.answer("[europe-west10]: ", "europe west10")  # a typo: refused, asked again
    tmux.wait_for("✗ registry.gar.region")
    screen = tmux.screen()
    assert screen.count("Region (e.g. europe-west10, us-central1) [europe-west10]: ") == 2
    tmux.run("send-keys", "-t", "init", "Enter")  # the default this time
    tmux.answer("Repository name [binder]: ")
    tmux.answer("Push credentials (number or name) [key]: ")
    tmux.answer("(Artifact Registry cleanup policies)? [y/N]: ", "y")
    tmux.answer("Delete untagged versions older than (days) (-: keep them) [7]: ")
    tmux.answer("Delete any version older than (days) (-: no age limit) [90]: ", "30")
    tmux.answer("recent versions of each image (empty: none): ", "3")
    tmux.answer("Dry run first (Artifact Registry only logs what it would delete)? [Y/n]: ")
    tmux.answer("the z2jh chart? [y/N]: ", "n")
    tmux.answer("Go ahead? [Y/n]: ")
    screen = tmux.wait_for("EXIT=", timeout=60)

    assert "EXIT=0" in screen, screen
    for line in (
        "✓ Artifact Registry repository: created",
        "✓ cleanup policies: created (keep 3 recent, delete untagged after 7 days, delete "
        "any after 30 days (dry run))",
        "✓ writer role on the repository: changed",
        "✓ pusher key: created",
        "Wrote bhsvc.yaml. To provision again without questions:",
        "bhsvc init --non-interactive --config bhsvc.yaml",
        "Next: bhsvc deploy --config bhsvc.yaml",
    ):
        assert line in screen
    assert "Traceback" not in screen
    for fragment in secret_fragments(gcp.iam.issued_private_keys):
        assert fragment not in screen
    config = load_config(workdir / "bhsvc.yaml")
    assert config.kube.context == GKE
    assert config.registry.gar is not None and config.registry.gar.cleanup is not None
    assert config.registry.gar.cleanup.model_dump() == {
        "keep_recent": 3, "untagged_after_days": 7, "older_than_days": 30, "dry_run": True,
    }  # fmt: skip
    assert (workdir / KEY_FILE).exists()
    if os.environ.get("BHSVC_UPDATE_SCREENS"):
        lines = screen.split("EXIT=")[0].rstrip().splitlines()
        text = "\n".join(line.rstrip() for line in lines if not line.startswith("env -i"))
        SCREEN_FILE.write_text("$ bhsvc init\n" + text.lstrip("\n") + "\n")


def test_ctrl_c_in_a_terminal_leaves_no_file(gcp: Gcp, workdir: Path, tmux: Tmux) -> None:
    tmux.start(init_command(gcp, workdir), workdir)

    tmux.answer("Kubernetes context (number or name) [")
    tmux.wait_for("Namespace for BinderHub [binder]: ")
    tmux.run("send-keys", "-t", "init", "C-c")
    screen = tmux.wait_for("EXIT=")

    assert "Cancelled: nothing was created and no file was written." in screen
    assert "EXIT=130" in screen
    assert not (workdir / "bhsvc.yaml").exists()
    assert gcp.requests() == 0


GAR_AT_GKE = {
    "version": 1,
    "kube": {"context": GKE, "namespace": "binder"},
    "registry": {
        "provider": "gar",
        "gar": {"project": "my-project", "region": "europe-west10", "repository": "binder"},
    },
}


def test_running_again_in_a_terminal_updates_its_own_file(
    gcp: Gcp, workdir: Path, tmux: Tmux
) -> None:
    write_own_config(workdir, GAR_AT_GKE)
    tmux.start(init_command(gcp, workdir), workdir)

    tmux.answer("bhsvc.yaml exists. Use its values as defaults? [Y/n]: ")
    tmux.answer("Kubernetes context (number or name) [")
    tmux.answer("Namespace for BinderHub [binder]: ", "science")
    for prompt in ("Helm release name", "Registry (number or", "Google Cloud project", "Region"):
        tmux.answer(prompt)
    tmux.answer("Repository name [binder]: ")
    tmux.answer("Push credentials (number or name) [key]: ")
    tmux.answer("(Artifact Registry cleanup policies)? [y/N]: ")
    tmux.answer("the z2jh chart? [y/N]: ")
    tmux.answer("Go ahead? [Y/n]: ")
    screen = tmux.wait_for("EXIT=", timeout=60)

    assert "EXIT=0" in screen, screen
    assert "  • update bhsvc.yaml:\n      kube.namespace: binder → science\n" in screen
    assert "Replace" not in screen
    assert "Wrote bhsvc.yaml." in screen
    assert load_config(workdir / "bhsvc.yaml").kube.namespace == "science"


def test_a_hand_written_file_is_asked_about_first_in_a_terminal(
    gcp: Gcp, workdir: Path, tmux: Tmux
) -> None:
    text = "# mine\n" + yaml.safe_dump(GAR_AT_GKE)
    (workdir / "bhsvc.yaml").write_text(text)
    tmux.start(init_command(gcp, workdir), workdir)

    tmux.answer("bhsvc.yaml exists. Use its values as defaults? [Y/n]: ")
    tmux.answer("Replace bhsvc.yaml when you go ahead? [y/N]: ")
    screen = tmux.wait_for("EXIT=")

    assert "EXIT=1" in screen  # a no, not a Ctrl-C
    assert "error: init stopped before any question: bhsvc.yaml is left as it is." in screen
    assert "Kubernetes context" not in screen
    assert (workdir / "bhsvc.yaml").read_text() == text
    assert gcp.requests() == 0


def test_a_password_file_in_a_terminal(gcp: Gcp, workdir: Path, tmux: Tmux) -> None:
    token = workdir / "home" / "dockerhub-token.txt"
    token.parent.mkdir()
    token.write_text("dckr_pat_SECRET\n")
    token.chmod(0o644)
    tmux.start(init_command(gcp, workdir), workdir)

    tmux.answer("Kubernetes context (number or name) [")
    tmux.answer("Namespace for BinderHub [binder]: ")
    tmux.answer("Helm release name [binderhub]: ")
    tmux.answer("Registry (number or name) [gar]: ", "9")
    tmux.wait_for("✗ 9 is not a number from 1 to 5: answer 1 to 5, or a name")
    tmux.answer("Registry (number or name) [gar]: ", "dockrhub")
    tmux.wait_for("✗ 'dockrhub' is not one of them; did you mean dockerhub?")
    tmux.answer("Registry (number or name) [gar]: ", "dockerhub")
    tmux.answer("User name: ", "mydockerid")
    tmux.answer("when deploying): ", "~/nope.txt")
    tmux.wait_for(f"✗ registry.password_file: {workdir}/home/nope.txt: password file not found")
    tmux.answer("when deploying): ", "~/dockerhub-token.txt")
    tmux.answer("the z2jh chart? [y/N]: ")
    tmux.answer("Go ahead? [Y/n]: ")
    screen = tmux.wait_for("EXIT=", timeout=60)

    assert "EXIT=0" in screen, screen
    # The refused answer did not become the default of the next try.
    assert "[~/nope.txt]" not in screen and f"[{workdir}/home/nope.txt]" not in screen
    assert "dockerhub-token.txt is readable by others: it is made 0600 when you go ahead." in (
        screen
    )
    assert f"warning: {token} was readable by others (mode 0644); it is 0600 now" in screen
    assert "SECRET" not in screen
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert load_config(workdir / "bhsvc.yaml").registry.password_file == token


def test_a_deferred_password_and_a_generic_prefix_in_a_terminal(
    gcp: Gcp, workdir: Path, tmux: Tmux
) -> None:
    tmux.start(init_command(gcp, workdir), workdir)

    tmux.answer("Kubernetes context (number or name) [")
    tmux.answer("Namespace for BinderHub [binder]: ")
    tmux.answer("Helm release name [binderhub]: ")
    tmux.answer("Registry (number or name) [gar]: ", "generic")
    tmux.answer("Registry server (host[:port]): ", "registry.internal:5000")
    tmux.answer("User name: ", "bot")
    tmux.answer(
        "Image prefix (e.g. registry.example.org/binder/binder-): ",
        "registry.internal:5000/binder/binder",
    )
    tmux.answer("when deploying): ")  # empty: the variable, unset here
    tmux.answer("the z2jh chart? [y/N]: ")
    tmux.answer("Go ahead? [Y/n]: ")
    screen = tmux.wait_for("EXIT=", timeout=60)

    assert "EXIT=0" in screen, screen
    assert (
        "warning: images will be named registry.internal:5000/binder/binder<name>, such as "
        "registry.internal:5000/binder/binderbinder-2dexamples-2drequirements-55ab5c" in screen
    )
    assert (
        "$BHSVC_REGISTRY_PASSWORD is not set here: set it before 'bhsvc deploy', which reads it."
        in screen
    )
    assert (
        "warning: $BHSVC_REGISTRY_PASSWORD is not set here: set it before 'bhsvc deploy'" in screen
    )
    config = load_config(workdir / "bhsvc.yaml")
    assert config.registry.password_file is None
    assert config.image_prefix == "registry.internal:5000/binder/binder"
