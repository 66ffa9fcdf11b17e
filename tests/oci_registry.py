"""A real OCI registry on loopback: Debian's docker-registry (the CNCF distribution
registry), optionally with TLS (a throwaway CA) and htpasswd authentication.

tests/conftest.py starts one of each kind on first use and keeps it for the
session (`oci_registry`, `oci_registry_tls`, `oci_registry_auth`, or
`oci_registries.get(auth=..., tls=...)`).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fakes.k8s_tls import make_tls

START_TIMEOUT = 20.0
USERNAME = "bhsvc-pusher"


@dataclass(frozen=True)
class Registry:
    """A running registry: where it is, how to trust it and how to log in."""

    host: str  # 127.0.0.1:PORT
    ca_file: Path | None  # TLS: the CA of its certificate; None: plain HTTP
    log_file: Path
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://{self.host}"

    def oci(self, path: str) -> str:
        """An oci:// reference below this registry, for helm."""
        return f"oci://{self.host}/{path}"

    def helm_flags(self) -> list[str]:
        """What helm's registry commands need to reach it."""
        return ["--ca-file", str(self.ca_file)] if self.ca_file else ["--plain-http"]

    def log(self) -> str:
        """The registry's log so far (its access log included)."""
        return self.log_file.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _htpasswd_line(username: str, password: str) -> str:
    import bcrypt

    # Cost 4 (the least): the registry checks the hash on every request.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{username}:{hashed}\n"


def _answers(registry: Registry) -> bool:
    """Whether GET /v2/ gets an HTTP answer (200, or 401 with auth)."""
    context = ssl.create_default_context(cafile=str(registry.ca_file)) if registry.ca_file else None
    try:
        with urllib.request.urlopen(f"{registry.url}/v2/", timeout=2, context=context):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@dataclass
class RunningRegistry:
    registry: Registry
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_registry(binary: str, workdir: Path, *, auth: bool, tls: bool) -> RunningRegistry:
    """`docker-registry serve CONFIG` on a free loopback port, once it answers."""
    workdir.mkdir(parents=True)
    host = f"127.0.0.1:{_free_port()}"
    http: dict[str, object] = {"addr": host, "secret": secrets.token_hex(16)}
    ca_file = None
    if tls:
        certs = make_tls()
        ca_file = workdir / "ca.pem"
        ca_file.write_bytes(certs.ca_pem)
        (workdir / "cert.pem").write_bytes(certs.cert_pem)
        (workdir / "key.pem").write_bytes(certs.key_pem)
        http["tls"] = {
            "certificate": str(workdir / "cert.pem"),
            "key": str(workdir / "key.pem"),
        }
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "data")},
            "delete": {"enabled": True},
        },
        "http": http,
    }
    username = password = None
    if auth:
        username, password = USERNAME, secrets.token_urlsafe(18)
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(_htpasswd_line(username, password))
        config["auth"] = {"htpasswd": {"realm": "bhsvc-tests", "path": str(htpasswd)}}
    config_file = workdir / "config.yml"
    config_file.write_text(yaml.safe_dump(config))
    registry = Registry(host, ca_file, workdir / "registry.log", username, password)
    with registry.log_file.open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config_file)], stdout=log, stderr=subprocess.STDOUT
        )
    running = RunningRegistry(registry, process)
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(registry):
        if process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"docker-registry did not start on {host}:\n{registry.log()}")
        time.sleep(0.1)
    return running


class Registries:
    """One registry of each kind (auth, tls), started on first use."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self._binary = binary
        self._workdir = workdir
        self._running: dict[tuple[bool, bool], RunningRegistry] = {}

    def get(self, *, auth: bool = False, tls: bool = False) -> Registry:
        key = (auth, tls)
        if key not in self._running:
            name = f"registry-{'auth' if auth else 'open'}-{'tls' if tls else 'http'}"
            self._running[key] = start_registry(
                self._binary, self._workdir / name, auth=auth, tls=tls
            )
        return self._running[key].registry

    def close(self) -> None:
        for running in self._running.values():
            with contextlib.suppress(OSError):
                running.stop()
        self._running.clear()
