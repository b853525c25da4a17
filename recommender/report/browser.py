"""Open a report in headless Chromium and check that it renders (used by tests and the screenshot script).

A minimal Chrome DevTools Protocol client (``websocket-client``, in the ``test``
extra) drives one page: it records console errors, uncaught exceptions and every
network request, waits until the page's script has drawn its plots, reads DOM
facts, takes screenshots, and decodes PNGs with :mod:`zlib` to measure pixel
variance (a blank plot has none). Nothing here is imported by the report builder.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None when none is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageCheck:
    """What a headless load of a page showed.

    Attributes:
        console_errors: ``console.error`` messages and error-level log entries.
        exceptions: Uncaught JavaScript exceptions.
        external_requests: Requests to anything but ``file:``, ``data:``, ``blob:``, ``about:``.
        dom: Facts read after the scripts ran (see :func:`check_page`).
        plot_variance: Element id -> pixel variance of its screenshot (0 = blank).
        screenshot_png: Full-page screenshot (PNG bytes) when requested.
    """

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    dom: dict[str, Any] = field(default_factory=dict)
    plot_variance: dict[str, float] = field(default_factory=dict)
    screenshot_png: bytes | None = None


class _Cdp:
    """Flat-session CDP over one websocket to the browser target."""

    def __init__(self, ws_url: str, timeout_s: float) -> None:
        import websocket  # websocket-client, test extra

        self._ws = websocket.create_connection(ws_url, timeout=timeout_s, suppress_origin=True)
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout_s: float = 60.0) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            data = json.loads(self._ws.recv())
            if data.get("id") == self._next:
                if "error" in data:
                    raise RuntimeError(f"CDP {method} failed: {data['error']}")
                return data.get("result", {})
            self.events.append(data)
        raise TimeoutError(f"CDP {method} got no answer in {timeout_s} s")

    def pump(self, seconds: float) -> None:
        """Read events for a while (console messages arrive asynchronously)."""
        import websocket

        end = time.monotonic() + seconds
        self._ws.settimeout(0.1)
        try:
            while time.monotonic() < end:
                try:
                    self.events.append(json.loads(self._ws.recv()))
                except websocket.WebSocketTimeoutException:
                    continue
        finally:
            self._ws.settimeout(60)

    def close(self) -> None:
        self._ws.close()


def _start(chromium: str, profile: str, width: int, height: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        if "DevTools listening on " in line:
            return proc, line.split("DevTools listening on ", 1)[1].strip()
    proc.kill()
    raise RuntimeError("chromium did not start its DevTools endpoint:\n" + "".join(lines[-20:]))


_DOM_JS = """
JSON.stringify({
  plots: document.querySelectorAll('div.plot').length,
  drawn: document.body.getAttribute('data-plots-drawn'),
  failed: document.body.getAttribute('data-plots-failed'),
  mainSvg: document.querySelectorAll('.main-svg').length,
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
  plotIds: Array.from(document.querySelectorAll('div.plot')).map(d => d.id),
  plotsWithSvg: Array.from(document.querySelectorAll('div.plot')).filter(d => d.querySelector('.main-svg')).map(d => d.id),
  flowNodes: document.querySelectorAll('svg.flow .flow-node').length,
  verdicts: Array.from(document.querySelectorAll('#claims .badge')).map(b => b.textContent),
  title: document.title,
  height: document.documentElement.scrollHeight
})
"""


def check_page(html_path: str | Path, screenshot: bool = True, width: int = 1400, height: int = 900, timeout_s: float = 90.0) -> PageCheck:
    """Load a report in headless Chromium and collect what happened.

    Args:
        html_path: The HTML file.
        screenshot: Also capture a full-page screenshot.
        width: Viewport width, CSS px.
        height: Viewport height, CSS px.
        timeout_s: Longest wait for the plots to be drawn, seconds.

    Raises:
        FileNotFoundError: No Chromium installed.
        RuntimeError: Chromium failed to start or the page never finished drawing.
    """
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium binary on PATH")
    url = Path(html_path).resolve().as_uri()
    result = PageCheck()
    # Chromium's helper processes (crashpad) can still be writing into the profile for a moment
    # after the browser exits; a leftover temporary profile must not fail the page check.
    with tempfile.TemporaryDirectory(prefix="eai-chromium-", ignore_cleanup_errors=True) as profile:
        proc, ws_url = _start(chromium, profile, width, height)
        cdp = None
        try:
            cdp = _Cdp(ws_url, timeout_s)
            target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                cdp.call(f"{domain}.enable", session=session)
            cdp.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
            cdp.call("Page.navigate", {"url": url}, session=session)
            deadline = time.monotonic() + timeout_s
            dom: dict[str, Any] = {}
            while time.monotonic() < deadline:
                res = cdp.call("Runtime.evaluate", {"expression": _DOM_JS, "returnByValue": True}, session=session)
                value = res.get("result", {}).get("value")
                dom = json.loads(value) if isinstance(value, str) else {}
                if dom.get("drawn") is not None:
                    break
                cdp.pump(0.25)
            else:
                raise RuntimeError(f"page did not finish drawing within {timeout_s} s: {dom}")
            cdp.pump(0.5)  # let late console messages and plotly's async layout settle
            res = cdp.call("Runtime.evaluate", {"expression": _DOM_JS, "returnByValue": True}, session=session)
            result.dom = json.loads(res["result"]["value"])
            for pid in result.dom.get("plotIds", []):
                result.plot_variance[pid] = _element_variance(cdp, session, pid)
            if screenshot:
                full_h = int(result.dom.get("height") or height)
                shot = cdp.call(
                    "Page.captureScreenshot",
                    {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": full_h, "scale": 1}},
                    session=session,
                    timeout_s=120,
                )
                result.screenshot_png = base64.b64decode(shot["data"])
            _collect(cdp.events, result)
            try:
                cdp.call("Browser.close", timeout_s=10)
            except (RuntimeError, TimeoutError, OSError):
                pass  # the process is terminated below either way
        finally:
            if cdp is not None:
                cdp.close()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return result


def _element_variance(cdp: _Cdp, session: str, element_id: str) -> float:
    """Pixel variance of one element's screenshot (half scale, enough to tell blank from drawn)."""
    expr = f"JSON.stringify((function(){{var e=document.getElementById({json.dumps(element_id)});e.scrollIntoView();var r=e.getBoundingClientRect();return {{x:r.left+window.scrollX,y:r.top+window.scrollY,w:r.width,h:r.height}};}})())"
    rect = json.loads(cdp.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)["result"]["value"])
    if rect["w"] < 2 or rect["h"] < 2:
        return 0.0
    shot = cdp.call(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {"x": rect["x"], "y": rect["y"], "width": rect["w"], "height": rect["h"], "scale": 0.5}},
        session=session,
    )
    return png_variance(base64.b64decode(shot["data"]))


