"""The pure parts of GAR provisioning: endpoints, key decisions, retries, policies, errors."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as gexc
from google.iam.v1 import policy_pb2
from google.type import expr_pb2

from bhsvc.errors import OperationError, UsageError
from bhsvc.registry import keyfile, keys
from bhsvc.registry.endpoints import artifact_registry_endpoint, iam_endpoint, is_loopback
from bhsvc.registry.gcp_clients import LazyDefaultCredentials, check_credentials_file
from bhsvc.registry.gcp_errors import (
    Action,
    is_refused_unprocessed,
    is_transient,
    surely_not_done,
    translate,
)
from bhsvc.registry.policy import add_member
from bhsvc.registry.provision import check_key_file

AR = "BHSVC_ARTIFACT_REGISTRY_ENDPOINT"
IAM = "BHSVC_IAM_ENDPOINT"
EMAIL = "pusher@p-123456.iam.gserviceaccount.com"

# ---- endpoints -----------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "example.org", "127.0.0.1.nip.io", "0.0.0.0"])
def test_not_loopback_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_no_override_means_default_endpoints() -> None:
    assert artifact_registry_endpoint({}) is None
    assert iam_endpoint({AR: "http://127.0.0.1:1"}) is None


def test_artifact_registry_endpoint_forms() -> None:
    local = artifact_registry_endpoint({AR: "http://127.0.0.1:8080/"})
    assert local is not None
    assert (local.address, local.insecure, local.loopback) == ("http://127.0.0.1:8080", True, True)
    private = artifact_registry_endpoint({AR: "https://artifactregistry.p.googleapis.com"})
    assert private is not None
    assert (private.insecure, private.loopback) == (False, False)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://example.org:8080", "unencrypted connection is only allowed to a loopback host"),
        ("127.0.0.1:8080", "expected a URL"),
        ("ftp://127.0.0.1", "expected a URL"),
        ("http://127.0.0.1:99999", "invalid port"),
    ],
)
def test_artifact_registry_endpoint_refusals(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        artifact_registry_endpoint({AR: value})
    assert caught.value.exit_code == 2


def test_iam_endpoint_forms() -> None:
    local = iam_endpoint({IAM: "127.0.0.1:50051"})
    assert local is not None and (local.address, local.insecure) == ("127.0.0.1:50051", True)
    ipv6 = iam_endpoint({IAM: "[::1]:50051"})
    assert ipv6 is not None and ipv6.insecure and ipv6.address == "[::1]:50051"
    remote = iam_endpoint({IAM: "iam.p.googleapis.com:443"})
    assert remote is not None and not remote.insecure  # TLS for anything not loopback
    explicit = iam_endpoint({IAM: "https://localhost:8443"})
    assert explicit is not None and not explicit.insecure


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://iam.example.org:80", "unencrypted connection is only allowed to a loopback host"),
        ("127.0.0.1", "expected host:port"),
        ("127.0.0.1:50051/v1", "expected host:port"),
        ("grpc://127.0.0.1:1", "expected host:port"),
    ],
)
def test_iam_endpoint_refusals(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        iam_endpoint({IAM: value})


# ---- key decisions -------------------------------------------------------------------


def test_plan_key_first_run_creates() -> None:
    assert keys.plan_key(None, [], EMAIL, rotate=False) == keys.KeyPlan(keys.KeyAction.CREATE)


def test_plan_key_reuses_a_listed_key() -> None:
    existing = keys.KeyFileInfo("k1")
    assert keys.plan_key(existing, ["k0", "k1"], EMAIL, rotate=False).action is keys.KeyAction.REUSE


def test_plan_key_rotates_only_when_asked() -> None:
    existing = keys.KeyFileInfo("k1")
    plan = keys.plan_key(existing, ["k1"], EMAIL, rotate=True)
    assert (plan.action, plan.old_key_id) == (keys.KeyAction.ROTATE, "k1")


def test_plan_key_names_keys_no_file_holds() -> None:
    plan = keys.plan_key(None, ["abcdef0123456789"], EMAIL, rotate=False)
    assert plan.action is keys.KeyAction.CREATE
    assert (
        "already has user-managed keys that no key file here holds (abcdef012345)"
        in (plan.warnings[0])
    )


def test_plan_key_limits() -> None:
    near = keys.plan_key(None, [f"k{i}" for i in range(7)], EMAIL, rotate=False)
    assert any("8 of 10" in w for w in near.warnings)
    fewer = keys.plan_key(None, [f"k{i}" for i in range(6)], EMAIL, rotate=False)
    assert not any("of 10" in w for w in fewer.warnings)
    with pytest.raises(OperationError, match="already has 10 user-managed keys"):
        keys.plan_key(None, [f"k{i}" for i in range(10)], EMAIL, rotate=False)
    # Reusing needs no new key, so a full account is fine (with a warning).
    full = [f"k{i}" for i in range(10)]
    reuse = keys.plan_key(keys.KeyFileInfo("k3"), full, EMAIL, rotate=False)
    assert reuse.action is keys.KeyAction.REUSE


def test_read_key_file_info(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    assert keys.read_key_file_info(path, EMAIL) is None
    path.write_text(
        json.dumps({"private_key_id": "abc", "client_email": EMAIL, "private_key": "S"})
    )
    assert keys.read_key_file_info(path, EMAIL) == keys.KeyFileInfo("abc")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("SECRET-NOT-JSON", "is not a service-account key"),
        (json.dumps({"private_key_id": "abc", "client_email": "ci@x.iam.gserviceaccount.com",
                     "private_key": "SECRET"}), "holds a key of ci@x.iam.gserviceaccount.com"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_our_key_is_never_replaced(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "key.json"
    path.write_text(content)
    with pytest.raises(UsageError) as err:
        keys.read_key_file_info(path, EMAIL)
    assert f"registry.gar.key_file: {path}" in str(err.value) and problem in str(err.value)
    assert "SECRET" not in str(err.value)
    assert path.read_text() == content


def _credentials(key_id: str) -> bytes:
    data = {"type": "service_account", "private_key_id": key_id, "private_key": "SECRET-BODY"}
    return json.dumps(data).encode()


def test_key_file_text_accepts_raw_and_base64() -> None:
    raw = _credentials("abc")
    assert json.loads(keys.key_file_text(raw, "abc"))["private_key_id"] == "abc"
    assert keys.key_file_text(base64.b64encode(raw), "abc") == raw.decode()


def test_key_file_text_errors_never_contain_the_key() -> None:
    with pytest.raises(OperationError) as wrong_id:
        keys.key_file_text(_credentials("abc"), "xyz")
    with pytest.raises(OperationError) as garbage:
        keys.key_file_text(b"SECRET-BODY not json", "abc")
    for err in (wrong_id.value, garbage.value):
        assert "SECRET" not in str(err)
        assert err.__context__ is None  # no chained exception holding the text either


# ---- keys an interrupted creation left behind -------------------------------------------

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def _listed(key_id: str, seconds_after_start: float) -> keys.ListedKey:
    return keys.ListedKey(key_id, T0 + timedelta(seconds=seconds_after_start))


def _pending(before: tuple[str, ...] = ("old",), replaces: str | None = None) -> keys.PendingKey:
    return keys.PendingKey(EMAIL, T0, T0 + timedelta(seconds=120), before, replaces)


def test_left_behind_is_what_appeared_in_the_window_and_no_file_holds() -> None:
    listed = [
        _listed("old", -3600),  # listed before the run asked: never its key
        _listed("made", 1.5),  # the interrupted run's key
        _listed("skewed", -200),  # this clock ahead of Google's, within the margin
        _listed("held", 5),  # in the key file
        _listed("later", 120 + 301),  # made after that run's deadline (and margin)
        _listed("earlier", -301),  # made before that run started (beyond the margin)
    ]
    assert keys.left_behind(_pending(), listed, held="held") == ["made", "skewed"]
    assert keys.left_behind(_pending(before=("old", "made")), listed, "held") == ["skewed"]


def test_left_behind_finishes_a_rotation_only_when_the_file_holds_the_new_key() -> None:
    old, new = _listed("old", -3600), _listed("new", 2)
    rotation = _pending(before=("old",), replaces="old")
    # Stopped after writing the new key: the replaced key goes.
    assert keys.left_behind(rotation, [old, new], held="new") == ["old"]
    # Stopped before writing it: the new key goes, the old key (still in the file) stays.
    assert keys.left_behind(rotation, [old, new], held="old") == ["new"]
    # No key file at all: the old key may be in use elsewhere (the cluster): kept.
    assert keys.left_behind(rotation, [old], held=None) == []


def test_pending_record_round_trip_and_refusals(tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    assert keyfile.read_pending(key_file) is None
    record = _pending(replaces="old")
    keyfile.write_pending(key_file, record)
    path = keyfile.pending_path(key_file)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyfile.read_pending(key_file) == record
    assert set(json.loads(path.read_text())) == {
        "account", "started", "until", "keys_before", "replaces"
    }  # fmt: skip
    keyfile.remove_pending(key_file)
    assert not path.exists()

    for content in ("SECRET", "[]", json.dumps({"account": EMAIL, "started": "2026-11-20"})):
        path.write_text(content)
        with pytest.raises(UsageError, match=r"key\.json\.pending is not a record bhsvc wrote"):
            keyfile.check_companions(key_file)
    path.unlink()
    keyfile.lock_path(key_file).mkdir()
    with pytest.raises(UsageError, match=r"key\.json\.lock is not a regular file"):
        check_key_file(key_file, EMAIL)
    keyfile.lock_path(key_file).rmdir()
    keyfile.lock_path(key_file).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match=r"key\.json\.lock is not a regular file"):
        check_key_file(key_file, EMAIL)


def test_lock_waits_then_gives_up_with_one_line(tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    notes: list[str] = []
    with keyfile.locked(key_file, 5.0, notes.append):
        assert stat.S_IMODE(keyfile.lock_path(key_file).stat().st_mode) == 0o600
        start = time.monotonic()
        with pytest.raises(OperationError) as refused, keyfile.locked(key_file, 0.5, notes.append):
            pass
        assert time.monotonic() - start < 3  # bounded (the Retry stops before overshooting)
    assert len(notes) == 1
    assert notes[0].startswith(f"waiting for another bhsvc init to finish with {key_file} (up to")
    assert str(refused.value).startswith(f"another bhsvc init still holds {key_file}.lock after")
    assert str(refused.value).endswith("s: let it finish (or stop it), then run init again")
    with keyfile.locked(key_file, 0.5, notes.append):  # released: taken at once
        assert len(notes) == 1


# ---- local inputs: the key file's place, the credentials file ----------------------------


def test_check_key_file_accepts_a_place_it_can_write(tmp_path: Path) -> None:
    check_key_file(tmp_path / "new" / "folders" / "key.json", EMAIL)
    key = {"private_key_id": "abc", "client_email": EMAIL, "private_key": "S"}
    (tmp_path / "key.json").write_text(json.dumps(key))
    check_key_file(tmp_path / "key.json", EMAIL)  # an existing key of the account
    assert sorted(tmp_path.iterdir()) == [tmp_path / "key.json"]  # the check creates nothing


@pytest.mark.parametrize(
    ("key_file", "message"),
    [
        ("folder", r"registry\.gar\.key_file: .*folder is a directory, not a file"),
        ("notes.txt/key.json", r"registry\.gar\.key_file: .*notes\.txt is not a directory"),
        ("notes.txt/sub/key.json", r"registry\.gar\.key_file: .*notes\.txt is not a directory"),
        ("fifo", r"registry\.gar\.key_file: .*fifo is not a regular file"),
    ],
)
def test_check_key_file_refusals(tmp_path: Path, key_file: str, message: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("notes")
    os.mkfifo(tmp_path / "fifo")

    with pytest.raises(UsageError, match=message):
        check_key_file(tmp_path / key_file, EMAIL)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_check_key_file_refuses_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)

    with pytest.raises(UsageError, match=r"registry\.gar\.key_file: .*cannot write in .*locked"):
        check_key_file(folder / "sub" / "key.json", EMAIL)


GAC = "GOOGLE_APPLICATION_CREDENTIALS"


def _write_credentials(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        ("a directory", "not a file"),
        ("SECRET-TEXT, not JSON", "not a service-account or authorized-user credentials file"),
        ({"auths": {"SECRET": {}}}, "not a service-account or authorized-user credentials file"),
        (["SECRET"], "not a service-account or authorized-user credentials file"),
        ({"type": "SECRET-KIND"}, "not a service-account or authorized-user credentials file"),
    ],
)
def test_check_credentials_file_refusals(tmp_path: Path, content: object, problem: str) -> None:
    path = tmp_path / "credentials.json"
    if content == "a directory":
        path.mkdir()
    elif content is not None:
        _write_credentials(path, content)

    with pytest.raises(UsageError) as refused:
        check_credentials_file({GAC: str(path)})

    assert str(refused.value).startswith(f"{GAC}={path}: {problem}")
    assert "SECRET" not in str(refused.value)  # the file is never quoted


def test_check_credentials_file_accepts_known_kinds_and_no_variable(tmp_path: Path) -> None:
    check_credentials_file({})
    check_credentials_file({GAC: ""})
    for kind in ("service_account", "authorized_user", "external_account"):
        path = _write_credentials(tmp_path / f"{kind}.json", {"type": kind})
        check_credentials_file({GAC: str(path)})


def test_default_credentials_errors_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A known kind that google.auth cannot load: only google.auth itself can tell.
    incomplete = _write_credentials(
        tmp_path / "incomplete.json", {"type": "service_account", "private_key": "SECRET-KEY"}
    )
    monkeypatch.setenv(GAC, str(incomplete))

    with pytest.raises(UsageError) as refused:
        LazyDefaultCredentials().get()

    assert str(refused.value) == f"{GAC}={incomplete}: an incomplete or invalid credentials file"
    assert refused.value.__suppress_context__  # google.auth's own error is not shown

    monkeypatch.setenv(GAC, str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match=f"{GAC}=.*missing.json: not found"):
        LazyDefaultCredentials().get()


# ---- which errors are retried ------------------------------------------------------


# (error, retried when idempotent, retried for a key creation, surely changed nothing)
CLASSES = [
    (gexc.ServiceUnavailable("x"), True, True, True),
    (gexc.TooManyRequests("x"), True, True, True),
    (gexc.ResourceExhausted("x"), True, True, True),
    (gexc.DeadlineExceeded("x"), True, False, False),
    (gexc.GatewayTimeout("x"), True, False, False),
    (requests.ConnectionError("reset"), True, False, False),
    (requests.ReadTimeout("slow"), True, False, False),
    (gexc.InternalServerError("x"), False, False, False),
    (gexc.Cancelled("x"), False, False, False),
    (gexc.PermissionDenied("x"), False, False, True),
    (gexc.FailedPrecondition("x"), False, False, True),
    (gexc.NotFound("x"), False, False, True),
    (gexc.Aborted("x"), False, False, True),
    (gexc.RetryError("gave up", gexc.ServiceUnavailable("x")), False, False, True),
    (gexc.RetryError("gave up", gexc.DeadlineExceeded("x")), False, False, False),
    (ValueError("x"), False, False, False),
]


@pytest.mark.parametrize(("error", "transient", "refused", "not_done"), CLASSES)
def test_error_classification(
    error: Exception, transient: bool, refused: bool, not_done: bool
) -> None:
    assert is_transient(error) is transient
    assert is_refused_unprocessed(error) is refused
    assert surely_not_done(error) is not_done


# ---- errors ----------------------------------------------------------------------------

ACTION = Action(
    "create the repository",
    "projects/p/locations/l",
    "artifactregistry.repositories.create",
    "roles/artifactregistry.admin",
)


def test_translate_permission_denied_prefers_the_server_named_permission() -> None:
    err = gexc.PermissionDenied(
        "denied",
        error_info={"reason": "IAM_PERMISSION_DENIED", "metadata": {"permission": "x.y.z"}},
    )
    message = str(translate(err, ACTION))
    assert "needs 'x.y.z' on projects/p/locations/l" in message
    assert "roles/artifactregistry.admin" in message


def test_translate_unauthenticated_and_other_errors() -> None:
    assert "gcloud auth application-default login" in str(
        translate(gexc.Unauthenticated("bad token"), ACTION)
    )
    other = translate(gexc.InvalidArgument("bad location"), ACTION)
    assert (
        str(other) == "could not create the repository (projects/p/locations/l): "
        "INVALID_ARGUMENT: bad location"
    )
    assert other.exit_code == 1


# ---- policies ----------------------------------------------------------------------------


def test_add_member_to_an_unconditional_binding_only() -> None:
    policy = policy_pb2.Policy(version=3)
    conditional = policy.bindings.add(role="roles/w", members=["user:a@x.org"])
    conditional.condition.CopyFrom(
        expr_pb2.Expr(expression="request.time < timestamp('2020-01-01T00:00:00Z')")
    )

    assert add_member(policy, "roles/w", "user:a@x.org") is True
    assert add_member(policy, "roles/w", "user:a@x.org") is False
    assert add_member(policy, "roles/w", "user:b@x.org") is True
    unconditional = [b for b in policy.bindings if not b.HasField("condition")]
    assert [list(b.members) for b in unconditional] == [["user:a@x.org", "user:b@x.org"]]
    assert list(conditional.members) == ["user:a@x.org"]


def test_server_text_in_messages_has_no_control_characters() -> None:
    err = gexc.InvalidArgument("bad\x1b[2Jlocation\nsecond line\r")
    assert str(translate(err, ACTION)) == (
        "could not create the repository (projects/p/locations/l): "
        "INVALID_ARGUMENT: bad [2Jlocation second line "
    )
