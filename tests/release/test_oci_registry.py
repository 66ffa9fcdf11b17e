"""The docker config.json bhsvc writes for a generic registry authenticates a real
client: skopeo pushes a small image (an OCI layout made here) with it to a real
registry with htpasswd authentication, and a wrong password is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bhsvc.config import load_config
from bhsvc.registry.credentials import docker_config_json, load_credentials
from oci_images import oci_layout, skopeo
from oci_registry import Registry

# How skopeo's error ends when the registry refuses the auth file's credentials
# (skopeo 1.9, distribution 2.8): the CLI's advice can match it.
REFUSED = "unauthorized: authentication required"


def bhsvc_auth_file(registry: Registry, tmp_path: Path, server: str, password: str) -> Path:
    """bhsvc's docker config.json for a generic registry, from a real bhsvc.yaml."""
    (tmp_path / "registry-password").write_text(password + "\n")
    config = tmp_path / "bhsvc.yaml"
    config.write_text(yaml.safe_dump({
        "version": 1,
        "kube": {"namespace": "binder"},
        "registry": {
            "provider": "generic",
            "server": server,
            "username": registry.username,
            "password_file": "registry-password",
            "image_prefix": f"{registry.host}/bhsvc-test/binder-",
        },
    }))  # fmt: skip
    auth = tmp_path / "config.json"
    auth.write_text(docker_config_json(load_credentials(load_config(config))))
    auth.chmod(0o600)
    return auth


def certs_dir(registry: Registry, tmp_path: Path) -> Path:
    """The registry's CA as containers/image reads it (a folder of *.crt files)."""
    assert registry.ca_file is not None
    folder = tmp_path / "certs"
    folder.mkdir(exist_ok=True)
    (folder / "ca.crt").write_bytes(registry.ca_file.read_bytes())
    return folder


@pytest.mark.parametrize("form", ["url", "host"])
def test_bhsvc_docker_config_authenticates_a_real_client(
    form: str, oci_registry_auth: Registry, skopeo_path: str, tmp_path: Path
) -> None:
    registry = oci_registry_auth
    assert registry.password is not None
    # registry.server as users write it: https://host:port or host:port.
    server = registry.url if form == "url" else registry.host
    auth = bhsvc_auth_file(registry, tmp_path, server, registry.password)
    manifest = oci_layout(tmp_path / "layout", "1")
    image = f"docker://{registry.host}/bhsvc-test/binder-{form}:1"
    certs = str(certs_dir(registry, tmp_path))

    pushed = skopeo(skopeo_path, tmp_path, "copy", "--dest-authfile", str(auth),
                    "--dest-cert-dir", certs, f"oci:{tmp_path / 'layout'}:1", image)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    raw = skopeo(skopeo_path, tmp_path, "inspect", "--raw", "--authfile", str(auth),
                 "--cert-dir", certs, image)  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    assert json.loads(raw.stdout) == json.loads(manifest)
    # The registry, which asks every client for a login, took the manifest.
    assert any(
        'msg="authorized request"' in line and "http.request.method=PUT" in line
        and f"uri=/v2/bhsvc-test/binder-{form}/manifests/1 " in line
        for line in registry.log().splitlines()
    )  # fmt: skip


def test_a_wrong_password_is_refused_by_the_registry(
    oci_registry_auth: Registry, skopeo_path: str, tmp_path: Path
) -> None:
    registry = oci_registry_auth
    auth = bhsvc_auth_file(registry, tmp_path, registry.url, "not-the-password")
    manifest = json.loads(oci_layout(tmp_path / "layout", "1"))
    layer = manifest["layers"][0]["digest"]
    image = f"docker://{registry.host}/bhsvc-test/binder-refused:1"
    pushed = skopeo(skopeo_path, tmp_path, "copy", "--dest-authfile", str(auth),
                    "--dest-cert-dir", str(certs_dir(registry, tmp_path)),
                    f"oci:{tmp_path / 'layout'}:1", image)  # fmt: skip
    assert pushed.returncode != 0
    # skopeo's exact words: bhsvc's advice for a refused push can match them.
    message = pushed.stderr.strip().split(" msg=", 1)[1]
    assert message == (
        f'"trying to reuse blob {layer} at destination: checking whether a blob {layer} '
        f'exists in {registry.host}/bhsvc-test/binder-refused: {REFUSED}"'
    )
    assert "not-the-password" not in pushed.stderr


def test_an_anonymous_client_is_refused(oci_registry_auth: Registry, tmp_path: Path) -> None:
    """The fixture really asks for a login (what verify's manifest check relies on)."""
    import ssl
    import urllib.error
    import urllib.request

    assert oci_registry_auth.ca_file is not None
    context = ssl.create_default_context(cafile=str(oci_registry_auth.ca_file))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{oci_registry_auth.url}/v2/", timeout=5, context=context)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"] == 'Basic realm="bhsvc-tests"'
