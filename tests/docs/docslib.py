"""Read the documentation's Markdown: fenced code blocks, the bhsvc commands they show."""

from __future__ import annotations

import importlib.util
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# Shell-like fences whose lines are commands; in `console` only lines after "$ ".
SHELL_FENCES = {"console", "shell-session"}
SCRIPT_FENCES = {"bash", "sh", "shell", "zsh"}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")
_INLINE_CODE = re.compile(r"(?<!`)`(bhsvc [^`\n]+)`(?!`)")
# Inline commands with placeholders or elisions are prose, not runnable commands.
_PLACEHOLDER = re.compile(r"<[^>]*>|\.\.\.|…")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    info: str  # the fence's info string, e.g. "console" or "{literalinclude} ..."
    text: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info else ""

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    where: str
    text: str  # as written, continuation lines joined
    argv: tuple[str, ...]  # after "bhsvc", up to the first shell operator
    source: str  # "block" or "inline"


def markdown_files() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file, those inside MyST directives too."""
    return _blocks(path, path.read_text(encoding="utf-8").splitlines(), 0)


def _blocks(path: Path, lines: list[str], offset: int) -> list[Block]:
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence = match.group("fence")
        indent = len(match.group("indent"))
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            line = lines[i]
            # Blocks inside list items are indented: remove the fence's indentation.
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        info = match.group("info").strip()
        blocks.append(Block(path, offset + start + 1, info, "\n".join(body)))
        if info.startswith("{"):
            # A MyST directive (```{note}) holds Markdown, which may hold code blocks.
            blocks += _blocks(path, body, offset + start + 1)
        i += 1
    return blocks


def _joined_lines(text: str) -> list[str]:
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _bhsvc_argv(command_line: str) -> tuple[str, ...] | None:
    """The arguments after `bhsvc` in a shell command line, or None if it runs no bhsvc."""
    lexer = shlex.shlex(command_line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    # Skip leading VAR=value assignments.
    while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):
        tokens.pop(0)
    if not tokens or tokens[0] != "bhsvc":
        return None
    argv: list[str] = []
    for token in tokens[1:]:
        if token in {"|", "||", "&&", ";", "&", ">", ">>", "<", "(", ")"}:
            break
        argv.append(token)
    return tuple(argv)


def commands() -> list[Command]:
    """Every `bhsvc ...` command the docs show: in shell blocks and in inline code."""
    found: list[Command] = []
    for path in markdown_files():
        for block in fenced_blocks(path):
            if block.language in SHELL_FENCES:
                lines = [line[2:] for line in _joined_lines(block.text) if line.startswith("$ ")]
            elif block.language in SCRIPT_FENCES:
                lines = _joined_lines(block.text)
            else:
                continue
            for line in lines:
                argv = _bhsvc_argv(line.strip())
                if argv is not None:
                    found.append(Command(block.where, line.strip(), argv, "block"))
        text = path.read_text(encoding="utf-8")
        for match in _INLINE_CODE.finditer(text):
            snippet = match.group(1)
            if _PLACEHOLDER.search(snippet):
                continue
            line = text.count("\n", 0, match.start()) + 1
            argv = _bhsvc_argv(snippet)
            if argv is not None:
                where = f"{path.relative_to(ROOT)}:{line}"
                found.append(Command(where, snippet, argv, "inline"))
    return found


def load_generate() -> ModuleType:
    """docs/generate.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