def _collect(events: list[dict[str, Any]], result: PageCheck) -> None:
    for ev in events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            result.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            result.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            result.exceptions.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Network.requestWillBeSent":
            req_url = params.get("request", {}).get("url", "")
            if not req_url.startswith(("file:", "data:", "blob:", "about:")):
                result.external_requests.append(req_url)


# ---------------------------------------------------------------- PNG


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Decode an 8-bit, non-interlaced greyscale/RGB/RGBA PNG.

    Returns:
        (width, height, channels, raw pixel bytes row-major).

    Raises:
        ValueError: Not a PNG this decoder handles.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, [], 0
    height = depth = ctype = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {ctype}, interlace {interlace}")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    i = 0
    for y in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        if ftype == 1:
            for x in range(channels, stride):
                line[x] = (line[x] + line[x - channels]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif ftype == 3:
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
        elif ftype == 4:
            for x in range(stride):
                a = line[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        elif ftype != 0:
            raise ValueError(f"bad PNG filter type {ftype} in row {y}")
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


def png_variance(data: bytes) -> float:
    """Variance of the grey level (mean of the colour channels) over all pixels of a PNG."""
    w, h, ch, px = decode_png(data)
    colour = min(ch, 3)
    n = w * h
    if n == 0:
        return 0.0
    total = total_sq = 0.0
    for k in range(n):
        g = sum(px[k * ch : k * ch + colour]) / colour
        total += g
        total_sq += g * g
    mean = total / n
    return total_sq / n - mean * mean


def save_screenshot(html_path: str | Path, out_png: str | Path, width: int = 1400) -> PageCheck:
    """Render a report and write its full-page screenshot (e.g. docs/report-screenshot.png)."""
    check = check_page(html_path, screenshot=True, width=width)
    if check.screenshot_png is None:
        raise RuntimeError("chromium returned no screenshot")
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    Path(out_png).write_bytes(check.screenshot_png)
    return check


if __name__ == "__main__":  # pragma: no cover - manual use: python -m recommender.report.browser report.html out.png
    import sys

    chk = save_screenshot(sys.argv[1], sys.argv[2]) if len(sys.argv) > 2 else check_page(sys.argv[1], screenshot=False)
    print(json.dumps({"dom": chk.dom, "console_errors": chk.console_errors, "exceptions": chk.exceptions, "external": chk.external_requests, "variance": chk.plot_variance}, indent=1))

