"""Fixtures of the lifecycle tests.

`image_report`: render an HTML page in headless Chromium (Debian's `chromium`) and report how each
image loaded.

The page is served from its directory on a loopback port next to a harness page that loads it in
an iframe; once the iframe has loaded, the harness writes `{"src", "alt", "loaded"}` for every
`<img>` (loaded: decoded with a non-zero natural width) into its DOM, which `--dump-dom` prints.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "chromium"
# Flags known to work on these machines: headless as root, no network beyond loopback.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
]
HARNESS = """<!DOCTYPE html><html><body><iframe id="page" src="{page}" width="1200" height="900"></iframe>
<script>
document.getElementById("page").addEventListener("load", function () {{
  var doc = document.getElementById("page").contentDocument;
  var images = Array.prototype.map.call(doc.images, function (image) {{
    return {{src: image.src.slice(0, 40), alt: image.alt, loaded: image.complete && image.naturalWidth > 0}};
  }});
  var out = document.createElement("pre");
  out.id = "result";
  out.textContent = JSON.stringify({{title: doc.title, images: images}});
  document.body.appendChild(out);
}});
</script></body></html>
"""


def image_report(page: Path) -> dict[str, Any]:
    """`{"title": ..., "images": [{"src", "alt", "loaded"}, ...]}` of `page` as Chromium renders it."""
    binary = shutil.which(CHROMIUM)
    if binary is None:
        raise RuntimeError("chromium is not installed: run scripts/setup.sh (it installs Debian's chromium)")
    harness = page.parent / f".harness-{page.stem}.html"
    harness.write_text(HARNESS.format(page=page.name))
    handler = functools.partial(_QuietHandler, directory=str(page.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            url = f"http://127.0.0.1:{server.server_address[1]}/{harness.name}"
            result = subprocess.run(
                [binary, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
    finally:
        server.shutdown()
        server.server_close()
        harness.unlink()
    match = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    if match is None:
        raise RuntimeError(f"chromium printed no result (exit {result.returncode}): {result.stderr[-2000:]}")
    return dict(json.loads(html.unescape(match.group(1))))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """No access log on the test's output."""


@pytest.fixture(name="image_report")
def image_report_fixture() -> Any:
    """The `image_report(page)` function (a fixture: test modules here are not a package)."""
    return image_report
