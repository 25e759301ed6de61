"""A real headless Chromium for the report tests, driven through chromedriver's W3C WebDriver
HTTP API with the standard library only (no Selenium, no Playwright, no browser download).

Debian's ``chromium`` and ``chromium-driver`` packages (scripts/setup.sh installs them) give
``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` of the same version. :func:`unavailable`
says why a browser cannot be used here (None when it can); tests skip with that reason.

The browser runs with no network and no state: ``--headless --no-sandbox --disable-gpu
--disable-background-networking --disable-component-update --disable-sync --no-first-run``
and a fresh ``--user-data-dir``; its console (``goog:loggingPrefs``) is read back after each
page so a test can assert there were no errors.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def _find(*names) -> str | None:
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def binaries() -> tuple[str | None, str | None]:
    return (
        os.environ.get("BITSCALE_CHROMIUM") or _find("chromium", "chromium-browser"),
        os.environ.get("BITSCALE_CHROMEDRIVER") or _find("chromedriver"),
    )


def unavailable() -> str | None:
    """Why no browser test can run here, or None."""
    chrome, driver = binaries()
    if not chrome:
        return "no chromium on PATH (Debian: apt-get install chromium chromium-driver; scripts/setup.sh does)"
    if not driver:
        return "no chromedriver on PATH (Debian: apt-get install chromium-driver; scripts/setup.sh does)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One chromedriver process and one Chromium session. Use as a context manager."""

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 30.0):
        chrome, driver = binaries()
        if not chrome or not driver:
            raise RuntimeError(unavailable())
        self.chrome, self.driver = chrome, driver
        self.width, self.height, self.timeout = width, height, timeout
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="bitscale-chromium-")
        self.proc: subprocess.Popen | None = None
        self.session: str | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(
            [self.driver, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t_end = time.time() + self.timeout
        while True:
            try:
                self._req("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.time() > t_end or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError(f"chromedriver did not start on port {self.port}") from None
                time.sleep(0.1)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": self.chrome,
                        "args": CHROME_ARGS
                        + [f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}"],
                    },
                    "goog:loggingPrefs": {"browser": "ALL"},
                }
            }
        }
        try:
            self.session = self._req("POST", "/session", caps)["sessionId"]
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.session:
            try:
                self._req("DELETE", f"/session/{self.session}")
            except (RuntimeError, OSError, ValueError):  # a browser already gone: the driver is stopped below
                self.session = None
            self.session = None
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- WebDriver ------------------------------------------------------------------------------
    def _req(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                doc = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            doc = json.loads(e.read() or b"{}")
            v = doc.get("value", {})
            raise RuntimeError(f"WebDriver {method} {path}: {v.get('error')}: {v.get('message', '')[:500]}") from None
        return doc.get("value", doc)

    def _s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def open(self, path_or_url) -> None:
        url = str(path_or_url)
        if "://" not in url:
            url = Path(url).resolve().as_uri()
        self._req("POST", self._s("/url"), {"url": url})

    def js(self, script: str, *args):
        """Run ``script`` (a function body; ``arguments`` holds ``args``) and return its value."""
        return self._req("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def settle(self) -> None:
        """Wait until the browser has painted what the last call changed (two animation frames)."""
        self._req(
            "POST",
            self._s("/execute/async"),
            {
                "script": "const done = arguments[arguments.length - 1];"
                "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                "args": [],
            },
        )

    def find(self, css: str) -> str:
        v = self._req("POST", self._s("/element"), {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css: str) -> None:
        self._req("POST", self._s(f"/element/{self.find(css)}/click"), {})

    def type(self, css: str, text: str) -> None:
        self._req("POST", self._s(f"/element/{self.find(css)}/value"), {"text": text})

    def screenshot(self, path=None) -> bytes:
        self.settle()
        png = base64.b64decode(self._req("GET", self._s("/screenshot")))
        if path:
            Path(path).write_bytes(png)
        return png

    def element_screenshot(self, css: str, path=None) -> bytes:
        self.settle()
        png = base64.b64decode(self._req("GET", self._s(f"/element/{self.find(css)}/screenshot")))
        if path:
            Path(path).write_bytes(png)
        return png

    def full_page_screenshot(self, path=None, max_height: int = 16000) -> bytes:
        """The whole page: the window is resized to the document's height, then restored."""
        h = min(int(self.js("return Math.ceil(document.documentElement.scrollHeight)")), max_height)
        self._req("POST", self._s("/window/rect"), {"width": self.width, "height": h + 200})
        try:
            return self.screenshot(path)
        finally:
            self._req("POST", self._s("/window/rect"), {"width": self.width, "height": self.height})

    def console(self) -> list[dict]:
        """The browser console entries since the last call (level, message, source)."""
        return self._req("POST", self._s("/se/log"), {"type": "browser"})
