"""The pure parts of GAR provisioning: endpoints, key decisions, retries, policies, errors."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc
from google.iam.v1 import policy_pb2
from google.type import expr_pb2

from bhsvc.errors import OperationError, UsageError
from bhsvc.registry import keys
from bhsvc.registry.endpoints import artifact_registry_endpoint, iam_endpoint, is_loopback
from bhsvc.registry.gcp_clients import LazyDefaultCredentials, check_credentials_file
from bhsvc.registry.gcp_errors import Action, is_transient, translate
from bhsvc.registry.policy import add_member
from bhsvc.registry.provision import check_key_file
from bhsvc.registry.retry import Deadline, DeadlineExpired, RetryPolicy, call_with_retry

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


# ---- retries ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_retry_backs_off_then_succeeds() -> None:
    clock = Clock()
    attempts: list[float] = []

    def flaky(timeout: float) -> str:
        attempts.append(timeout)
        if len(attempts) < 4:
            raise gexc.ServiceUnavailable("busy")
        return "ok"

    policy = RetryPolicy(deadline=60, initial=1.0, maximum=3.0, multiplier=2.0, call_timeout=10)
    result = call_with_retry(
        flaky,
        policy=policy,
        deadline=Deadline(60, clock),
        transient=is_transient,
        sleep=clock.sleep,
    )

    assert result == "ok"
    assert len(clock.sleeps) == 3
    # Exponential with jitter in [0.5, 1] of 1, 2, 3 (capped) seconds.
    for pause, base in zip(clock.sleeps, [1.0, 2.0, 3.0], strict=True):
        assert base * 0.5 <= pause <= base
    assert attempts[0] == 10


def test_retry_gives_up_at_the_deadline() -> None:
    clock = Clock()

    def always_busy(timeout: float) -> None:
        raise gexc.TooManyRequests("slow down")

    with pytest.raises(DeadlineExpired) as caught:
        call_with_retry(
            always_busy,
            policy=RetryPolicy(deadline=10, initial=1.0, maximum=4.0),
            deadline=Deadline(10, clock),
            transient=is_transient,
            sleep=clock.sleep,
        )
    assert clock.now <= 10
    assert caught.value.attempts == len(clock.sleeps) + 1
    assert isinstance(caught.value.last, gexc.TooManyRequests)


def test_retry_does_not_retry_permanent_errors() -> None:
    calls = []

    def denied(timeout: float) -> None:
        calls.append(timeout)
        raise gexc.PermissionDenied("no")

    with pytest.raises(gexc.PermissionDenied):
        call_with_retry(denied, policy=RetryPolicy(), deadline=Deadline(10), transient=is_transient)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (gexc.ServiceUnavailable("x"), True),
        (gexc.TooManyRequests("x"), True),
        (gexc.ResourceExhausted("x"), True),
        (gexc.DeadlineExceeded("x"), True),
        (gexc.GatewayTimeout("x"), True),
        (gexc.PermissionDenied("x"), False),
        (gexc.NotFound("x"), False),
        (gexc.Aborted("x"), False),
        (ValueError("x"), False),
    ],
)
def test_transient_classification(error: Exception, expected: bool) -> None:
    assert is_transient(error) is expected


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
