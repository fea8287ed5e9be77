"""The generated single-file report, rendered by headless Chromium, shows what the results say.

Counts and the measurement attachment are read from the rendered DOM (Chromium's --dump-dom), not from
the report's data files, so a report that generates but does not render fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.report.html import ALLURE_BIN, generate_report
from bench.report.sample import SAMPLE_ATTACHMENT, SAMPLE_COUNTS, make_sample_results

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "out" / "browser"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("headless Chromium not found: `apt-get install -y chromium` (the project's set-up does it)")
    return exe


def _run_chromium(url: str, profile: Path, *extra: str) -> str:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
           "--virtual-time-budget=5000", *extra, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium exit {proc.returncode}: {proc.stderr[-1500:]}"
    return proc.stdout


class TextByTestId(HTMLParser):
    """Text content of every element that has a data-testid, per testid, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, int]] = []  # (testid, index into texts[testid])
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        testid = dict(attrs).get("data-testid")
        self.stack.append((tag, testid))
        if tag in ("script", "style"):
            self._skip += 1
        if testid:
            self.texts.setdefault(testid, []).append("")
            self._open.append((testid, len(self.texts[testid]) - 1))

    def handle_endtag(self, tag):
        while self.stack:
            t, testid = self.stack.pop()
            if t in ("script", "style"):
                self._skip -= 1
            if testid:
                self._open.pop()
            if t == tag:
                break

    def handle_data(self, data):
        if self._skip:
            return
        for testid, i in self._open:
            self.texts[testid][i] += data + " "


def rendered(url: str, profile: Path) -> dict[str, list[str]]:
    parser = TextByTestId()
    parser.feed(_run_chromium(url, profile, "--dump-dom"))
    return {k: [re.sub(r"\s+", " ", t).strip() for t in v] for k, v in parser.texts.items()}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not ALLURE_BIN.exists():
        pytest.fail(f"Allure 3 not installed ({ALLURE_BIN}): run `npm ci` (make setup)")
    work = tmp_path_factory.mktemp("browser-report")
    info = generate_report(make_sample_results(work / "sample"), work / "report.html", history=None)
    return info, work


def test_report_shows_counts_and_screenshot(report):
    info, work = report
    url = info.html.as_uri()
    texts = rendered(url, work / "profile-counts")
    for status in ("total", "passed", "failed", "broken"):
        items = texts.get(f"metadata-item-{status}")
        assert items, f"no metadata-item-{status} in the rendered report (testids: {sorted(texts)[:30]})"
        numbers = re.findall(r"\d+", items[0])
        assert numbers and int(numbers[-1]) == SAMPLE_COUNTS[status], f"{status}: rendered {items[0]!r}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "report.png"
    shot.unlink(missing_ok=True)
    _run_chromium(url, work / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1000")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no screenshot at {shot}"


def test_report_shows_categories(report):
    info, work = report
    page = " ".join(" ".join(v) for v in rendered(info.html.as_uri() + "#/categories", work / "p-cat").values())
    for category in ("Limit exceeded", "DUT crash", "Harness error"):
        assert category in page, f"category {category!r} not rendered"


def test_report_shows_measurement_attachment(report):
    info, work = report
    passed = [t for t in info.tests if t["name"] == "test_connect_time"]
    assert passed, f"sample test missing from the report: {info.tests}"
    texts = rendered(f"{info.html.as_uri()}#/{passed[0]['id']}", work / "profile-test")
    attachments = texts.get("test-result-attachment", [])
    assert any(SAMPLE_ATTACHMENT in a for a in attachments), f"attachments rendered: {attachments}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    _run_chromium(f"{info.html.as_uri()}#/{passed[0]['id']}", work / "profile-shot2",
                  f"--screenshot={SHOTS / 'report-test.png'}", "--window-size=1400,1000")
