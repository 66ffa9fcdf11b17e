"""Helpers of the hub tests: configs for every combination, and a real JupyterHub.

`RealHub` runs `jupyterhub` with `configurable-http-proxy` on loopback ports,
configured the way z2jh's hub configuration turns values into JupyterHub
config (`hub.services.<key>` -> `JupyterHub.services` with `name` = key and the
token z2jh generates, `hub.loadRoles.<key>` -> `JupyterHub.load_roles` with
`name` = key), and a stand-in BinderHub (tests/fakes/binderhub_standin.py)
given the environment the chart gives BinderHub from `hubIntegration`.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bhsvc.config import Config, parse_config
from bhsvc.merge import deep_merge

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
STANDIN = ROOT / "tests" / "fakes" / "binderhub_standin.py"
STARTUP_TIMEOUT = 60.0

AUTHS = (True, False)
LAUNCHES = ("fancy-profiles", "binderhub")
HOMES = ("target-repo-dir", "copy-on-start", "none")


def make_config(
    launch: str = "fancy-profiles",
    auth: bool = True,
    home: str = "target-repo-dir",
    chart_version: str | None = None,
    **hub: Any,
) -> Config:
    """A valid config for one combination (launch binderhub gets the hub URL it needs)."""
    settings: dict[str, Any] = {
        "enabled": True,
        "auth": auth,
        "fancy_profiles": launch == "fancy-profiles",
        "home_strategy": home,
        **hub,
    }
    if launch == "binderhub":
        settings.setdefault("url", "https://hub.example.org")
    if chart_version is not None:
        settings["chart_version"] = chart_version
        if launch == "fancy-profiles" and chart_version != "4.3.1":
            settings.setdefault("image", "registry.example.org/hub-fancy:4.4.0-1")
    data = {
        "kube": {"namespace": "binder"},
        "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
        "hub": settings,
    }
    return parse_config(data, "test")


def combinations() -> list[tuple[bool, str, str]]:
    """Every (auth, launch, home) that config accepts (launch binderhub needs auth)."""
    return [
        (auth, launch, home)
        for auth, launch, home in itertools.product(AUTHS, LAUNCHES, HOMES)
        if auth or launch != "binderhub"
    ]


@functools.cache
def z2jh_schema(version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = FIXTURES / f"z2jh-{version}"
    schema = yaml.safe_load((folder / "values.schema.yaml").read_text())
    defaults = yaml.safe_load((folder / "values.yaml").read_text())
    return schema, defaults


# ---- a real hub ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_chp() -> Path:
    chosen = os.environ.get("BHSVC_TEST_CHP") or shutil.which("configurable-http-proxy")
    if not chosen or not Path(chosen).exists():
        pytest.fail(
            "configurable-http-proxy not found: run the tests through 'nox -s tests' or "
            "set BHSVC_TEST_CHP (npm install --prefix .nox/_tools/node "
            "configurable-http-proxy@5.3.0)"
        )
    return Path(chosen)


def hub_config_from_values(
    values: dict[str, Any], tokens: dict[str, str], url: str
) -> dict[str, Any]:
    """`JupyterHub.services` and `load_roles` as z2jh's hub config builds them from values."""
    services = []
    for key, service in (values["hub"].get("services") or {}).items():
        service = dict(service)
        service.setdefault("name", key)
        service.pop("apiToken", None)
        service["api_token"] = tokens[key]
        # The in-cluster URL becomes the stand-in's loopback URL.
        service["url"] = url
        services.append(service)
    roles = []
    for key, role in (values["hub"].get("loadRoles") or {}).items():
        role = dict(role)
        role.setdefault("name", key)
        roles.append(role)
    return {"services": services, "load_roles": roles}


