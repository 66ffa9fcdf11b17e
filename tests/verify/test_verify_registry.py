"""The registry v2 image check against a fake registry speaking the v2 protocol: the
token flow, basic auth, anonymous reads, redirects, TLS, and verify end to end."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from verify_fixtures import PASSWORD, USER

from bhsvc.registry.images import ImageName, parse_image
from bhsvc.registry.v2_images import ACCEPT, Login, api_location, check_image, parse_challenge
from clirun import CliRun
from fakes.binderhub import FakeBinderHub
from fakes.k8s_tls import make_tls
from fakes.registry_v2 import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, FakeRegistry

LOGIN = Login(USER, PASSWORD)
NAME, TAG = "org/binder-x-55ab5c", "a2b6c7e0"


def image_at(fake: FakeRegistry, name: str = NAME, tag: str = TAG) -> ImageName:
    parsed = parse_image(f"{fake.host}/{name}:{tag}")
    assert parsed is not None
    return parsed


def soon(seconds: float = 10) -> float:
    return time.monotonic() + seconds


# ---- pure parts -----------------------------------------------------------------------


def test_challenges() -> None:
    bearer = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert bearer is not None and bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:samalba/my-app:pull,push",
    }
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("") is None


@pytest.mark.parametrize(
    ("image", "where"),
    [
        ("docker.io/alice/binder-x:t", ("registry-1.docker.io", "alice/binder-x")),
        ("alice/binder-x:t", ("registry-1.docker.io", "alice/binder-x")),
        ("index.docker.io/ubuntu:t", ("registry-1.docker.io", "library/ubuntu")),
        ("ghcr.io/alice/binder-x:t", ("ghcr.io", "alice/binder-x")),
        ("quay.io/alice/binder-x:t", ("quay.io", "alice/binder-x")),
        ("127.0.0.1:5000/org/x:t", ("127.0.0.1:5000", "org/x")),
    ],
)
def test_api_location(image: str, where: tuple[str, str]) -> None:
    parsed = parse_image(image)
    assert parsed is not None and api_location(parsed) == where


# ---- the check ------------------------------------------------------------------------


def test_token_flow_finds_the_image(registry: Callable[..., FakeRegistry]) -> None:
    fake = registry()
    digest = fake.push(NAME, TAG)
    check = check_image(image_at(fake), LOGIN, soon())
    assert (check.status, check.detail) == ("found", f"{fake.host}/{NAME}@{digest}")
    first, token, second = fake.requests
    assert (first.method, first.path, "Authorization" in first.headers) == (
        "HEAD",
        f"/v2/{NAME}/manifests/{TAG}",
        False,
    )
    assert first.headers["Accept"] == ACCEPT
    assert (token.method, token.path, token.query) == (
        "GET",
        "/token",
        {"service": "fake-registry", "scope": f"repository:{NAME}:pull"},
    )
    assert token.headers["Authorization"] == LOGIN.basic
    assert second.headers["Authorization"].startswith("Bearer ")
    assert PASSWORD not in check.detail


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
def test_every_manifest_kind_is_accepted(
    registry: Callable[..., FakeRegistry], media_type: str
) -> None:
    fake = registry()
    fake.push(NAME, TAG, media_type)
    assert check_image(image_at(fake), LOGIN, soon()).status == "found"


def test_a_missing_tag(registry: Callable[..., FakeRegistry]) -> None:
    fake = registry()
    fake.push(NAME, "another-tag")
    check = check_image(image_at(fake), LOGIN, soon())
    assert check.status == "missing"
    assert check.detail == (
        f"BinderHub reported the image pushed, but the registry has no {fake.host}/{NAME}:{TAG}"
    )


def test_basic_auth(registry: Callable[..., FakeRegistry]) -> None:
    fake = registry(auth="basic")
    fake.push(NAME, TAG)
    assert check_image(image_at(fake), LOGIN, soon()).status == "found"
    assert [r.headers.get("Authorization") for r in fake.requests] == [None, LOGIN.basic]
    no_login = check_image(image_at(fake), None, soon())
    assert no_login.status == "not checked"
    assert no_login.detail == (
        "the registry wants a login and no password is configured: set "
        "registry.password_file or BHSVC_REGISTRY_PASSWORD"
    )


def test_anonymous_reads_of_a_public_repository(registry: Callable[..., FakeRegistry]) -> None:
    fake = registry(public={NAME})
    fake.push(NAME, TAG)
    assert check_image(image_at(fake), None, soon()).status == "found"
    assert all("Authorization" not in r.headers for r in fake.requests if r.path == "/token")
    private = check_image(image_at(fake, "org/private"), None, soon())
    assert private.status == "not checked"
    assert private.detail.startswith("the registry wants a login and no password is configured")


def test_wrong_credentials_are_not_checked_and_never_shown(
    registry: Callable[..., FakeRegistry],
) -> None:
    fake = registry()
    fake.push(NAME, TAG)
    check = check_image(image_at(fake), Login(USER, "wrong-s3cret"), soon())
    assert check.status == "not checked"
    assert check.detail == (
        "the token service refused registry.username 'bot' and its password to read the "
        "image (401): check them, or the account's pull access"
    )
    assert "s3cret" not in check.detail


def test_no_registry_without_auth(registry: Callable[..., FakeRegistry]) -> None:
    fake = registry(auth="none")
    fake.push(NAME, TAG)
    assert check_image(image_at(fake), LOGIN, soon()).status == "found"
    assert all("Authorization" not in r.headers for r in fake.requests)


def test_a_separate_token_service(registry: Callable[..., FakeRegistry]) -> None:
    auth = registry()
    fake = registry(token_server=auth)
    fake.push(NAME, TAG)
    assert check_image(image_at(fake), LOGIN, soon()).status == "found"
    assert [r.path for r in auth.requests] == ["/token"]


def test_credentials_never_follow_a_redirect_to_another_origin(
    registry: Callable[..., FakeRegistry],
) -> None:
    mirror = registry(auth="basic")
    fake = registry(auth="basic", redirect_manifests_to=mirror.url)
    check = check_image(image_at(fake), LOGIN, soon())
    assert check.status == "not checked"
    assert mirror.requests and all("Authorization" not in r.headers for r in mirror.requests)


def test_a_token_service_on_plain_http_elsewhere_gets_no_credentials(
    registry: Callable[..., FakeRegistry],
) -> None:
    fake = registry(realm="http://auth.example.org/token")
    check = check_image(image_at(fake), LOGIN, soon())
    assert check.status == "not checked"
    assert check.detail == (
        "the registry's token service http://auth.example.org/token is plain http: "
        "credentials are never sent that way"
    )


def test_tls_verified_and_http_only_as_a_loopback_fallback(
    registry: Callable[..., FakeRegistry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = make_tls()
    fake = registry(tls=tls)
    fake.push(NAME, TAG)
    untrusted = check_image(image_at(fake), LOGIN, soon())
    assert untrusted.status == "not checked"
    assert "certificate verify failed" in untrusted.detail
    assert fake.requests == []  # nothing was sent over a connection it did not trust
    (tmp_path / "ca.pem").write_bytes(tls.ca_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    assert check_image(image_at(fake), LOGIN, soon()).status == "found"
    plain = registry()  # no TLS on loopback: https fails, http is tried
    plain.push(NAME, TAG)
    assert check_image(image_at(plain), LOGIN, soon()).status == "found"


def test_a_registry_that_never_answers_ends_at_the_deadline() -> None:
    with socket.socket() as listener:  # accepts connections (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        image = parse_image(f"127.0.0.1:{port}/{NAME}:{TAG}")
        assert image is not None
        start = time.monotonic()
        check = check_image(image, LOGIN, soon(0.5))
    assert time.monotonic() - start < 1.5
    assert check.status == "not checked" and "no answer within" in check.detail


def test_unreachable_registry(registry: Callable[..., FakeRegistry]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    image = parse_image(f"127.0.0.1:{port}/{NAME}:{TAG}")
    assert image is not None
    check = check_image(image, LOGIN, soon())
    assert check == check.__class__(
        "not checked", f"cannot reach https://127.0.0.1:{port}: connection refused"
    )


# ---- verify end to end ---------------------------------------------------------------

Run = Callable[..., CliRun]
Hub = Callable[..., FakeBinderHub]
SPEC = "gh/binder-examples/requirements/HEAD"


def config_for(tmp: Path, fake: FakeRegistry, password: str | None = PASSWORD) -> Path:
    lines = [
        "version: 1",
        "kube:\n  namespace: binder",
        "registry:",
        "  provider: generic",
        f"  server: {fake.host}",
        f"  username: {USER}",
        f"  image_prefix: {fake.host}/org/binder-",
    ]
    if password is not None:
        (tmp / "registry-password").write_text(password + "\n")
        (tmp / "registry-password").chmod(0o600)
        lines.append("  password_file: registry-password")
    path = tmp / "bhsvc.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_verify_finds_the_pushed_image(
    run_cli: Run, binderhub: Hub, registry: Callable[..., FakeRegistry], tmp_path: Path
) -> None:
    fake = registry()
    hub = binderhub(image_prefix=f"{fake.host}/org/binder-")
    image = parse_image(hub.image_for(SPEC))
    assert image is not None
    digest = fake.push(image.path, image.tag)
    config = config_for(tmp_path, fake)
    result = run_cli("verify", "--url", hub.url, "--config", str(config), "-o", "json")
    assert result.code == 0, result.out
    doc = json.loads(result.out)
    assert doc["registry"] == {
        "provider": "generic",
        "status": "found",
        "detail": f"{image.name}@{digest}",
    }
    text = run_cli("verify", "--url", hub.url, "--config", str(config))
    assert f"✓ built and pushed: {hub.image_for(SPEC)}" in text.out
    assert f"  registry   found: {image.name}@{digest}" in text.out.splitlines()
    assert "✓ image in the registry: found" in text.err
    assert PASSWORD not in result.out + result.err + text.out + text.err


def test_verify_fails_when_the_image_is_missing(
    run_cli: Run, binderhub: Hub, registry: Callable[..., FakeRegistry], tmp_path: Path
) -> None:
    fake = registry()
    hub = binderhub(image_prefix=f"{fake.host}/org/binder-")
    result = run_cli("verify", "--url", hub.url, "--config", str(config_for(tmp_path, fake)))
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        f"error: BinderHub reported the image pushed, but the registry has no {hub.image_for(SPEC)}"
    )


def test_verify_reads_the_password_from_the_environment(
    run_cli: Run,
    binderhub: Hub,
    registry: Callable[..., FakeRegistry],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = registry()
    hub = binderhub(image_prefix=f"{fake.host}/org/binder-")
    image = parse_image(hub.image_for(SPEC))
    assert image is not None
    fake.push(image.path, image.tag)
    config = config_for(tmp_path, fake, password=None)
    anonymous = run_cli("verify", "--url", hub.url, "--config", str(config), "-o", "json")
    assert anonymous.code == 0  # not checked is not a failure
    assert json.loads(anonymous.out)["registry"]["status"] == "not checked"
    monkeypatch.setenv("BHSVC_REGISTRY_PASSWORD", PASSWORD)
    result = run_cli("verify", "--url", hub.url, "--config", str(config), "-o", "json")
    assert json.loads(result.out)["registry"]["status"] == "found"


def test_an_unreadable_password_file_is_bad_input_before_any_request(
    run_cli: Run, binderhub: Hub, registry: Callable[..., FakeRegistry], tmp_path: Path
) -> None:
    fake = registry()
    hub = binderhub(image_prefix=f"{fake.host}/org/binder-")
    config = config_for(tmp_path, fake)
    (tmp_path / "registry-password").unlink()
    result = run_cli("verify", "--url", hub.url, "--config", str(config))
    assert result.code == 2
    assert "registry-password: password file not found" in result.err
    assert hub.requests == [] and fake.requests == []


@pytest.mark.parametrize(
    ("media_type", "accept", "status"),
    [
        (OCI_INDEX, DOCKER_MANIFEST, 404),
        (DOCKER_MANIFEST, OCI_INDEX, 400),
        (DOCKER_MANIFEST, ACCEPT, 200),
    ],
)
def test_the_fake_answers_unaccepted_manifests_like_distribution(
    registry: Callable[..., FakeRegistry], media_type: str, accept: str, status: int
) -> None:
    fake = registry(auth="none")
    fake.push(NAME, TAG, media_type)
    conn = http.client.HTTPConnection("127.0.0.1", int(fake.host.rpartition(":")[2]), timeout=5)
    conn.request("HEAD", f"/v2/{NAME}/manifests/{TAG}", headers={"Accept": accept})
    assert conn.getresponse().status == status
    conn.close()
