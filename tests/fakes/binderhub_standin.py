"""A stand-in BinderHub that runs as a JupyterHub service behind a real hub's proxy.

It authenticates the way BinderHub does, with JupyterHub's own service library
(`HubOAuthenticated`): a request's token (or the hub's OAuth cookie) is checked
against the hub's API (`GET /hub/api/user`), and the user must hold
`access:services!service=<JUPYTERHUB_SERVICE_NAME>`. What it serves below
`JUPYTERHUB_SERVICE_PREFIX`, with BinderHub's wire format:

- `versions`: `{"builder_info": {...}, "binderhub": "<version>"}`, no auth.
- `build/<provider>/<spec>`: needs a user; `Accept: text/event-stream` or a
  single `failed` event with status_code 400; `build_only=true` only in API-only
  mode; then a short event stream (`waiting`, `fetching`, `building`, `built`,
  `ready` with `imageName`), one `data: <json>` message each, and a keepalive
  comment.
- `oauth_callback`: the hub's OAuth redirect target.

Configuration comes from the environment, as the chart gives it to BinderHub:
JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL, JUPYTERHUB_SERVICE_NAME,
JUPYTERHUB_SERVICE_PREFIX, JUPYTERHUB_CLIENT_ID, JUPYTERHUB_OAUTH_CALLBACK_URL,
plus STANDIN_PORT, STANDIN_IMAGE_PREFIX, STANDIN_API_ONLY and STANDIN_AUTH.

Run: `python tests/fakes/binderhub_standin.py` (serves on 127.0.0.1 until killed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from typing import Any

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.httpserver import HTTPServer

VERSION = "1.0.0-0.dev.git.3983.h383374de"


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in {"1", "true", "yes"}


def image_name(prefix: str, provider: str, spec: str) -> str:
    """`<prefix><escaped slug>-<hash>:<ref>`, the shape of BinderHub's image names."""
    repo, _, ref = spec.rpartition("/")
    slug = re.sub(r"[^a-z0-9]", lambda m: f"-{ord(m.group()):02x}", f"{provider}-{repo}".lower())
    digest = hashlib.sha256(spec.encode()).hexdigest()[:6]
    return f"{prefix}{slug[:40]}-{digest}:{ref or 'HEAD'}"


class _Base(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    def initialize(self) -> None:
        super().initialize()
        self.hub_auth = self.settings["hub_auth"]

    def get_current_user(self) -> Any:
        if not self.settings["auth_enabled"]:
            return {"name": "anonymous"}
        return super().get_current_user()


class VersionsHandler(_Base):
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.write(json.dumps({"builder_info": {"build_image": "standin"}, "binderhub": VERSION}))


class MainHandler(_Base):
    """BinderHub's home page (UI mode): browsers without a login go to the hub."""

    @web.authenticated
    async def get(self) -> None:
        self.write(f"<p>Hello {self.current_user['name']}</p>")


class BuildHandler(_Base):
    def redirect(self, *args: Any, **kwargs: Any) -> None:
        # As BinderHub's build handler: an EventSource cannot follow a login redirect.
        raise web.HTTPError(403)

    async def _event(self, event: dict[str, Any]) -> None:
        self.write(f"data: {json.dumps(event)}\n\n")
        await self.flush()

    @web.authenticated
    async def get(self, provider: str, spec: str) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            await self._event(
                {
                    "phase": "failed",
                    "status_code": 400,
                    "message": "Accept header must include text/event-stream",
                }
            )
            return
        build_only = self.get_query_argument("build_only", "").lower() == "true"
        if build_only and not self.settings["api_only"]:
            await self._event(
                {
                    "phase": "failed",
                    "status_code": 400,
                    "message": "Building but not launching is not permitted",
                }
            )
            return
        image = image_name(self.settings["image_prefix"], provider, spec)
        user = self.current_user["name"]
        self.write(":keepalive\n\n")
        for phase, message in (
            ("waiting", "Waiting for build to start...\n"),
            ("fetching", f"Fetching {spec} for {user}...\n"),
            ("building", "Step 1/1 : FROM standin\n"),
            ("built", "Built image, launching...\n"),
        ):
            event: dict[str, Any] = {"phase": phase, "message": message}
            if phase == "built":
                event["imageName"] = image
            await self._event(event)
            await asyncio.sleep(0.01)
        await self._event({"phase": "ready", "message": "Done! Image built\n", "imageName": image})


def make_app() -> web.Application:
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    # One shared instance, as in BinderHub: the OAuth callback handler finds the
    # login's state (where to go next) in the instance that started the login.
    hub_auth = HubOAuth.instance(
        api_token=os.environ["JUPYTERHUB_API_TOKEN"],
        api_url=os.environ["JUPYTERHUB_API_URL"],
        cache_max_age=0,
    )
    callback = os.environ.get("JUPYTERHUB_OAUTH_CALLBACK_URL") or f"{prefix}oauth_callback"
    return web.Application(
        [
            (re.escape(prefix), MainHandler),
            (rf"{re.escape(prefix)}versions", VersionsHandler),
            (rf"{re.escape(prefix)}build/([^/]+)/(.+)", BuildHandler),
            (re.escape(callback), HubOAuthCallbackHandler),
        ],
        hub_auth=hub_auth,
        auth_enabled=_env_flag("STANDIN_AUTH", True),
        api_only=_env_flag("STANDIN_API_ONLY", True),
        image_prefix=os.environ.get("STANDIN_IMAGE_PREFIX", "registry.example.org/binder-"),
        cookie_secret=os.urandom(32),
    )


async def main() -> None:
    server = HTTPServer(make_app())
    server.listen(int(os.environ["STANDIN_PORT"]), address="127.0.0.1")
    print("standin ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
