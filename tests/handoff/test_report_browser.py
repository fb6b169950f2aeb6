"""The plateau report in a real browser. ``promptopt report`` (ablations included, so the widest
table is there) on the plateau run of the real optimizer with the fake model (the ``world`` of
:mod:`tests.handoff.test_report`), opened in headless Chromium at laptop size (1366 x 768): the
verdict renders, every plot loads, the page raises and logs no error, the body does not scroll
sideways and no text is under 12 px (one page load, one test: each build costs seconds); a
screenshot is a non-blank PNG. The same checks run on the report of a real run: the committed
it_service_tickets reference run of the embedded model (``--no-ablations``: no model call),
when the shared datasets are beside the repo.

A copy of the page beside it carries the probe: error hooks at the top of ``<head>``, and a
script that, on window load, writes the images' states, the widths and every text's font size as
JSON into ``<pre id="browser-probe">``, read back from ``--dump-dom``.

Without a Chromium binary on PATH the tests skip, unless ``PROMPTOPT_REQUIRE_BROWSER=1`` (CI sets
it): then they fail. ``PROMPTOPT_REPORT_SCREENSHOT=PATH`` also copies the real run's
screenshot to PATH (that is how ``docs/img/report.png`` is made).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image as mpimg

from tests.conftest import Invoke
from tests.handoff import test_report
from tests.handoff.worlds import World

WORLD = test_report.WORLD  # the same task and runs as the report's own tests
fake_evaluator = test_report.fake_evaluator  # the ablations' fake model, through a real Evaluator

REPO = Path(__file__).resolve().parents[2]
REAL_RUN = "20261204-142042-it_service_tickets-ccd733b7"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1366, 768
MIN_FONT_PX = 12.0
PROBE_ID = "browser-probe"
SCREENSHOT_ENV = "PROMPTOPT_REPORT_SCREENSHOT"

# First thing in <head>: collect script errors, failed loads (capture phase), rejections and
# console.error calls before the page runs anything else.
HOOKS = """<script>
window.__probeErrors = [];
window.addEventListener("error", function (e) {
  var t = e.target && e.target.tagName ? " (" + e.target.tagName + ")" : "";
  window.__probeErrors.push("error: " + (e.message || "a resource failed to load") + t);
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__probeErrors.push("unhandled rejection: " + e.reason);
});
var __consoleError = console.error;
console.error = function () {
  window.__probeErrors.push("console.error: " + Array.prototype.join.call(arguments, " "));
  return __consoleError.apply(console, arguments);
};
</script>"""

# Last thing in <body>: on load, the page's state as JSON in <pre id="browser-probe">.
PROBE = """<script>
window.addEventListener("load", function () {
  var root = document.documentElement, view = root.clientWidth, texts = [], wide = [];
  Array.prototype.forEach.call(document.body.querySelectorAll("*"), function (el) {
    var own = Array.prototype.some.call(el.childNodes, function (n) {
      return n.nodeType === 3 && n.textContent.trim() !== "";
    });
    var box = el.getBoundingClientRect();
    if (own && el.tagName !== "SCRIPT") {
      texts.push({tag: el.tagName, px: parseFloat(getComputedStyle(el).fontSize),
                  text: el.textContent.trim().slice(0, 40)});
    }
    if (box.right > view + 0.5) { wide.push(el.tagName + " right=" + Math.round(box.right)); }
  });
  var images = Array.prototype.map.call(document.images, function (img) {
    return {alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth,
            naturalHeight: img.naturalHeight, shownWidth: img.getBoundingClientRect().width};
  });
  var headings = Array.prototype.map.call(document.querySelectorAll("h1, h2"), function (h) {
    return {text: h.textContent, height: h.getBoundingClientRect().height};
  });
  var pre = document.createElement("pre");
  pre.id = "browser-probe";
  pre.textContent = JSON.stringify({
    innerWidth: window.innerWidth, clientWidth: view, scrollWidth: root.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth, wide: wide.slice(0, 10), texts: texts,
    images: images, headings: headings, errors: window.__probeErrors
  });
  document.body.appendChild(pre);
});
</script>"""


@dataclass(frozen=True)
class Visit:
    """One load of the probed page: Chromium's DOM dump, its log and the probe's summary."""

    dom: str
    log: str
    probe: dict[str, Any]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser binary; skips (fails with PROMPTOPT_REQUIRE_BROWSER=1) when there is none."""
    found = next((path for path in map(shutil.which, BROWSERS) if path), None)
    if found is None:
        reason = f"no Chromium binary on PATH (tried {', '.join(BROWSERS)}; apt-get install -y chromium)"
        if os.environ.get("PROMPTOPT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and PROMPTOPT_REQUIRE_BROWSER=1 requires one")
        pytest.skip(f"{reason}; set PROMPTOPT_REQUIRE_BROWSER=1 to fail instead")
    return found


