"""The user's files: every reader refuses special and huge files the same way, and the
folders bhsvc creates are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

import special_files
from bhsvc import files
from bhsvc.config import parse_config
from bhsvc.errors import UsageError
from bhsvc.files import read_values_file
from bhsvc.hub_files import hub_user_values
from bhsvc.registry import keys
from bhsvc.registry.credentials import Credentials, load_credentials, read_key_file
from bhsvc.workdir import written_by_bhsvc
from clirun import RunCli

GAR = {"provider": "gar", "gar": {"project": "my-project", "region": "europe-west10"}}
# The files exist before the readers run: a reader that waits for a writer would hang.
pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=[*special_files.SPECIAL, "socket", "huge"])
def special(request: pytest.FixtureRequest) -> Iterator[Callable[[Path], str]]:
    """A maker of one kind of file no reader may read whole."""
    with special_files.unix_sockets() as sockets:
        makers = {**special_files.SPECIAL, "socket": sockets, "huge": special_files.huge}
        yield makers[request.param]


def test_a_special_or_huge_config_file_is_refused(
    tmp_path: Path, special: Callable[[Path], str], run_cli: RunCli
) -> None:
    path = tmp_path / "bhsvc.yaml"
    problem = special(path)

    result = run_cli("deploy", "--dry-run", "--config", str(path))

    assert result.code == 2
    assert result.err.startswith(f"error: {path}: ")
    assert f"{problem}, not a config file" in result.err or "larger than 1 MiB" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


def test_a_special_or_huge_values_file_is_refused(
    tmp_path: Path, special: Callable[[Path], str]
) -> None:
    path = tmp_path / "hub-values.yaml"
    problem = special(path)
    data = {"kube": {"namespace": "binder"}, "registry": GAR}
    config = parse_config({**data, "hub": {"values_files": [str(path)]}}, "f", tmp_path)

    with pytest.raises(UsageError) as refused:
        hub_user_values(config)
    with pytest.raises(UsageError) as refused_alone:
        read_values_file(path, "--hub-values")

    assert str(refused.value).startswith(f"{path}: ")
    assert problem in str(refused.value)
    assert str(refused.value).endswith("(hub.values_files)")
    assert str(refused_alone.value).endswith("(--hub-values)")


def test_a_special_or_huge_password_file_is_refused(
    tmp_path: Path, special: Callable[[Path], str]
) -> None:
    path = tmp_path / "token"
    problem = special(path)
    registry = {"provider": "ghcr", "username": "octo", "password_file": "token"}
    config = parse_config({"kube": {"namespace": "b"}, "registry": registry}, "f", tmp_path)

    with pytest.raises(UsageError) as refused:
        load_credentials(config)

    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert f"{problem}, not a password file" in message or "larger than 64 KiB" in message


def test_a_special_or_huge_key_file_is_refused(
    tmp_path: Path, special: Callable[[Path], str]
) -> None:
    path = tmp_path / "key.json"
    problem = special(path)

    with pytest.raises(UsageError) as refused:
        read_key_file(path)
    with pytest.raises(UsageError) as refused_by_init:
        keys.read_key_file_info(path, "pusher@my-project.iam.gserviceaccount.com")

    assert problem in str(refused.value)
    assert str(refused_by_init.value).startswith("registry.gar.key_file: ")
    assert problem in str(refused_by_init.value)


# What render says of each maker's file where it writes: it looks at the path itself,
# so the device (a link to /dev/zero) is a link, and a huge file is not bhsvc's.
WHERE_BHSVC_WRITES = {"is a character device": "is a symbolic link", "is larger than": ""}


def test_a_special_file_where_render_writes_is_refused_unread(
    tmp_path: Path, special: Callable[[Path], str], run_cli: RunCli
) -> None:
    config = tmp_path / "bhsvc.yaml"
    config.write_text(yaml.safe_dump({"kube": {"namespace": "binder"}, "registry": GAR}))
    out = tmp_path / "out"
    out.mkdir()
    path = out / "binderhub-service.values.yaml"
    made = special(path)
    problem = WHERE_BHSVC_WRITES.get(made, made) or "exists and bhsvc did not write it"

    result = run_cli("render", "--config", str(config), "--output-dir", str(out))

    assert result.code == 2
    step, error = result.err.splitlines()  # the render step's line, then one error line
    assert step.startswith("✗ render with helm")
    assert error.startswith(f"error: {path}")
    assert problem in error
    assert [p.name for p in out.iterdir()] == [path.name]


def test_a_link_to_a_file_bhsvc_wrote_is_not_bhsvcs(tmp_path: Path, run_cli: RunCli) -> None:
    """Writing would replace the link, which the user made: refused, as removal leaves it."""
    config = tmp_path / "bhsvc.yaml"
    config.write_text(yaml.safe_dump({"kube": {"namespace": "binder"}, "registry": GAR}))
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli("render", "-c", str(config), "-d", str(first)).code == 0
    second.mkdir()
    link = second / "binderhub-service.values.yaml"
    link.symlink_to(first / link.name)

    result = run_cli("render", "-c", str(config), "-d", str(second))

    assert result.code == 2
    assert result.err.splitlines()[-1] == (
        f"error: {link}: is a symbolic link, where bhsvc writes a file: "
        "move it away or write elsewhere"
    )
    assert link.is_symlink()
    assert not written_by_bhsvc(link) and written_by_bhsvc(first / link.name)


def test_size_limits_are_those_of_each_kind_of_file(tmp_path: Path) -> None:
    just_too_big = tmp_path / "big"
    just_too_big.write_text("a: " + "x" * (files.SECRET_LIMIT - 3) + "\n")
    # 64 KiB and one byte: a document, not a secret.
    assert files.read_user_file(just_too_big, "values file", files.DOCUMENT_LIMIT)
    with pytest.raises(files.UnusableFile, match="the password file is larger than 64 KiB"):
        files.read_user_file(just_too_big, "password file", files.SECRET_LIMIT)


def test_a_file_that_reports_no_size_is_still_limited(tmp_path: Path) -> None:
    # /proc files say 0 bytes; this one holds more than a key would.
    with pytest.raises(files.UnusableFile, match="larger than"):
        files.read_user_file(Path("/proc/self/maps"), "key file", 16)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_bytes(b"caf\xe9"), "the values file is not UTF-8 text"),
        (lambda p: None, "values file not found"),
        (
            lambda p: p.symlink_to(p.name),
            "cannot read the values file (Too many levels of symbolic links)",
        ),
    ],
)
def test_other_unreadable_files(
    tmp_path: Path, make: Callable[[Path], object], expected: str
) -> None:
    path = tmp_path / "values.yaml"
    make(path)
    with pytest.raises(files.UnusableFile) as refused:
        files.read_user_file(path, "values file", files.DOCUMENT_LIMIT)
    assert str(refused.value) == f"{path}: {expected}"


def test_a_nul_in_a_path_is_named_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(files.UnusableFile) as refused:
        files.read_user_file(tmp_path / "a\x00b", "config file", files.DOCUMENT_LIMIT)
    assert str(refused.value) == f"{tmp_path}/a\\x00b: the path holds a NUL character"


# ---- private folders ------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: every folder made with the default mode is world-writable."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_folders_bhsvc_creates_are_private_whatever_the_umask(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o775)
    target = tmp_path / "shared" / ".bhsvc" / "rendered" / "values.yaml"

    files.write_atomic(target, "a: 1\n", files.SECRET_MODE)

    assert mode(tmp_path / "shared" / ".bhsvc") == 0o700
    assert mode(tmp_path / "shared" / ".bhsvc" / "rendered") == 0o700
    assert mode(target) == 0o600
    assert mode(tmp_path / "shared") == 0o775  # it existed: left as it was


def test_private_folders_are_usable_under_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)  # would take the owner's own write bit away
    try:
        files.make_private_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700


@pytest.mark.usefixtures("open_umask")
def test_render_output_folders_are_private(tmp_path: Path, run_cli: RunCli) -> None:
    config = tmp_path / "bhsvc.yaml"
    config.write_text(yaml.safe_dump({"kube": {"namespace": "binder"}, "registry": GAR}))
    out = tmp_path / "out" / "nested"

    result = run_cli("render", "--config", str(config), "--output-dir", str(out))

    assert result.code == 0, result.err
    assert mode(tmp_path / "out") == mode(out) == 0o700
    assert {mode(p) for p in out.iterdir()} == {0o600}


def test_a_folder_that_cannot_be_made_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    with pytest.raises(OSError) as failed:
        files.write_atomic(tmp_path / "notes.txt" / "sub" / "f.yaml", "a: 1\n")
    assert failed.value.filename == str(tmp_path / "notes.txt" / "sub" / "f.yaml")


def test_make_private_fixes_and_says_so(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)

    assert (
        files.make_private(secret) == f"{secret} was readable by others (mode 0644); it is 0600 now"
    )
    assert mode(secret) == 0o600
    assert files.make_private(secret) is None


def test_a_password_the_locale_could_not_decode_is_bad_input() -> None:
    # os.environ holds undecodable bytes as surrogates; no encoder takes them.
    with pytest.raises(UsageError, match=r"the registry password for ghcr\.io is not UTF-8 text"):
        Credentials("ghcr.io", "octo", "s3cr\udcffet")


@pytest.mark.parametrize("kind", sorted(special_files.SPECIAL))
@pytest.mark.parametrize("command", ["render", "status"])
def test_a_kubeconfig_that_is_not_a_file_is_refused_before_helm_or_the_client_reads_it(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, kind: str, command: str
) -> None:
    """helm reads the kubeconfig even for `helm version`: from a named pipe it would
    wait, from a device it would read without end."""
    config = tmp_path / "bhsvc.yaml"
    config.write_text(yaml.safe_dump({"kube": {"namespace": "binder"}, "registry": GAR}))
    kubeconfig = tmp_path / "kubeconfig"
    problem = special_files.SPECIAL[kind](kubeconfig)
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}{os.pathsep}{kubeconfig}")

    result = run_cli(command, "--config", str(config))

    assert result.code == 2, result.both
    assert result.err.strip() == f"error: KUBECONFIG: {kubeconfig} {problem}, not a kubeconfig file"
