"""A helm chart repository on loopback: a folder of charts packaged with `helm
package`, indexed with `helm repo index`, served over HTTP, every request logged.

tests/conftest.py serves one with stand-in z2jh charts for the whole session and
points bhsvc at it (BHSVC_HUB_CHART_REPO), so no test reaches hub.jupyter.org.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from functools import partial
from pathlib import Path
from typing import Any

import yaml


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, log: list[str], **kwargs: Any) -> None:
        self._log = log
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._log.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log above is what tests read


class HelmRepository:
    """`add(chart_dir)` packages and indexes a chart; `url` is the repository's URL;
    `requests` the paths asked for, in order."""

    def __init__(self, folder: Path, helm: Path) -> None:
        self.folder = folder
        self.helm = helm
        folder.mkdir(parents=True, exist_ok=True)
        self.requests: list[str] = []
        handler = partial(_Handler, log=self.requests, directory=str(folder))
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
