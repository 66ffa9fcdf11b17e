"""Name rules shared by the config model and the code that runs before it is built."""

from __future__ import annotations

# RFC 1123 label: namespaces, service names.
LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
# Helm release names: dot-separated labels.
RELEASE = rf"{LABEL}(\.{LABEL})*"
DEFAULT_RELEASE = "binderhub"
