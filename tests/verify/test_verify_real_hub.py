"""verify never launches a server, checked against a real JupyterHub whose BinderHub
(the stand-in, tests/fakes/binderhub_standin.py) launches the way BinderHub does:
into the hub, for the token's owner, right after `built`."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bhsvc.events import Event, EventStreamParser
from hub.hublib import RealHub, running_hub

pytestmark = pytest.mark.timeout(180)

USER = "alice"
SPEC = "gh/binder-examples/requirements/HEAD"


@pytest.fixture(scope="module")
def launching_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealHub]:
    """A hub with hub.launch binderhub: BinderHub is not in API-only mode."""
    with running_hub(tmp_path_factory.mktemp("hub"), "binderhub") as real:
        real.create_user(USER)
        yield real


def launch_attempts(hub: RealHub) -> list[dict[str, object]]:
    lines = (hub.workdir / "standin.log").read_text().splitlines()
    prefix = "launch-attempt "
    return [json.loads(line[len(prefix) :]) for line in lines if line.startswith(prefix)]


def test_verify_refuses_to_build_where_binderhub_would_launch(launching_hub: RealHub) -> None:
    token = launching_hub.user_token(USER)
    env = {**os.environ, "BHSVC_TOKEN": token}
    proc = subprocess.run(
        [sys.executable, "-m", "bhsvc", "verify", "-o", "json",
         "--url", f"{launching_hub.url}services/binder/"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status_code"] == 400
    assert "set binderhub.api_only: true in bhsvc.yaml" in doc["error"]
    assert "config.BinderHub.enable_api_only_mode: true" in doc["error"]
    assert token not in proc.stdout + proc.stderr
    time.sleep(0.5)
    assert launch_attempts(launching_hub) == []


def test_the_standin_launches_for_a_client_that_hangs_up_after_built(
    launching_hub: RealHub,
) -> None:
    """What verify avoids: a request without build_only starts the token owner's server
    with the image, although the client hangs up as soon as it sees `built`."""
    url = urlsplit(launching_hub.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    token = launching_hub.user_token(USER)
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
    conn.request("GET", f"/services/binder/build/{SPEC}", headers=headers)
    response = conn.getresponse()
    parser, phases = EventStreamParser(), []
    image = None
    while "built" not in phases:
        data = response.read1(65536)
        assert data, phases
        for item in parser.feed(data):
            if isinstance(item, Event):
                phases.append(item.phase)
                image = item.image_name or image
    conn.close()
    deadline = time.monotonic() + 30
    while not launch_attempts(launching_hub) and time.monotonic() < deadline:
        time.sleep(0.1)
    (attempt,) = launch_attempts(launching_hub)
    assert attempt["user"] == USER and attempt["temporary_user"] is False
    assert attempt["image"] == image
    # The hub was asked to start alice's server (its spawner then fails here: no such
    # system user; what matters is that BinderHub asked).
    hub_calls = [str(call) for call in attempt["hub"]]  # type: ignore[attr-defined]
    assert hub_calls[0] == f"GET users/{USER} 200"
    assert hub_calls[1].startswith(f"POST users/{USER}/servers/ ")
