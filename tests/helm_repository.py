"""A helm chart repository on loopback: a folder of charts packaged with `helm
package`, indexed with `helm repo index`, served over HTTP, every request logged.

tests/conftest.py serves one with stand-in z2jh charts for the whole session and
points bhsvc at it (BHSVC_HUB_CHART_REPO), so no test reaches hub.jupyter.org.
"""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
from functools import partial
from pathlib import Path
from typing import Any

import yaml


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, log: list[str], login: str | None, **kwargs: Any) -> None:
        self._log = log
        self._login = login
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._log.append(self.path)
        if self._login is not None and self.headers.get("Authorization") != self._login:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log above is what tests read


class HelmRepository:
    """`add(chart_dir)` packages and indexes a chart; `url` is the repository's URL;
    `requests` the paths asked for, in order. With `login` (user, password) it
    answers only requests with that HTTP basic authentication."""

    def __init__(self, folder: Path, helm: Path, login: tuple[str, str] | None = None) -> None:
        self.folder = folder
        self.helm = helm
        folder.mkdir(parents=True, exist_ok=True)
        self.requests: list[str] = []
        basic = None
        if login is not None:
            basic = "Basic " + base64.b64encode(":".join(login).encode()).decode()
        handler = partial(_Handler, log=self.requests, login=basic, directory=str(folder))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def add(self, chart: Path) -> Path:
        """The chart packaged into the repository (and the index made again): its .tgz."""
        self._helm("package", str(chart), "--destination", str(self.folder))
        self._helm("repo", "index", str(self.folder), "--url", self.url)
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        return self.folder / f"{meta['name']}-{meta['version']}.tgz"

    def _helm(self, *args: str) -> None:
        subprocess.run([str(self.helm), *args], check=True, capture_output=True, timeout=60)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
