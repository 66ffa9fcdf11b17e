"""`bhsvc verify --url ...` end to end against the fake BinderHub: scenarios, exit codes, JSON."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from clirun import CliRun
from fakes.binderhub import BUILD_ONLY_REFUSED, VERSION, FakeBinderHub

SPEC = "gh/binder-examples/requirements/HEAD"

PHASE = {
    "type": "object",
    "required": ["phase", "seconds"],
    "additionalProperties": False,
    "properties": {"phase": {"type": "string"}, "seconds": {"type": "number", "minimum": 0}},
}
DOCUMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "ok",
        "repo",
        "mode",
        "target",
        "binderhub_version",
        "builder",
        "image",
        "cached",
        "phases",
        "seconds",
        "events",
        "keepalives",
        "log_tail",
        "status_code",
        "registry",
        "diagnostics",
        "error",
        "exit_code",
    ],
    "properties": {
        "ok": {"type": "boolean"},
        "repo": {"type": "string"},
        "mode": {"enum": ["url", "port-forward"]},
        "target": {"type": ["string", "null"]},
        "binderhub_version": {"type": ["string", "null"]},
        "builder": {"type": ["string", "null"]},
        "image": {"type": ["string", "null"]},
        "cached": {"type": "boolean"},
        "phases": {"type": "array", "items": PHASE},
        "seconds": {"type": "number", "minimum": 0},
        "events": {"type": "integer", "minimum": 0},
        "keepalives": {"type": "integer", "minimum": 0},
        "log_tail": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
        "status_code": {"type": ["integer", "null"]},
        "registry": {
            "type": ["object", "null"],
            "required": ["provider", "status", "detail"],
            "properties": {"status": {"enum": ["found", "missing", "not checked"]}},
        },
        "diagnostics": {"type": "array", "items": {"type": "string"}},
        "error": {"type": ["string", "null"]},
        "exit_code": {"enum": [0, 1]},
    },
    "allOf": [
        {
            "if": {"properties": {"ok": {"const": True}}},
            "then": {
                "properties": {
                    "image": {"type": "string"},
                    "error": {"type": "null"},
                    "exit_code": {"const": 0},
                }
            },
            "else": {"properties": {"error": {"type": "string"}, "exit_code": {"const": 1}}},
        }
    ],
}

Run = Callable[..., CliRun]
Hub = Callable[..., FakeBinderHub]


def document(result: CliRun) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(result.out)
    jsonschema.validate(doc, DOCUMENT)
    return doc


def phases(doc: dict[str, Any]) -> list[str]:
    return [p["phase"] for p in doc["phases"]]


# ---- scenarios -------------------------------------------------------------------


def test_success_text(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub()
    result = run_cli("verify", "--url", fake.url)
    assert result.code == 0, result.err
    image = fake.image_for(SPEC)
    # Without a config nothing checked where the image went: BinderHub's word only.
    assert f"✓ BinderHub says built and pushed: {image}\n" in result.out
    assert (
        "registry   not checked: no bhsvc.yaml, so where the image went was not checked "
        "(pass --config)\n" in result.out
    )
    assert f"binderhub  {VERSION} at {fake.url}" in result.out
    assert "phases     waiting " in result.out
    for phase in ("waiting", "fetching", "building", "pushing"):
        assert f"✓ {phase} " in result.err
    assert "BinderHub /versions: ok" in result.err
    assert [r.path for r in fake.requests] == ["/versions", f"/build/{SPEC}"]


def test_success_json(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub(log_lines=50)
    result = run_cli("verify", "--url", fake.url, "--output", "json")
    assert result.code == 0
    doc = document(result)
    assert doc["ok"] and doc["error"] is None and not doc["cached"]
    assert doc["image"] == fake.image_for(SPEC)
    assert doc["binderhub_version"] == VERSION
    assert phases(doc) == ["waiting", "fetching", "building", "pushing", "ready"]
    assert doc["events"] == fake.wait_for_stream_end().event_count
    assert doc["registry"] == {
        "provider": None,
        "status": "not checked",
        "detail": "no bhsvc.yaml, so where the image went was not checked (pass --config)",
    }
    assert result.err == ""  # progress is for people; --output json keeps stderr quiet


def test_build_failure(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub("failure", log_lines=40)
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 1
    doc = document(result)
    assert not doc["ok"] and doc["image"] is None and doc["status_code"] is None
    assert doc["error"].startswith("the build failed: The command '/bin/sh -c")
    assert phases(doc) == ["waiting", "fetching", "building", "failed"]
    # The failure's own line is the error, said once; the tail shows the lines before it.
    assert (
        doc["log_tail"][-1]
        == "Step 40/40 : RUN pip install --no-cache-dir -r requirements.txt # 40"
    )
    assert (
        doc["log_tail"][0] == "Step 21/40 : RUN pip install --no-cache-dir -r requirements.txt # 21"
    )
    assert result.out.count("returned a non-zero code: 1") == 1
    assert result.err.strip() == f"error: {doc['error']}"
    # BinderHub holds a failed stream open: the client must hang up at once, not wait.
    stream = fake.wait_for_stream_end()
    assert stream.closed_by_client
    assert time.monotonic() - start < 5


def test_cached_image(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub("cached")
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 0
    doc = document(result)
    assert doc["cached"] and doc["image"] == fake.image_for(SPEC) and phases(doc) == ["ready"]
    text = run_cli("verify", "--url", fake.url)
    assert f"✓ BinderHub says found, already built: {fake.image_for(SPEC)}" in text.out


def test_not_in_api_only_mode_fails_without_launching_anything(
    run_cli: Run, binderhub: Hub
) -> None:
    fake = binderhub(api_only=False)
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 1, result.out
    doc = document(result)
    assert doc["status_code"] == 400 and doc["image"] is None
    assert doc["error"] == (
        "BinderHub is not in API-only mode, so it refuses build_only=true, and verify never "
        "builds without it (BinderHub would start a server with the test image): set "
        "binderhub.api_only: true in bhsvc.yaml, or the chart value "
        "config.BinderHub.enable_api_only_mode: true"
    )
    assert result.err.strip() == f"error: {doc['error']}"
    # One request, with build_only=true; nothing asked BinderHub to launch.
    assert [r.query for r in fake.requests if "/build/" in r.path] == [{"build_only": "true"}]
    assert fake.launches == []


def test_a_binderhub_that_ignores_build_only_is_a_failure(run_cli: Run, binderhub: Hub) -> None:
    """A BinderHub that answers build_only=true with 'built' is launching: verify hangs up,
    does not call that a success, and says so."""
    fake = binderhub(knows_build_only=False)
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 1
    doc = document(result)
    assert doc["error"].startswith("BinderHub answered build_only=true with 'built'")
    assert doc["image"] is None and phases(doc)[-1] == "built"
    assert fake.wait_for_stream_end().closed_by_client
    assert time.monotonic() - start < 10
    assert len(fake.launches) == 1  # what verify cannot prevent, it reports


def test_ui_mode_refusal_message_is_binderhubs() -> None:
    assert "enable_api_only_mode" in BUILD_ONLY_REFUSED


def test_auth_required_without_token(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub(token="s3cret-token", base_url="/services/binder/")
    result = run_cli("verify", "--url", fake.url.rstrip("/"), "-o", "json")
    assert result.code == 1
    doc = document(result)
    assert doc["status_code"] == 403 and doc["log_tail"] == []
    assert doc["error"] == (
        "BinderHub refused the build (403 Forbidden): no token was sent: pass --token or set "
        "BHSVC_TOKEN to a JupyterHub API token with access:services!service=binder"
    )
    assert "Authorization" not in fake.requests[-1].headers


def test_auth_with_token_flag_and_env(
    run_cli: Run, binderhub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = binderhub(token="s3cret-token")
    result = run_cli("verify", "--url", fake.url, "--token", "s3cret-token")
    assert result.code == 0, result.err
    assert fake.requests[-1].headers["Authorization"] == "Bearer s3cret-token"
    monkeypatch.setenv("BHSVC_TOKEN", "s3cret-token")
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 0
    assert "s3cret-token" not in result.out + result.err


def test_a_bad_token_from_the_environment_is_named_so(
    run_cli: Run, binderhub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = binderhub()
    monkeypatch.setenv("BHSVC_TOKEN", "two words")
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 2
    error = "BHSVC_TOKEN: the token contains spaces or control characters"
    assert result.json() == {"ok": False, "error": error, "exit_code": 2}
    assert fake.requests == []
    flag = run_cli("verify", "--url", fake.url, "--token", "two words")  # --token goes first
    assert flag.err == "error: --token: the token contains spaces or control characters\n"


def test_token_without_the_access_scope(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub(token="good", unscoped_tokens={"weak-token": "alice"})
    result = run_cli("verify", "--url", fake.url, "--token", "weak-token")
    assert result.code == 1
    assert (
        "403 user alice is not allowed.): the token was rejected or lacks the scope" in result.err
    )
    assert "weak-token" not in result.out + result.err


def test_stalled_stream_hits_the_idle_timeout_despite_keepalives(
    run_cli: Run, binderhub: Hub
) -> None:
    fake = binderhub("stalled", keepalive_interval=0.1)
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "--idle-timeout", "0.8", "-o", "json")
    elapsed = time.monotonic() - start
    assert result.code == 1
    doc = document(result)
    assert doc["error"].startswith(
        "no build event for 0.8s (keepalives do not count) (phase: waiting)"
    )
    assert doc["keepalives"] >= 3
    assert 0.8 <= elapsed < 2.5
    assert fake.wait_for_stream_end().closed_by_client


def test_slow_stream_is_not_idle(run_cli: Run, binderhub: Hub) -> None:
    # 40 events 0.05 s apart: 2 s in all, longer than the idle limit, never idle that long.
    fake = binderhub("slow", event_delay=0.05, log_lines=30, keepalive_interval=0.02)
    result = run_cli("verify", "--url", fake.url, "--idle-timeout", "0.5", "-o", "json")
    assert result.code == 0, result.out
    assert document(result)["seconds"] > 1.5


def test_overall_timeout(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub("slow", event_delay=0.05, log_lines=1000)
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "--timeout", "1", "-o", "json")
    elapsed = time.monotonic() - start
    assert result.code == 1
    doc = document(result)
    assert doc["error"] == "the build did not finish within --timeout 1s (phase: building)"
    assert 1.0 <= elapsed < 2.5


def test_a_proxy_that_closes_each_connection(run_cli: Run, binderhub: Hub) -> None:
    # `Connection: close` on /versions (its body after the headers) and on the build stream.
    fake = binderhub(connection_close=True, drip=0.001, drip_on=("versions",), event_delay=0.01)
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 0, result.out
    doc = document(result)
    assert doc["binderhub_version"] == VERSION and doc["image"] == fake.image_for(SPEC)


def test_a_proxy_that_closes_each_connection_keeps_the_idle_limit(
    run_cli: Run, binderhub: Hub
) -> None:
    fake = binderhub("stalled", connection_close=True, keepalive_interval=0.1)
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "--idle-timeout", "0.8", "-o", "json")
    assert result.code == 1
    assert document(result)["error"].startswith("no build event for 0.8s")
    assert 0.8 <= time.monotonic() - start < 2.5
    assert fake.wait_for_stream_end().closed_by_client  # verify's end is closed, not left open


def test_huge_log(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub("huge", log_lines=100_000, keep_events=0)
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 0
    doc = document(result)
    assert doc["events"] == fake.wait_for_stream_end().event_count == 100_000 + 12
    assert phases(doc) == ["waiting", "fetching", "building", "pushing", "ready"]


def test_stream_ends_before_the_build(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub(end_after=6)
    result = run_cli("verify", "--url", fake.url)
    assert result.code == 1
    assert (
        "error: BinderHub ended the build stream before the build finished (last phase: building)"
        in result.err
    )


def test_a_broken_stream_still_reports_what_arrived(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub(cut_after=6)
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 1
    doc = document(result)
    assert doc["error"] == (
        f"the build stream from http://127.0.0.1:{fake.port} broke off: the connection closed "
        "or a chunk was malformed (last phase: building)"
    )
    assert doc["events"] == 6
    assert phases(doc)[-1] == "building"
    assert doc["log_tail"], "the log lines that arrived are kept"


# ---- reaching BinderHub --------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable(run_cli: Run) -> None:
    port = closed_port()
    result = run_cli("verify", "--url", f"http://127.0.0.1:{port}/", "-o", "json")
    assert result.code == 1
    doc = document(result)
    assert doc["error"] == f"cannot reach http://127.0.0.1:{port}: connection refused"
    assert doc["binderhub_version"] is None and doc["phases"] == []
    assert result.err.count("\n") == 1


def test_wrong_base_url(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub(base_url="/services/binder/")
    result = run_cli("verify", "--url", f"http://127.0.0.1:{fake.port}/services/binderhub/")
    assert result.code == 1
    assert "answered HTTP 404 Not Found: no BinderHub at this URL" in result.err
    assert "Traceback" not in result.err


def test_tls_error(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub()
    result = run_cli("verify", "--url", f"https://127.0.0.1:{fake.port}/")
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        f"error: TLS error talking to https://127.0.0.1:{fake.port}: WRONG_VERSION_NUMBER "
        "(the server does not speak TLS on this port; http:// instead of https://?)"
    )


# ---- bad input: exit 2, and nothing is sent -------------------------------------------


URL = "{url}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--url", "hub.example.org"],
            "--url 'hub.example.org': must start with http:// or https://",
        ),
        (
            ["--url", URL, "--repo", "gh/binder-examples/requirements"],
            "gh specs are gh/<owner>/<repo>/<ref>",
        ),
        (["--url", URL, "--repo", "requirements"], "expected <provider>/<spec>"),
        (["--url", "http://127.0.0.1:1/é/"], "holds characters outside ASCII"),
        (["--url", "http://bücher.example/"], "host name in its ASCII form (xn--...)"),
        (["--url", URL, "--token", "two words"], "--token: the token contains spaces"),
        ([], "port-forward mode needs it"),
        (["--config", "missing.yaml"], "missing.yaml: config file not found"),
    ],
)
def test_bad_input_exits_2_without_a_request(
    run_cli: Run, binderhub: Hub, args: list[str], message: str
) -> None:
    fake = binderhub()
    result = run_cli("verify", *(arg.replace(URL, fake.url) for arg in args))
    assert result.code == 2, result.err
    assert message in result.err
    assert fake.requests == []


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("bind er/", "contains spaces or control characters"),
        ("bind\x01er/", "contains spaces or control characters"),
        ("bind\ner/", "contains spaces or control characters"),  # urlsplit would drop it
        ("bind\u202eer/", "holds an invisible formatting character (U+202E)"),
    ],
)
def test_a_url_with_spaces_or_control_characters_is_bad_input(
    run_cli: Run, binderhub: Hub, path: str, complaint: str
) -> None:
    fake = binderhub(base_url="/binder/")
    url = f"http://127.0.0.1:{fake.port}/{path}"
    result = run_cli("verify", "--url", url, "-o", "json")
    assert result.code == 2
    error = f"--url {url!r}: {complaint}"
    assert result.json() == {"ok": False, "error": error, "exit_code": 2}
    assert result.err == f"error: {error}\n"
    assert fake.requests == []


def test_timeouts_must_be_positive(run_cli: Run) -> None:
    result = run_cli("verify", "--url", "http://127.0.0.1:1/", "--timeout", "0")
    assert result.code == 2


# ---- the registry check ------------------------------------------------------------------


def gar_config(tmp: Path) -> Path:
    path = tmp / "bhsvc.yaml"
    path.write_text(
        "version: 1\nkube:\n  namespace: binder\nregistry:\n  provider: gar\n"
        "  gar:\n    project: my-project\n    region: europe-west10\n    repository: binder\n"
    )
    return path


def test_a_refused_push_with_workload_identity_is_explained(
    run_cli: Run, binderhub: Hub, tmp_path: Path
) -> None:
    """With registry.gar.auth workload-identity, a push refused after a long build is the
    short-lived token's limit: verify says so (no registry lookup: the build failed)."""
    config = gar_config(tmp_path)
    config.write_text(config.read_text() + "    auth: workload-identity\n")
    fake = binderhub(
        "failure",
        failure_message="unauthorized: authentication failed\n",
        fail_when_pushing=True,
    )

    result = run_cli("verify", "--url", fake.url, "--config", str(config), "-o", "json")

    assert result.code == 1
    error = document(result)["error"]
    assert error.startswith(
        "the registry refused the build's push (unauthorized: authentication failed)"
    )
    assert "an access token BinderHub got from the GKE metadata server" in error
    assert "lives at most an hour" in error