@pytest.fixture
def report(world: World, tmp_path: Path, fake_evaluator: Any, invoke: Invoke) -> Path:
    """``report.html`` of the plateau run, with its ablations scored by the fake model."""
    out = tmp_path / "report"
    result = invoke(
        "report",
        str(world.plateau_run),
        "--data-dir",
        str(world.data_dir),
        "--limit",
        "12",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.flat
    return out / "report.html"


@pytest.fixture
def real_report(data_dir: Path, tmp_path: Path, invoke: Invoke) -> Path:
    """``report.html`` of a real run: the committed reference run of the embedded model."""
    out = tmp_path / "real-report"
    run = str(REPO / "benchmarks" / "reference-runs" / REAL_RUN)
    result = invoke("report", run, "--no-ablations", "--data-dir", str(data_dir), "--out", str(out))
    assert result.exit_code == 0, result.flat
    return out / "report.html"


@pytest.fixture
def visit(chromium: str, report: Path, tmp_path: Path) -> Visit:
    return load_page(chromium, report, tmp_path)


def load_page(chromium: str, report: Path, tmp_path: Path) -> Visit:
    probed = report.with_name("report.probe.html")
    probed.write_text(with_probe(report.read_text(encoding="utf-8")), encoding="utf-8")
    proc = run_chromium(chromium, tmp_path / "profile", "--dump-dom", probed.as_uri())
    found = re.search(rf'<pre id="{PROBE_ID}">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the probe did not run (no load event?); Chromium's log:\n{proc.stderr[-3000:]}"
    return Visit(dom=proc.stdout, log=proc.stderr, probe=json.loads(html.unescape(found.group(1))))


def with_probe(page: str) -> str:
    """``page`` with the error hooks first in ``<head>`` and the load probe last in ``<body>``."""
    assert page.count("<head>") == 1 and page.count("</body>") == 1, "not the report's page layout"
    return page.replace("<head>", "<head>\n" + HOOKS, 1).replace("</body>", PROBE + "\n</body>", 1)


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium at laptop size, with its own profile and the page's console on stderr."""
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def console_lines(log: str, page: str) -> list[str]:
    """Chromium's log lines of the page's console (``CONSOLE``) and uncaught exceptions."""
    return [line for line in log.splitlines() if ("CONSOLE" in line or "Uncaught" in line) and page in line]


def assert_the_verdict_renders(visit: Visit, title: str, verdict: str) -> None:
    headings = visit.probe["headings"]
    names = [h["text"] for h in headings]
    assert names and names[0].startswith(f"Plateau report: {title}"), names
    assert "Verdict" in names and names.index("Verdict") == 1, f"the verdict is not first: {names}"
    assert all(h["height"] > 0 for h in headings), f"a heading is not rendered: {headings}"
    assert "<h2>Verdict</h2>" in visit.dom and f"<strong>{verdict}</strong>" in visit.dom


def assert_every_plot_loads(visit: Visit, page: str) -> None:
    images = visit.probe["images"]
    assert len(images) == page.count("<img ") >= 5, f"{len(images)} images in the DOM: {images}"
    broken = [i for i in images if not (i["complete"] and i["naturalWidth"] > 0 and i["naturalHeight"] > 0)]
    assert broken == [], f"plots that did not load: {broken}"
    assert all(0 < i["shownWidth"] <= WIDTH for i in images), f"plots not shown in the window: {images}"


def assert_no_error(visit: Visit) -> None:
    assert visit.probe["errors"] == [], f"errors in the page: {visit.probe['errors']}"
    logged = console_lines(visit.log, "report.probe.html")
    assert logged == [], f"the page's console, in Chromium's log: {logged}"


def assert_no_sideways_scrolling(visit: Visit) -> None:
    probe = visit.probe
    assert probe["innerWidth"] == WIDTH, f"the window is {probe['innerWidth']} px wide, not {WIDTH}"
    widest = max(probe["scrollWidth"], probe["bodyScrollWidth"])
    assert widest <= probe["clientWidth"], (
        f"the page is {widest} px wide in a {probe['clientWidth']} px viewport; too wide: {probe['wide']}"
    )


def assert_no_small_text(visit: Visit) -> None:
    texts = visit.probe["texts"]
    assert len(texts) > 50, f"the probe found almost no text: {texts}"
    small = [t for t in texts if t["px"] < MIN_FONT_PX]
    assert small == [], f"{len(small)} texts under {MIN_FONT_PX:g} px, e.g. {small[:5]}"


def test_the_report_reads_well_in_chromium_at_laptop_width(visit: Visit, report: Path) -> None:
    assert_the_verdict_renders(visit, "fake", "Ceiling found.")
    assert_reads_well(visit, report)


def test_a_real_runs_report_reads_well_in_chromium(chromium: str, real_report: Path, tmp_path: Path) -> None:
    visit = load_page(chromium, real_report, tmp_path)
    assert_the_verdict_renders(visit, "it_service_tickets", "Ceiling not resolved.")
    assert_reads_well(visit, real_report)
    shot = screenshot(chromium, real_report, tmp_path)
    if target := os.environ.get(SCREENSHOT_ENV):
        Path(target).write_bytes(shot)


def assert_reads_well(visit: Visit, report: Path) -> None:
    assert_every_plot_loads(visit, report.read_text(encoding="utf-8"))
    assert_no_error(visit)
    assert_no_sideways_scrolling(visit)
    assert_no_small_text(visit)


def test_a_screenshot_is_a_non_blank_png(chromium: str, report: Path, tmp_path: Path) -> None:
    screenshot(chromium, report, tmp_path)


def screenshot(chromium: str, report: Path, tmp_path: Path) -> bytes:
    """The page at laptop size as PNG bytes, checked to be a PNG of that size with content."""
    shot = tmp_path / "report.png"
    run_chromium(chromium, tmp_path / "profile", "--hide-scrollbars", f"--screenshot={shot}", report.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pixels = np.asarray(mpimg.imread(shot))[..., :3]
    assert pixels.shape == (HEIGHT, WIDTH, 3), pixels.shape
    ink = float(np.mean(np.any(pixels < 0.9, axis=-1)))  # share of pixels that are not (near) white
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert ink > 0.02 and colours > 50, f"a blank screenshot: {ink:.1%} ink, {colours} colours"
    return data
