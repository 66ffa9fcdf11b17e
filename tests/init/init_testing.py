"""Helpers for the `bhsvc init` tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich.text import Text

GAR_CONFIG: dict[str, Any] = {
    "version": 1,
    "kube": {"namespace": "binder"},
    "binderhub": {"release": "binderhub"},
    "registry": {
        "provider": "gar",
        "gar": {"project": "my-project", "region": "europe-west10", "repository": "binder"},
    },
}
EMAIL = "binderhub-pusher@my-project.iam.gserviceaccount.com"
KEY_FILE = Path(".bhsvc/binderhub-pusher-key.json")


def write_config(
    directory: Path, data: dict[str, Any] | str = GAR_CONFIG, name: str = "bhsvc.yaml"
) -> Path:
    path = directory / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def write_own_config(directory: Path, data: dict[str, Any], name: str = "bhsvc.yaml") -> Path:
    """A config file as `bhsvc init` writes it (header, key order, no comments)."""
    from bhsvc.wizard import render_config

    path = directory / name
    path.write_text(render_config(data))
    return path


def secret_fragments(issued_private_keys: list[str]) -> list[str]:
    """Pieces of every issued key that must never be printed or logged."""
    fragments = []
    for key in issued_private_keys:
        body = key.splitlines()[1]
        fragments += [body, body[:24], body[-24:]]
    return fragments


Answer = str | type[BaseException] | BaseException


class ScriptedPrompter:
    """The wizard's prompt layer with answers from a script; records the conversation.

    An answer may be an exception (a class, or an instance such as a
    UnicodeDecodeError) to raise at that prompt, as the terminal does on Ctrl-C
    (KeyboardInterrupt), Ctrl-D (EOFError) or bytes that are not UTF-8.
    """

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.lines: list[str] = []

    def say(self, markup: str = "") -> None:
        self.lines.append(Text.from_markup(markup).plain)

    def ask(self, prompt: str) -> str:
        question = Text.from_markup(prompt).plain
        if not self.answers:
            raise AssertionError(f"the wizard asked more than the script answers: {question!r}")
        answer = self.answers.pop(0)
        if isinstance(answer, type):
            self.lines.append(f"{question}<{answer.__name__}>")
            raise answer()
        if isinstance(answer, BaseException):
            self.lines.append(f"{question}<{type(answer).__name__}>")
            raise answer
        self.lines.append(f"{question}{answer}")
        return answer

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def write_kubeconfig(directory: Path, contexts: list[str], current: str | None) -> Path:
    path = directory / "kubeconfig"
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts],
        "current-context": current or "",
    }
    path.write_text(yaml.safe_dump(data))
    return path