def test_image_found_in_artifact_registry(
    run_cli: Run, binderhub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.gcp_artifact_registry import serve

    config = gar_config(tmp_path)
    fake = binderhub()
    image = fake.image_for(SPEC)
    package, _, tag = image.removeprefix(
        "europe-west10-docker.pkg.dev/my-project/binder/"
    ).partition(":")
    with serve() as (registry, endpoint):
        monkeypatch.setenv("BHSVC_ARTIFACT_REGISTRY_ENDPOINT", endpoint)
        missing = run_cli("verify", "--url", fake.url, "--config", str(config), "-o", "json")
        registry.add_image(
            "projects/my-project/locations/europe-west10/repositories/binder",
            package,
            tag,
            "sha256:" + "ab" * 32,
        )
        found = run_cli("verify", "--url", fake.url, "--config", str(config), "-o", "json")
        calls = [(r.method, r.resource) for r in registry.requests]
    assert missing.code == 1
    doc = document(missing)
    assert doc["registry"]["status"] == "missing" and doc["error"] == doc["registry"]["detail"]
    assert found.code == 0, found.out
    doc = document(found)
    assert doc["registry"] == {
        "provider": "gar",
        "status": "found",
        "detail": f"europe-west10-docker.pkg.dev/my-project/binder/{package}@sha256:{'ab' * 32}",
    }
    repository = "projects/my-project/locations/europe-west10/repositories/binder"
    tag_name = f"{repository}/packages/{package}/tags/{tag}"
    assert calls == [("GetTag", tag_name), ("GetTag", tag_name)]


def test_registry_permission_problem_does_not_fail_the_build(
    run_cli: Run, binderhub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.gcp_artifact_registry import serve

    config = gar_config(tmp_path)
    fake = binderhub()
    with serve() as (registry, endpoint):
        monkeypatch.setenv("BHSVC_ARTIFACT_REGISTRY_ENDPOINT", endpoint)
        registry.deny("GetTag", "artifactregistry.tags.get", "projects/my-project")
        result = run_cli("verify", "--url", fake.url, "--config", str(config))
    assert result.code == 0
    assert "registry   not checked: permission denied: to read the image tag" in result.out


def test_bad_registry_endpoint_is_bad_input(
    run_cli: Run, binderhub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = binderhub()
    monkeypatch.setenv("BHSVC_ARTIFACT_REGISTRY_ENDPOINT", "http://registry.example.org")
    result = run_cli("verify", "--url", fake.url, "--config", str(gar_config(tmp_path)))
    assert result.code == 2
    assert fake.requests == []


# ---- slow-drip servers: --timeout bounds the run, --idle-timeout the gap between events ----


def test_timeout_bounds_a_dripping_versions_answer(run_cli: Run, binderhub: Hub) -> None:
    # One byte every 0.05 s: each read gets a byte long before a per-read timeout.
    fake = binderhub(drip=0.05, drip_on=("versions",))
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "--timeout", "1", "-o", "json")
    elapsed = time.monotonic() - start
    assert result.code == 1
    assert document(result)["error"] == (
        "verify did not finish within --timeout 1s (BinderHub /versions)"
    )
    assert 1.0 <= elapsed < 2.5


def test_timeout_bounds_a_dripping_build_stream(run_cli: Run, binderhub: Hub) -> None:
    # Headers and the first event come at once, then a byte every 0.01 s: about an
    # event a second, so the stream never goes quiet for --idle-timeout.
    fake = binderhub(drip=0.01, drip_on=("build",), drip_from=300)
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "--timeout", "2.5", "-o", "json")
    elapsed = time.monotonic() - start
    assert result.code == 1
    doc = document(result)
    assert doc["error"].startswith("the build did not finish within --timeout 2.5s (phase: ")
    assert doc["events"] >= 2
    assert 2.5 <= elapsed < 4
    assert fake.wait_for_stream_end().closed_by_client


def test_idle_timeout_counts_events_not_bytes(run_cli: Run, binderhub: Hub) -> None:
    # Bytes keep arriving, but the event after "waiting" takes about 2 s to complete.
    fake = binderhub(drip=0.02, drip_on=("build",), drip_from=300, keepalive_interval=0.1)
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "--idle-timeout", "1", "-o", "json")
    elapsed = time.monotonic() - start
    assert result.code == 1
    doc = document(result)
    assert doc["error"].startswith(
        "no build event for 1s (keepalives do not count) (phase: waiting)"
    )
    assert 1.0 <= elapsed < 2.5


