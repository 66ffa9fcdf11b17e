"""A stand-in BinderHub that runs as a JupyterHub service behind a real hub's proxy.

It authenticates the way BinderHub does, with JupyterHub's own service library
(`HubOAuthenticated`): a request's token (or the hub's OAuth cookie) is checked
against the hub's API (`GET /hub/api/user`), and the user must hold
`access:services!service=<JUPYTERHUB_SERVICE_NAME>`. What it serves below
`JUPYTERHUB_SERVICE_PREFIX`, with BinderHub's wire format and order of checks
(binderhub/builder.py):

- `versions`: `{"builder_info": {...}, "binderhub": "<version>"}`, no auth.
- `build/<provider>/<spec>`: every error is an HTTP 200 `text/event-stream`
  response with one `failed` event carrying `status_code` and `message`
  (BinderHub's `send_error`: an EventSource cannot read status codes). First
  `Accept: text/event-stream` (400), then a user (403: "Forbidden" without a
  known token, "<kind> <name> is not allowed." without the scope), then the
  provider prefix, then `build_only=true` only in API-only mode (400). Then a
  short build (`waiting`, `fetching`, `building`, `pushing`) and a keepalive
  comment every 25 s.
- With `build_only=true`: `ready` with `imageName`, "Done! Image built".
  Without it (in either mode) BinderHub launches, in the same handler: `built`,
  then `launching`, then it asks the hub for a server (with auth: the token
  owner's; without: a new temporary user's) with the image, then `ready` with
  the server's URL, and holds the stream 60 s. A client that hangs up after
  `built` does not stop the launch: tornado notices a closed connection only
  when a write fails. Each attempt is logged on stdout as a line
  `launch-attempt {json}` (user, temporary_user, image, and the hub's answer).
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
import secrets
from http.client import responses
from typing import Any
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError

VERSION = "1.0.0-0.dev.git.3983.h383374de"
PROVIDERS = {"gh", "gist", "git", "gl", "zenodo", "figshare", "hydroshare", "dataverse", "ckan"}
KEEPALIVE_INTERVAL = 25
HOLD_AFTER_LAUNCH = 60


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in {"1", "true", "yes"}


def image_name(prefix: str, provider: str, spec: str) -> str:
    """`<prefix><escaped slug>-<hash>:<resolved ref>`, lowercased: BinderHub's shape."""
    repo = spec.rpartition("/")[0]
    slug = re.sub(r"[^a-z0-9]", lambda m: f"-{ord(m.group()):02x}", f"{provider}-{repo}".lower())
    digest = hashlib.sha256(spec.encode()).hexdigest()
    resolved = hashlib.sha1(spec.encode()).hexdigest()  # a stand-in for the commit
    return f"{prefix}{slug[:40]}-{digest[:6]}:{resolved}".replace("_", "-").lower()


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
    def set_default_headers(self) -> None:
        self.set_header("Access-Control-Allow-Headers", "cache-control")
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")

    def redirect(self, *args: Any, **kwargs: Any) -> None:
        # As BinderHub's build handler: an EventSource cannot follow a login redirect.
        raise web.HTTPError(403)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """BinderHub's: the status stays 200 and the error is one `failed` event."""
        message = ""
        exc_info = kwargs.get("exc_info")
        if exc_info:
            error = exc_info[1]
            try:
                message = error.log_message % error.args
            except Exception:
                message = ""
        message = message or responses.get(status_code, "Unknown HTTP Error")
        event = {"phase": "failed", "status_code": status_code, "message": message + "\n"}
        self.write(f"data: {json.dumps(event)}\n\n")
        self.finish()

    async def prepare(self) -> None:
        accept = {s.strip().lower() for s in self.request.headers.get("Accept", "").split(";")}
        if "text/event-stream" not in accept:
            raise web.HTTPError(400, "Missing Accept header: text/event-stream")

    async def emit(self, event: dict[str, Any]) -> None:
        try:
            self.write(f"data: {json.dumps(event)}\n\n")
            await self.flush()
        except StreamClosedError:
            raise web.Finish() from None  # BinderHub stops the handler here

    def on_finish(self) -> None:
        self._keepalive = False

    async def keep_alive(self) -> None:
        self._keepalive = True
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            if not self._keepalive:
                return
            try:
                self.write(":keepalive\n\n")
                await self.flush()
            except (StreamClosedError, RuntimeError):
                return

    @web.authenticated
    async def get(self, provider: str, spec: str) -> None:
        if provider not in PROVIDERS:
            await self.emit(
                {"phase": "failed", "message": f"No provider found for prefix {provider}\n"}
            )
            return
        self._keepalive_task = asyncio.create_task(self.keep_alive())
        image = image_name(self.settings["image_prefix"], provider, spec)
        build_only = self.get_query_argument("build_only", "").lower() == "true"
        if build_only and not self.settings["api_only"]:
            raise web.HTTPError(
                400,
                log_message="Building but not launching is not permitted when the API only "
                "mode was not enabled by setting `enable_api_only_mode` to True. ",
            )
        user = self.current_user["name"]
        for phase, message in (
            ("waiting", "Waiting for build to start...\n"),
            ("fetching", f"Fetching {spec} for {user}...\n"),
            ("building", "Step 1/1 : FROM standin\n"),
            ("pushing", f"Successfully pushed {image}"),
        ):
            await self.emit({"phase": phase, "message": message})
            await asyncio.sleep(0.01)
        if build_only:
            await self.emit(
                {"phase": "ready", "message": "Done! Image built\n", "imageName": image}
            )
            return
        await self.emit(
            {"phase": "built", "message": "Built image, launching...\n", "imageName": image}
        )
        await self.launch(image, spec)
        await asyncio.sleep(HOLD_AFTER_LAUNCH)  # so that EventSource clients do not reconnect

    async def launch(self, image: str, spec: str) -> None:
        """BinderHub's launch: a write first, then the hub is asked for a server."""
        await self.emit({"phase": "launching", "message": "Launching server...\n"})
        temporary = not self.settings["auth_enabled"]
        if temporary:
            user = f"{spec.rpartition('/')[0].replace('/', '-').lower()}-{secrets.token_hex(4)}"
        else:
            user = self.current_user["name"]
        answers = []
        name = quote(user, safe="@~")
        calls = [("POST", f"users/{name}", b"")] if temporary else [("GET", f"users/{name}", None)]
        data = {"image": image, "repo_url": spec, "token": secrets.token_urlsafe(16)}
        calls.append(("POST", f"users/{name}/servers/", json.dumps(data).encode()))
        for method, path, body in calls:
            answers.append(f"{method} {path} {await self._hub_api(method, path, body)}")
        record = {"user": user, "temporary_user": temporary, "image": image, "hub": answers}
        print("launch-attempt " + json.dumps(record), flush=True)
        url = f"{os.environ['JUPYTERHUB_BASE_URL'].rstrip('/')}/user/{name}/"
        await self.emit({"phase": "ready", "message": f"server running at {url}\n", "url": url})

    async def _hub_api(self, method: str, path: str, body: bytes | None) -> int:
        try:
            response = await AsyncHTTPClient().fetch(
                os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/" + path,
                method=method,
                body=body,
                headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"},
                request_timeout=20,
            )
        except HTTPClientError as err:
            return err.code
        return response.code


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
