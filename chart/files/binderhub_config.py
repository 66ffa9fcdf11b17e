"""BinderHub configuration file of the binderhub-service Helm chart.

The chart mounts this file next to chart-config.yaml, a YAML rendering of
the chart values that concern BinderHub:

- ``config``: ``config.<Class>.<trait>`` becomes ``c.<Class>.<trait>``;
- ``extraConfig``: Python snippets, run in the sorted order of their names
  after ``config`` is loaded; they see ``c`` and ``get_chart_config``;
- ``custom``: free-form values for the snippets to read;
- ``gkeWorkloadIdentity.enabled``: keyless Artifact Registry; the registry
  class in gke_workload_identity.py (next to this file) becomes
  ``BinderHub.registry_class`` unless ``config`` sets one.

The secrets every replica must share (build token, cookie) are files in
``$BINDERHUB_SECRETS_DIR``, read before the ``extraConfig`` snippets run.
"""

import importlib.util
import os
import sys

import yaml

CHART_CONFIG_PATH = os.environ.get(
    "BINDERHUB_CHART_CONFIG",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "chart-config.yaml"),
)

_chart_config_cache = []


def _load_chart_config():
    if not _chart_config_cache:
        with open(CHART_CONFIG_PATH) as f:
            _chart_config_cache.append(yaml.safe_load(f) or {})
    return _chart_config_cache[0]


def get_chart_config(config_path=None, default=None):
    """Return the chart config, or the part at a dotted path such as
    "custom.my.setting" (``default`` when the path does not resolve)."""
    value = _load_chart_config()
    if not config_path:
        return value
    for key in config_path.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def _read_shared_secret(name):
    """A secret shared by all replicas, from the directory the chart mounts
    them in ("" when there is none)."""
    directory = os.environ.get("BINDERHUB_SECRETS_DIR", "")
    path = os.path.join(directory, name)
    if not directory or not os.path.isfile(path):
        return ""
    with open(path) as f:
        return f.read().strip()


def _use_shared_cookie_secret(secret):
    """Sign cookies with a secret shared by all replicas.

    BinderHub signs its login and OAuth state cookies with a secret drawn at
    random when it starts, so two replicas reject each other's cookies. The
    tornado application exists only after this file has been loaded, so the
    shared secret is put in place when BinderHub starts serving.
    """
    from binderhub.app import BinderHub

    start = BinderHub.start

    def start_with_shared_cookie_secret(self, *args, **kwargs):
        self.tornado_settings["cookie_secret"] = secret
        self.tornado_app.settings["cookie_secret"] = secret
        return start(self, *args, **kwargs)

    BinderHub.start = start_with_shared_cookie_secret


def _load_registry_module():
    """gke_workload_identity.py, the file beside this one, as a module."""
    name = "binderhub_service_gke_workload_identity"
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gke_workload_identity.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


c = get_config()  # noqa: F821 (provided by traitlets when loading this file)

for _class_name, _traits in sorted((get_chart_config("config") or {}).items()):
    if _traits:
        print(f"binderhub-service: loading config.{_class_name}")
        c[_class_name].update(_traits)

# Without these, each BinderHub process draws its own at random: a build
# token or cookie made by one replica would be refused by another.
_build_token_secret = _read_shared_secret("build-token-secret")
if _build_token_secret and "build_token_secret" not in c.BinderHub:
    print("binderhub-service: using the shared build token secret")
    c.BinderHub.build_token_secret = _build_token_secret  # hex, as BinderHub reads it

if get_chart_config("gkeWorkloadIdentity.enabled") and "registry_class" not in c.BinderHub:
    print("binderhub-service: pushing with Workload Identity (gke_workload_identity.py)")
    c.BinderHub.registry_class = _load_registry_module().WorkloadIdentityRegistry

_cookie_secret = _read_shared_secret("cookie-secret")
if _cookie_secret:
    print("binderhub-service: using the shared cookie secret")
    _use_shared_cookie_secret(_cookie_secret.encode())

for _name, _snippet in sorted((get_chart_config("extraConfig") or {}).items()):
    if not _snippet:
        continue
    print(f"binderhub-service: running extraConfig.{_name}")
    exec(compile(_snippet, f"extraConfig.{_name}", "exec"))