def test_idle_timeout_before_the_first_event(run_cli: Run, binderhub: Hub) -> None:
    # The build request's headers drip: no event at all within the idle limit.
    fake = binderhub(drip=0.05, drip_on=("build",))
    start = time.monotonic()
    result = run_cli("verify", "--url", fake.url, "--idle-timeout", "1", "-o", "json")
    assert result.code == 1
    assert document(result)["error"].startswith("no build event for 1s")
    assert time.monotonic() - start < 2.5


# ---- where BinderHub says the image went ---------------------------------------------


def generic_config(tmp: Path, prefix: str) -> Path:
    path = tmp / "bhsvc.yaml"
    path.write_text(
        "version: 1\nkube:\n  namespace: binder\nregistry:\n  provider: generic\n"
        f"  server: registry.example.org\n  username: bot\n  image_prefix: {prefix}\n"
    )
    return path


@pytest.mark.parametrize(
    ("prefix", "reported", "expected"),
    [
        (
            "registry.example.org/org/binder-",
            "registry.example.org/org-evil/binder-",
            "expected registry.example.org/org/binder-<name>:<tag>",
        ),
        (
            "registry.example.org/org/binder-",
            "registry.example.org/org/other-",
            "expected registry.example.org/org/binder-<name>:<tag>",
        ),
        (
            "registry.example.org/org/",
            "registry.example.org/org-evil/",
            "expected registry.example.org/org/<name>:<tag>",
        ),
        (
            "registry.example.org/org/binder-",
            "evil.example.org/org/binder-",
            "expected registry.example.org/org/binder-<name>:<tag>",
        ),
    ],
)
def test_an_image_outside_the_configured_prefix_is_a_failure(
    run_cli: Run, binderhub: Hub, tmp_path: Path, prefix: str, reported: str, expected: str
) -> None:
    fake = binderhub(image_prefix=reported)
    config = generic_config(tmp_path, prefix)
    result = run_cli("verify", "--url", fake.url, "--config", str(config), "-o", "json")
    assert result.code == 1, result.out
    doc = document(result)
    image = fake.image_for(SPEC)
    assert doc["error"] == (
        f"BinderHub named the image {image}, outside the image prefix {prefix} of the config: "
        f"{expected}"
    )
    assert doc["image"] is None and doc["registry"] is None
    text = run_cli("verify", "--url", fake.url, "--config", str(config))
    assert "built and pushed" not in text.out