def standin_env(binderhub_values: dict[str, Any], token: str, hub_api: str) -> dict[str, str]:
    """The JUPYTERHUB_* environment the chart derives from `hubIntegration`."""
    hub = binderhub_values["hubIntegration"]
    name = hub["serviceName"]
    base = hub.get("baseUrl") or "/"
    prefix = f"{base}services/{name}/"
    bh = binderhub_values["config"]["BinderHub"]
    assert bh["base_url"] == prefix, "BinderHub's base_url must be the service prefix"
    return {
        "JUPYTERHUB_API_TOKEN": token,
        "JUPYTERHUB_API_URL": hub_api,
        "JUPYTERHUB_BASE_URL": base,
        "JUPYTERHUB_SERVICE_NAME": name,
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_CLIENT_ID": hub.get("oauthClientId") or f"service-{name}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": hub.get("oauthCallbackUrl") or f"{prefix}oauth_callback",
        "STANDIN_AUTH": "true" if hub["auth"] else "false",
        "STANDIN_API_ONLY": "true" if bh["enable_api_only_mode"] else "false",
        "STANDIN_IMAGE_PREFIX": bh["image_prefix"],
    }


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def http(
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if token:
        request.add_header("Authorization", f"token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return Response(resp.status, _lower(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, _lower(err.headers), err.read())


@dataclass
class RealHub:
    """jupyterhub + configurable-http-proxy + the stand-in BinderHub, on loopback."""

    workdir: Path
    z2jh_values: dict[str, Any]
    binderhub_values: dict[str, Any]
    chp: Path
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    proxy_port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    standin_port: int = field(default_factory=free_port)
    service_tokens: dict[str, str] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The hub's public URL (through the proxy), ending in '/'."""
        return f"http://127.0.0.1:{self.proxy_port}/"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}/hub/api/"

    @property
    def service_name(self) -> str:
        name: str = self.binderhub_values["hubIntegration"]["serviceName"]
        return name

    def config_text(self) -> str:
        # z2jh generates one token per service; mimic that.
        self.service_tokens = {
            key: secrets.token_hex(16) for key in self.z2jh_values["hub"]["services"]
        }
        translated = hub_config_from_values(
            self.z2jh_values, self.service_tokens, f"http://127.0.0.1:{self.standin_port}"
        )
        # Test-only: a service that creates users and their tokens.
        translated["services"].append({"name": "test-admin", "api_token": self.admin_token})
        translated["load_roles"].append(
            {
                "name": "test-admin",
                "scopes": ["admin:users", "tokens", "read:users", "read:services"],
                "services": ["test-admin"],
            }
        )
        return "\n".join(
            [
                "import json",
                "c = get_config()  # noqa",
                f"c.JupyterHub.bind_url = 'http://127.0.0.1:{self.proxy_port}'",
                f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{self.hub_port}'",
                f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self.api_port}'",
                f"c.ConfigurableHTTPProxy.command = [{str(self.chp)!r}]",
                f"c.ConfigurableHTTPProxy.auth_token = {secrets.token_hex(16)!r}",
                "c.ConfigurableHTTPProxy.should_start = True",
                f"c.JupyterHub.db_url = 'sqlite:///{self.workdir / 'hub.sqlite'}'",
                f"c.JupyterHub.cookie_secret_file = {str(self.workdir / 'cookie_secret')!r}",
                f"c.JupyterHub.pid_file = {str(self.workdir / 'hub.pid')!r}",
                "c.JupyterHub.authenticator_class = 'dummy'",
                "c.Authenticator.allow_all = True",
                "c.JupyterHub.cleanup_servers = True",
                "c.JupyterHub.last_activity_interval = 3600",
                "c.JupyterHub.service_check_interval = 3600",
                f"c.JupyterHub.services = json.loads({json.dumps(translated['services'])!r})",
                f"c.JupyterHub.load_roles = json.loads({json.dumps(translated['load_roles'])!r})",
                "",
            ]
        )

    def start(self) -> RealHub:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(self.config_text())
        env = {
            **os.environ,
            **standin_env(self.binderhub_values, self.service_tokens[self.service_name], self.api),
            "STANDIN_PORT": str(self.standin_port),
        }
        self._spawn([sys.executable, str(STANDIN)], env, "standin.log")
        self._spawn(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            "hub.log",
        )
        self._wait_ready()
        return self

    def _spawn(self, argv: list[str], env: dict[str, str], log: str) -> None:
        out = (self.workdir / log).open("wb")
        # A session of its own: stop() ends the process and what it started (the proxy).
        proc = subprocess.Popen(
            argv, cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self._procs.append(proc)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        versions = f"{self.url}services/{self.service_name}/versions"
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    self.stop()
                    pytest.fail(f"a test process exited early:\n{self.logs()}")
            try:
                if (
                    http("GET", f"{self.url}hub/api/", timeout=2).status == 200
                    and http("GET", versions, timeout=2).status == 200
                ):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"the hub did not answer within {STARTUP_TIMEOUT:.0f}s:\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for name in ("hub.log", "standin.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self._procs.clear()

    # ---- the hub's API, as the test admin service ------------------------------

    def admin(self, method: str, path: str, body: Any = None) -> Response:
        return http(method, self.api + path, token=self.admin_token, body=body)

    def create_user(self, name: str) -> None:
        resp = self.admin("POST", f"users/{name}")
        assert resp.status in (201, 409), resp.body

    def user_token(self, name: str, scopes: list[str] | None = None) -> str:
        body: dict[str, Any] = {"note": "test", "expires_in": 600}
        if scopes is not None:
            body["scopes"] = scopes
        resp = self.admin("POST", f"users/{name}/tokens", body)
        assert resp.status == 201, resp.body
        token: str = resp.json()["token"]
        return token


def merged(defaults: dict[str, Any], *values: dict[str, Any]) -> dict[str, Any]:
    result = defaults
    for item in values:
        result = deep_merge(result, item)
    return result


class Browser:
    """Cookies and redirects by hand, to watch each step of the hub's OAuth flow."""

    def __init__(self, origin: str) -> None:
        import http.cookiejar

        self.origin = origin.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            _NoRedirect, urllib.request.HTTPCookieProcessor(self.jar)
        )

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def request(
        self,
        method: str,
        url: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        from urllib.parse import urlencode

        if url.startswith("/"):
            url = self.origin + url
        data = urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=10) as resp:
                return Response(resp.status, _lower(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, _lower(err.headers), err.read())

    def login(self, user: str) -> None:
        self.request("GET", "/hub/login")
        xsrf = self.cookie("_xsrf") or ""
        resp = self.request(
            "POST", "/hub/login", form={"username": user, "password": "x", "_xsrf": xsrf}
        )
        assert resp.status == 302, resp.body[:500]


# ---- a stand-in z2jh chart ---------------------------------------------------------

FAKE_Z2JH_TEMPLATES = {
    # z2jh keeps every service's API token in its Secret `hub`, generated once and
    # kept across upgrades (looked up from the cluster).
    "hub-secret.yaml": """\
{{- $existing := lookup "v1" "Secret" .Release.Namespace "hub" }}
{{- $data := dict }}
{{- if $existing }}{{ $data = $existing.data | default dict }}{{ end }}
apiVersion: v1
kind: Secret
metadata:
  name: hub
  namespace: {{ .Release.Namespace }}
type: Opaque
data:
  {{- range $key, $service := .Values.hub.services }}
  {{- $name := printf "hub.services.%s.apiToken" $key }}
  {{ $name }}: {{ get $data $name | default (randAlphaNum 64 | b64enc) | quote }}
  {{- end }}
""",
    "proxy.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: proxy
  namespace: {{ .Release.Namespace }}
spec:
  replicas: 1
  selector:
    matchLabels: {component: proxy, release: {{ .Release.Name }}, app: jupyterhub}
  template:
    metadata:
      labels: {component: proxy, release: {{ .Release.Name }}, app: jupyterhub}
    spec:
      containers:
        - name: chp
          image: "{{ .Values.proxy.chp.image.name }}:{{ .Values.proxy.chp.image.tag }}"
          ports: [{name: http, containerPort: 8000}]
---
apiVersion: v1
kind: Service
metadata:
  name: proxy-public
  namespace: {{ .Release.Namespace }}
spec:
  selector: {component: proxy, release: {{ .Release.Name }}}
  ports: [{name: http, port: 80, targetPort: http}]
""",
    "hub.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hub
  namespace: {{ .Release.Namespace }}
spec:
  replicas: 1
  selector:
    matchLabels: {component: hub, release: {{ .Release.Name }}, app: jupyterhub}
  template:
    metadata:
      labels: {component: hub, release: {{ .Release.Name }}, app: jupyterhub}
    spec:
      containers:
        - name: hub
          image: "{{ .Values.hub.image.name }}:{{ .Values.hub.image.tag }}"
""",
}


def fake_z2jh_chart(directory: Path, version: str = "4.4.0") -> Path:
    """A chart named jupyterhub with z2jh's real values schema and defaults, that makes
    the objects connect-hub relies on: the `hub` Secret with the services' tokens,
    the proxy pod (labels component=proxy, release=<release>) and Service."""
    chart = directory / "jupyterhub"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: jupyterhub\nversion: {version}\nappVersion: 5.5.0\n"
    )
    schema, defaults = z2jh_schema(version)
    (chart / "values.schema.json").write_text(json.dumps(schema))
    (chart / "values.yaml").write_text(yaml.safe_dump(defaults))
    for name, text in FAKE_Z2JH_TEMPLATES.items():
        (chart / "templates" / name).write_text(text)
    return chart
