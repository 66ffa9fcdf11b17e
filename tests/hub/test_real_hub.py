"""A real JupyterHub and proxy, configured from the values bhsvc generates.

JupyterHub itself checks the service entry and the roles (it refuses to start
on an invalid one), routes `/services/<name>/` through configurable-http-proxy
to the stand-in BinderHub, and answers the stand-in's token checks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hublib import Browser, RealHub, Response, http, running_hub

pytestmark = pytest.mark.timeout(180)

USER = "alice"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealHub]:
    with running_hub(tmp_path_factory.mktemp("hub"), "fancy-profiles") as real:
        real.create_user(USER)
        yield real


def build_url(hub: RealHub) -> str:
    return f"{hub.url}services/binder/build/gh/binder-examples/requirements/HEAD?build_only=true"


def events(body: bytes) -> list[dict[str, object]]:
    return [
        json.loads(line[len("data:") :])
        for line in body.decode().splitlines()
        if line.startswith("data:")
    ]


STREAM = {"Accept": "text/event-stream"}


def test_the_hub_registers_the_service_from_the_values(hub: RealHub) -> None:
    resp = hub.admin("GET", "services/binder")
    assert resp.status == 200, resp.body
    model = resp.json()
    assert model["prefix"] == "/services/binder/"
    assert model["display"] is False


def test_versions_answers_through_the_proxy_without_a_token(hub: RealHub) -> None:
    resp = http("GET", f"{hub.url}services/binder/versions")
    assert resp.status == 200
    assert resp.json()["binderhub"]


def test_a_users_token_with_the_granted_scope_is_accepted(hub: RealHub) -> None:
    token = hub.user_token(USER)  # inherits the user role, which bhsvc extended
    whoami = http("GET", hub.api + "user", token=token).json()
    assert "access:services!service=binder" in whoami["scopes"]
    resp = http("GET", build_url(hub), token=token, headers=STREAM)
    assert resp.status == 200, resp.body
    phases = [event["phase"] for event in events(resp.body)]
    assert phases[-1] == "ready"
    assert str(events(resp.body)[-1]["imageName"]).startswith(
        "us-docker.pkg.dev/my-project/binder/binder-"
    )


def refused(resp: Response) -> dict[str, object]:
    """BinderHub's refusal of a build: HTTP 200 and one failed event with the status
    (an EventSource cannot read status codes)."""
    assert resp.status == 200, resp.body
    (event,) = events(resp.body)
    assert event["phase"] == "failed"
    return event


def test_a_request_without_a_token_is_refused(hub: RealHub) -> None:
    resp = http("GET", build_url(hub), headers=STREAM)
    # The login redirect is turned into a 403: an event stream cannot follow it.
    assert refused(resp) == {"phase": "failed", "status_code": 403, "message": "Forbidden\n"}


def test_a_token_lacking_the_scope_is_refused(hub: RealHub) -> None:
    token = hub.user_token(USER, scopes=["read:users:name!user=alice"])
    whoami = http("GET", hub.api + "user", token=token).json()
    assert "access:services!service=binder" not in whoami["scopes"]
    resp = http("GET", build_url(hub), token=token, headers=STREAM)
    assert refused(resp) == {
        "phase": "failed",
        "status_code": 403,
        "message": f"user {USER} is not allowed.\n",
    }


def test_a_bogus_token_is_refused(hub: RealHub) -> None:
    resp = http("GET", build_url(hub), token="not-a-token", headers=STREAM)
    assert refused(resp)["status_code"] == 403


def run_verify(hub: RealHub, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("BHSVC_TOKEN", None)
    args = ["--url", f"{hub.url}services/binder/", "--output", "json"]
    if token is not None:
        args += ["--token", token]
    return subprocess.run(
        [sys.executable, "-m", "bhsvc", "verify", *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


needs_verify = pytest.mark.skipif(
    importlib.util.find_spec("bhsvc.commands.verify") is None,
    reason="bhsvc verify is not in this tree yet",
)


@needs_verify
def test_bhsvc_verify_succeeds_through_the_real_proxy(hub: RealHub) -> None:
    token = hub.user_token(USER)
    proc = run_verify(hub, token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert token not in proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    assert result["target"] == f"{hub.url}services/binder/"
    assert result["image"].startswith("us-docker.pkg.dev/my-project/binder/binder-")


@needs_verify
@pytest.mark.parametrize("scoped", [False, True], ids=["no-token", "token-without-scope"])
def test_bhsvc_verify_fails_when_the_hub_refuses(hub: RealHub, scoped: bool) -> None:
    token = hub.user_token(USER, scopes=["read:users:name!user=alice"]) if scoped else None
    proc = run_verify(hub, token)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is False
    if token:
        assert token not in proc.stdout + proc.stderr


def test_launch_binderhub_role_gives_the_service_what_the_launcher_needs(
    tmp_path: Path,
) -> None:
    with running_hub(tmp_path, "binderhub") as hub:
        hub.create_user(USER)
        service_token = hub.service_tokens["binder"]
        whoami = http("GET", hub.api + "user", token=service_token).json()
        assert whoami["kind"] == "service"
        assert {"read:users", "servers"} <= set(whoami["scopes"])
        # What BinderHub's launcher reads before starting a server.
        model = http("GET", hub.api + f"users/{USER}", token=service_token)
        assert model.status == 200
        assert "servers" in model.json()
        # BinderHub's own pages are listed in the hub's Services menu.
        resp = http("GET", f"{hub.url}services/binder/versions")
        assert resp.status == 200


def test_a_browser_logs_in_through_the_hubs_oauth_without_a_confirmation_page(
    hub: RealHub,
) -> None:
    browser = Browser(hub.url)
    browser.login(USER)
    home = f"{hub.url}services/binder/"
    # 1. BinderHub's page sends the browser to the hub, as client service-binder.
    resp = browser.request("GET", home)
    assert resp.status == 302
    authorize = resp.headers["location"]
    assert "client_id=service-binder" in authorize
    assert "redirect_uri=%2Fservices%2Fbinder%2Foauth_callback" in authorize
    # 2. The hub accepts that client and redirect URI and, with oauth_no_confirm,
    #    answers with the code straight away instead of a confirmation page.
    resp = browser.request("GET", authorize)
    assert resp.status == 302, resp.body[:300]
    callback = resp.headers["location"]
    assert callback.startswith("/services/binder/oauth_callback?code=")
    # 3. BinderHub trades the code for a token with the hub, sets its cookie,
    #    and sends the browser back to the page it came from.
    resp = browser.request("GET", callback)
    assert resp.status == 302, resp.body[:300]
    assert resp.headers["location"] == "/services/binder/"
    # 4. With that cookie, builds are allowed too.
    resp = browser.request("GET", build_url(hub), headers=STREAM)
    assert resp.status == 200
    assert events(resp.body)[-1]["phase"] == "ready"