def test_an_image_under_the_prefix_passes(run_cli: Run, binderhub: Hub, tmp_path: Path) -> None:
    fake = binderhub(image_prefix="registry.example.org/org/binder-")
    config = generic_config(tmp_path, "registry.example.org/org/binder_")  # BinderHub writes _ as -
    result = run_cli("verify", "--url", fake.url, "--config", str(config), "-o", "json")
    assert result.code == 0, result.out
    assert document(result)["image"] == fake.image_for(SPEC)


@pytest.mark.parametrize(
    "reported",
    [
        "Registry.Example.org/ORG/binder:tag",  # upper case in the repository
        "registry.example.org//binder-x:tag",
        "registry.example.org/org/binder-x",  # no tag
        "registry.example.org/org/binder-x:tag with space",
        "registry.example.org/org/" + "x" * 300 + ":tag",
    ],
)
def test_a_malformed_image_name_is_a_failure(run_cli: Run, binderhub: Hub, reported: str) -> None:
    fake = binderhub(image_name=reported)
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    assert result.code == 1
    doc = document(result)
    assert doc["error"].endswith("which is not a valid image reference")
    assert doc["image"] is None


# ---- hostile servers ------------------------------------------------------------------

ESCAPES = (
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x1b]0;owned\x07"  # window title
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # a hyperlink
    "\x1b]52;c;ZWNobyBoaQ==\x07"  # write the clipboard
    "\x9b31m\u202e\x00\x08\r"  # 8-bit CSI, a right-to-left override, NUL, backspace, CR
)


