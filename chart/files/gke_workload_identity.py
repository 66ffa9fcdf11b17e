"""A BinderHub registry class for Google Artifact Registry without a key.

Part of the binderhub-service Helm chart: with gkeWorkloadIdentity.enabled,
binderhub_config.py loads this file and sets BinderHub.registry_class to
WorkloadIdentityRegistry (unless config.BinderHub.registry_class is set).

On GKE with Workload Identity Federation, BinderHub's Kubernetes
ServiceAccount is annotated with the pusher's Google service account, and the
GKE metadata server hands BinderHub that account's access tokens. One token:

- lets BinderHub ask the registry whether an image exists
  (binderhub.registry.GoogleArtifactRegistry does that part);
- is given to each build as its push credentials: BinderHub puts what
  get_credentials returns on the build (registry_credentials), and repo2docker
  receives it as CONTAINER_ENGINE_REGISTRY_CREDENTIALS and logs in with it
  just before it pushes. No key and no push Secret exist.

An access token lives at most an hour, and the metadata server may hand out
one it has cached, with less time left: a build whose push starts after the
token expired fails to log in. Starting the build again gets a new token.

The metadata server is found as google-auth finds it: GCE_METADATA_HOST (or
the older GCE_METADATA_ROOT), else metadata.google.internal.
"""

import json
import os
from urllib.parse import urlparse

from binderhub.registry import GoogleArtifactRegistry
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Integer, default

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
# Artifact Registry takes an access token as the password of this user.
TOKEN_USERNAME = "oauth2accesstoken"


def metadata_host():
    """host[:port] of the metadata server, as google-auth reads it."""
    return (
        os.environ.get("GCE_METADATA_HOST")
        or os.environ.get("GCE_METADATA_ROOT")
        or "metadata.google.internal"
    )


class WorkloadIdentityRegistry(GoogleArtifactRegistry):
    """Image lookups and per-build push credentials from the metadata server's
    access tokens (the Google service account of BinderHub's ServiceAccount)."""

    short_token_seconds = Integer(
        1800,
        help="Warn when the token a build gets has less time left than this (seconds).",
        config=True,
    )

    @default("token_url")
    def _default_token_url(self):
        return f"http://{metadata_host()}{TOKEN_PATH}"

    async def _metadata_token(self):
        """(access token, seconds it has left) from the metadata server."""
        request = HTTPRequest(
            self.token_url, headers={"Metadata-Flavor": "Google"}, request_timeout=10
        )
        response = await AsyncHTTPClient().fetch(request)
        try:
            body = json.loads(response.body.decode("utf-8", "replace"))
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            # The answer is not shown: it may hold credentials of another kind.
            raise ValueError(f"{self.token_url} answered without an access token") from None
        return token, int(body.get("expires_in") or 0)

    async def _get_token(self, client, token_url, service, scope):
        # Image lookups (DockerRegistry.get_image_manifest) use the token as a Bearer token.
        token, _ = await self._metadata_token()
        return token

    async def get_credentials(self, image, tag):
        """The build's push credentials: the registry host, oauth2accesstoken and a token."""
        token, seconds = await self._metadata_token()
        registry = urlparse(self.url).netloc
        if seconds < self.short_token_seconds:
            self.log.warning(
                "The push token for %s:%s expires in %d s: a build that takes longer cannot push",
                image,
                tag,
                seconds,
            )
        else:
            self.log.info("Push token for %s:%s, valid %d s more", image, tag, seconds)
        return {"registry": registry, "username": TOKEN_USERNAME, "password": token}
