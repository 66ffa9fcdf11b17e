"""A stand-in for `binderhub.registry` (BinderHub is not on the package index), with
the behaviour of its registry classes that the chart's registry class builds on,
checked against BinderHub's source (binderhub/registry.py, binderhub/builder.py,
binderhub/build.py) and repo2docker's (repo2docker/engine.py):

- `DockerRegistry` is a traitlets `LoggingConfigurable` (BinderHub makes it with
  `registry_class(parent=app)`, so `c.DockerRegistry.<trait>` configures it and
  its subclasses). Traits: `url` (default: the first server in the docker
  config.json, with https:// when it has no scheme; Docker Hub's v2 registry
  without one), `docker_config_path` (`$DOCKER_CONFIG/config.json`),
  `token_url` (default empty, but for gcr.io and Docker Hub), `username` and
  `password` (default: the config.json `auth` of the registry).
- `get_image_manifest(image, tag)`: GET `<url>/v2/<image>/manifests/<tag>`
  with `Accept: application/vnd.oci.image.manifest.v1+json`; with a
  `token_url`, first `_get_token(client, token_url, service, scope)` and the
  token as `Authorization: Bearer`, else basic auth with username and password.
  A 404 means the image is not there (None); other HTTP errors are raised.
  (BinderHub also follows a 401's WWW-Authenticate challenge when it has no
  token_url: not reproduced, the registry classes here always have one.)
- `get_credentials(image, tag)`: None (builds push with the static push Secret).
- `GoogleArtifactRegistry`: `token_url` defaults to the metadata server's
  token endpoint at metadata.google.internal, and `_get_token` asks it with
  `Metadata-Flavor: Google` and returns `access_token` (a ValueError without one).

And what BinderHub does with them around a build (`prepare_build`): the image
name is split into name and tag the way its builder does (`_image_name_and_tag`,
without the registry host), `get_image_manifest` decides whether to build, and
`get_credentials`' answer becomes the build's `registry_credentials`, which the
Kubernetes build pod gets as the environment variable
CONTAINER_ENGINE_REGISTRY_CREDENTIALS (JSON), which repo2docker accepts only
with the keys registry, username and password.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any
from urllib.parse import urlparse

from tornado import httpclient
from tornado.httputil import url_concat
from traitlets import Dict, Unicode, default
from traitlets.config import LoggingConfigurable

DOCKER_HUB_REGISTRY = "https://registry-1.docker.io"
DOCKER_HUB_AUTH = "https://index.docker.io/v1/"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
METADATA_TOKEN_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)


class DockerRegistry(LoggingConfigurable):  # type: ignore[misc]
    url = Unicode(config=True)
    auth_config_url = Unicode(config=True)
    docker_config_path = Unicode(
        os.path.join(
            os.environ.get("DOCKER_CONFIG", os.path.expanduser("~/.docker")), "config.json"
        ),
        config=True,
    )
    token_url = Unicode(config=True)
    username = Unicode(config=True)
    password = Unicode(config=True)
    _docker_config = Dict()

    @default("_docker_config")
    def _read_docker_config(self) -> dict[str, Any]:
        if not os.path.exists(self.docker_config_path):
            self.log.warning("No docker config at %s", self.docker_config_path)
            return {}
        with open(self.docker_config_path) as f:
            config: dict[str, Any] = json.load(f)
        return config

    @default("url")
    def _url_from_docker_config(self) -> str:
        servers = list(self._docker_config.get("auths", {}))
        if not servers:
            return DOCKER_HUB_REGISTRY
        server = servers[0] if "://" in servers[0] else "https://" + servers[0]
        return DOCKER_HUB_REGISTRY if server == DOCKER_HUB_AUTH else server

    @default("auth_config_url")
    def _auth_key(self) -> str:
        auths = self._docker_config.get("auths", {})
        host = urlparse(self.url).hostname or ""
        if self.url in auths:
            return self.url
        if host in auths:
            return host
        if ("." + host).endswith((".docker.io", ".docker.com")):
            return DOCKER_HUB_AUTH
        return self.url

    @default("token_url")
    def _known_token_services(self) -> str:
        host = urlparse(self.url).hostname or ""
        if ("." + host).endswith(".gcr.io"):
            return f"https://{host}/v2/token?service={host}"
        if self.url.endswith(".docker.io"):
            return "https://auth.docker.io/token?service=registry.docker.io"
        return ""

    def _auth_part(self, index: int) -> str:
        entry = self._docker_config.get("auths", {}).get(self.auth_config_url, {})
        if not entry.get("auth"):
            return ""
        return base64.b64decode(entry["auth"]).decode().split(":", 1)[index]

    @default("username")
    def _username_from_config(self) -> str:
        return self._auth_part(0)

    @default("password")
    def _password_from_config(self) -> str:
        return self._auth_part(1)

    async def _get_token(
        self, client: httpclient.AsyncHTTPClient, token_url: str, service: str, scope: str
    ) -> str:
        request = httpclient.HTTPRequest(
            url_concat(token_url, {"scope": scope, "service": service}),
            auth_username=self.username,
            auth_password=self.password,
        )
        body = json.loads((await client.fetch(request)).body)
        for key in ("token", "access_token"):
            if key in body:
                return str(body[key])
        raise ValueError("No token in response from registry")

    async def get_image_manifest(self, image: str, tag: str) -> dict[str, Any] | None:
        client = httpclient.AsyncHTTPClient()
        url = f"{self.url}/v2/{image}/manifests/{tag}"
        headers = {"Accept": OCI_MANIFEST}
        if self.token_url:
            token = await self._get_token(
                client,
                self.token_url,
                service="container_registry",
                scope=f"repository:{image}:pull",
            )
            request = httpclient.HTTPRequest(
                url, headers={**headers, "Authorization": f"Bearer {token}"}
            )
        else:
            request = httpclient.HTTPRequest(
                url, headers=headers, auth_username=self.username, auth_password=self.password
            )
        try:
            response = await client.fetch(request)
        except httpclient.HTTPClientError as err:
            if err.code == 404:
                return None
            raise
        manifest: dict[str, Any] = json.loads(response.body)
        return manifest

    async def get_credentials(self, image: str, tag: str) -> dict[str, str] | None:
        return None


class GoogleArtifactRegistry(DockerRegistry):
    @default("token_url")
    def _metadata_server(self) -> str:
        return METADATA_TOKEN_URL

    async def _get_token(
        self, client: httpclient.AsyncHTTPClient, token_url: str, service: str, scope: str
    ) -> str:
        request = httpclient.HTTPRequest(token_url, headers={"Metadata-Flavor": "Google"})
        body = json.loads((await client.fetch(request)).body)
        if "access_token" not in body:
            raise ValueError("No token in response from registry")
        return str(body["access_token"])


# ---- what BinderHub and repo2docker do with a registry around a build --------------


def image_name_and_tag(full_name: str) -> tuple[str, str]:
    """A full image name as BinderHub's builder splits it: (name without the registry
    host, tag); a name that looks like Docker Hub's has no host to drop."""
    name, colon, tag = full_name.rpartition(":")
    if not colon:
        name, tag = full_name, "latest"
    if re.fullmatch("[a-z0-9]{4,40}/[a-z0-9._-]{2,255}", name):
        return name, tag
    return "/".join(name.split("/")[1:]), tag


async def prepare_build(registry: DockerRegistry, image: str) -> dict[str, Any]:
    """BinderHub's steps before a build: is the image there, and, when it is not, the
    build pod's environment from the registry's credentials (empty: push Secret)."""
    name, tag = image_name_and_tag(image)
    if await registry.get_image_manifest(name, tag):
        return {"found": True, "env": {}}
    credentials = await registry.get_credentials(name, tag)
    env = {}
    if credentials:
        env["CONTAINER_ENGINE_REGISTRY_CREDENTIALS"] = json.dumps(credentials)
    return {"found": False, "env": env}


def repo2docker_credentials(env: dict[str, str]) -> dict[str, str]:
    """What repo2docker reads from the build pod's environment, checked as it checks it."""
    credentials: dict[str, str] = json.loads(env["CONTAINER_ENGINE_REGISTRY_CREDENTIALS"])
    if len({"registry", "username", "password"} & credentials.keys()) != 3:
        raise ValueError(
            "registry_credentials must have keys 'registry', 'username' and 'password'"
        )
    return credentials