def no_controls(text: str) -> bool:
    return not any(
        (ord(ch) < 32 and ch != "\n") or 0x7F <= ord(ch) < 0xA0 or ch == "\u202e" for ch in text
    )


def assert_clean(text: str) -> None:
    assert no_controls(text), text
    assert "owned" not in text and "evil.example" not in text


def test_server_text_reaches_the_terminal_and_json_clean_and_clipped(
    run_cli: Run, binderhub: Hub
) -> None:
    # One line of half a megabyte (a CR would start a new line, as on a terminal).
    huge = "pip says: " + ESCAPES.replace("\r", "") + "x" * 500_000 + " the end of it"
    fake = binderhub(
        "failure",
        version=f"1.0{ESCAPES}",
        log_messages=(f"Collecting numpy{ESCAPES}\n",),
        failure_message=huge,
        log_lines=2,
    )
    text = run_cli("verify", "--url", fake.url)
    assert text.code == 1
    assert_clean(text.out + text.err)
    assert len(text.out + text.err) < 10_000
    assert "binderhub  1.0click at " in text.out
    assert "Collecting numpyclick" in text.out
    assert "pip says: click" in text.err and "… (500" in text.err
    result = run_cli("verify", "--url", fake.url, "-o", "json")
    doc = document(result)
    assert_clean(json.dumps(doc, ensure_ascii=False))
    assert doc["binderhub_version"] == "1.0click"
    assert doc["error"].startswith("the build failed: pip says: clickxxx")
    assert doc["error"].endswith(f"… ({len(huge)} characters)")
    assert len(doc["error"]) < 1100
    assert result.out.count("pip says:") == 1  # in "error" only, not also in "log_tail"


