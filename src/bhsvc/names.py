"""Name rules shared by the config model and the code that runs before it is built."""

from __future__ import annotations

# RFC 1123 label: namespaces, service names.
LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
# Helm release names: dot-separated labels.
RELEASE = rf"{LABEL}(\.{LABEL})*"
DEFAULT_RELEASE = "binderhub"

# Environment variables that may hold a secret for bhsvc itself (a registry
# password, a hub token): never handed on to the programs bhsvc runs.
REGISTRY_PASSWORD_ENV = "BHSVC_REGISTRY_PASSWORD"
HUB_TOKEN_ENV = "BHSVC_TOKEN"
PRIVATE_ENV = (REGISTRY_PASSWORD_ENV, HUB_TOKEN_ENV)