def test_a_hostile_image_name_is_shown_escaped(run_cli: Run, binderhub: Hub) -> None:
    fake = binderhub(image_name=f"registry.example.org/x{ESCAPES}:tag")
    result = run_cli("verify", "--url", fake.url)
    assert result.code == 1
    assert no_controls(result.out + result.err)
    error = result.err.splitlines()[-1]
    assert error.startswith(
        "error: BinderHub named the image 'registry.example.org/x\\x1b[2J\\x1b[H\\x1b]0;owned"
    )
    assert error.endswith("which is not a valid image reference")


def test_a_token_never_travels_over_plain_http_to_another_machine(
    run_cli: Run, binderhub: Hub
) -> None:
    result = run_cli("verify", "--url", "http://hub.example.org/services/binder/", "--token", "t0k")
    assert result.code == 2
    assert result.err.strip() == (
        "error: --url http://hub.example.org/services/binder/: a token is never sent over plain "
        "http to another machine; use https://"
    )
    fake = binderhub(token="t0k")
    local = run_cli("verify", "--url", fake.url.replace("127.0.0.1", "localhost"), "--token", "t0k")
    assert local.code == 0, local.err
    versions, build = fake.requests
    assert "Authorization" not in versions.headers  # /versions needs none, gets none
    assert build.headers["Authorization"] == "Bearer t0k"


# ---- nothing a user may copy is wrapped --------------------------------------------------


def test_long_specs_urls_and_images_stay_on_one_line_without_a_terminal(
    run_cli: Run, binderhub: Hub
) -> None:
    # Without a terminal (CI logs) rich would wrap at 80 columns, mid-token.
    long_repo = "https://github.com/" + "an-organisation-with-a-long-name/" + "repository-" * 6
    spec = f"git/{long_repo.replace(':', '%3A').replace('/', '%2F')}.git/HEAD"
    assert len(spec) > 120
    fake = binderhub(base_url="/services/a-binderhub-service-with-a-long-name/")
    failed = run_cli("verify", "--url", fake.url, "--repo", spec)
    assert failed.code == 1
    lines = (failed.out + failed.err).splitlines()
    assert f"building {spec} with BinderHub at {fake.url}" in lines
    assert f"  repo       {spec}" in lines
    assert any(line.startswith("error: ") and spec.removeprefix("git/") in line for line in lines)
    # A long image name, on success.
    fake = binderhub(image_prefix="registry.example.org/" + "nested-group/" * 8 + "binder-")
    done = run_cli("verify", "--url", fake.url)
    assert done.code == 0
    image = fake.image_for(SPEC)
    assert len(image) > 160
    assert f"✓ BinderHub says built and pushed: {image}" in done.out.splitlines()
