"""Allure metadata for glassbench runs: labels from the plan, environment.properties, categories.

The plugin calls `apply_allure_labels(item, plan)` at collection and `write_environment` /
`write_categories` at session end; `bench report` reuses `CATEGORIES` for Allure 3's config.
Failure classes are recognised by the first words of the failure message (see the constants below),
so harness exceptions should start their message with them, e.g. "DUT CRASH: hard fault at 0x…".
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import bench

LIMIT_EXCEEDED = "LIMIT EXCEEDED"
DUT_CRASH = "DUT CRASH"
LINK_LOST = "LINK LOST"
INSTRUMENT_FAULT = "INSTRUMENT FAULT"
PROTOCOL_VIOLATION = "PROTOCOL VIOLATION"
DUT_TIMEOUT = "DUT TIMEOUT"  # a hang: the DUT stopped answering (fuzz oracle, console or BLE timeouts)
BENCH_FAULT = "BENCH FAULT"  # the reference bench died or froze, a rig went away
BENCH_OVERLOADED = "BENCH OVERLOADED"  # the host starved the bench or the harness during the test
PAIRING_FAILED = "PAIRING FAILED"
LAB_ERROR, POOL_BUSY = "LAB ERROR", "POOL BUSY"  # no labgrid place, or no free DUT in the pool (docs/lab.md)

AREAS = ("smoke", "protocol", "latency", "power", "fuzz", "ota", "audio", "camera")


def _anywhere(*alternatives: str) -> str:
    # Allure 2 (Java) full-matches the regex, Allure 3 (JS) searches it: `[\s\S]*` works in both.
    return r"[\s\S]*(" + "|".join(alternatives) + r")[\s\S]*"


# Order matters: the first matching category wins. Exception type names are accepted too.
CATEGORIES: list[dict[str, Any]] = [
    # bench first: their messages quote the DUT-side error they explain ("...; the test stopped on: LINK LOST")
    {"name": "Bench overloaded", "matchedStatuses": ["broken"], "messageRegex": _anywhere(BENCH_OVERLOADED, r"BenchOverloaded\w*")},
    {"name": "Bench fault", "matchedStatuses": ["broken"], "messageRegex": _anywhere(BENCH_FAULT, r"BenchFault\w*")},
    {"name": "Limit exceeded", "matchedStatuses": ["failed"],
     "messageRegex": _anywhere(LIMIT_EXCEEDED, r"LimitExceeded\w*")},
    {"name": "DUT crash", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _anywhere(DUT_CRASH, r"DutCrash\w*", r"DUTCrash\w*")},
    {"name": "Link lost", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _anywhere(LINK_LOST, r"LinkLost\w*")},
    {"name": "Instrument fault", "matchedStatuses": ["broken"],
     "messageRegex": _anywhere(INSTRUMENT_FAULT, r"InstrumentFault\w*", r"VisaIOError")},
    {"name": "DUT hang", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _anywhere(DUT_TIMEOUT, r"DutTimeout\w*", r"FuzzHang\w*")},
    {"name": "Protocol violation", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _anywhere(PROTOCOL_VIOLATION, r"ProtocolViolation\w*", r"ProtocolError\w*")},
    {"name": "Pairing failed", "matchedStatuses": ["failed", "broken"],
     "messageRegex": _anywhere(PAIRING_FAILED, r"PairingFailed\w*")},
    {"name": "No DUT available", "matchedStatuses": ["broken"],
     "messageRegex": _anywhere(LAB_ERROR, POOL_BUSY, r"LabError\w*", r"PoolBusy\w*")},
    {"name": "Harness error", "matchedStatuses": ["broken"]},
    # any other failed assertion is the DUT's, not the bench's: a product defect (Allure's default
    # "Product errors" would do the same, but without saying the bench classes above were ruled out)
    {"name": "Product defect", "matchedStatuses": ["failed"]},
]
PRODUCT = ("Limit exceeded", "DUT crash", "DUT hang", "Protocol violation", "Pairing failed", "Link lost", "Product defect")
BENCH = ("Bench overloaded", "Bench fault", "Instrument fault", "No DUT available", "Harness error")


def classify(status: str, message: str, categories: Iterable[Mapping[str, Any]] = CATEGORIES) -> str | None:
    """Category name a result falls into (the same rule Allure applies), or None."""
    for cat in categories:
        if status not in cat.get("matchedStatuses", [status]):
            continue
        regex = cat.get("messageRegex")
        if regex is None or re.fullmatch(regex, message or ""):
            return cat["name"]
    return None


def write_categories(results_dir: str | Path) -> Path:
    """Write categories.json (Allure 2 format, also read by `bench report` for Allure 3)."""
    path = Path(results_dir) / "categories.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass
class EnvironmentInfo:
    """What QA needs to reproduce a run; empty fields are left out of environment.properties."""

    firmware_version: str = ""
    board: str = ""
    sku: str = ""
    serial_number: str = ""
    bench_id: str = ""
    plan: str = ""
    instruments: dict[str, str] = field(default_factory=dict)  # role → identity (*IDN? / PPK2 metadata)
    harness_version: str = bench.__version__
    git_commit: str = ""
    profile: str = ""
    capabilities: list[str] = field(default_factory=list)
    link: dict[str, str] = field(default_factory=dict)  # link.* (bench/links/link_params.LinkState.environment)
    run_id: str = ""

    def properties(self) -> dict[str, str]:
        props = {
            "firmware.version": self.firmware_version, "dut.board": self.board, "dut.sku": self.sku,
            "dut.serial": self.serial_number, "bench.id": self.bench_id, "plan": self.plan,
            "harness.version": self.harness_version, "git.commit": self.git_commit or git_commit(),
            "dut.profile": self.profile, "dut.capabilities": ", ".join(self.capabilities), "run.id": self.run_id,
        }
        props.update({f"instrument.{role}": ident for role, ident in sorted(self.instruments.items())})
        props.update(self.link)
        return {k: v for k, v in props.items() if v}


def git_commit(repo: str | Path | None = None) -> str:
    """HEAD commit of the harness checkout, with "-dirty" when there are local changes; "" if unknown."""
    cwd = Path(repo) if repo else Path(bench.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha + ("-dirty" if dirty else "")


def _escape_properties(text: str, key: bool) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        out = re.sub(r"([=: ])", r"\\\1", out)
    return out


def write_environment(results_dir: str | Path, info: EnvironmentInfo | Mapping[str, str]) -> Path:
    """Write environment.properties (Java properties syntax) into the Allure results dir."""
    props = info.properties() if isinstance(info, EnvironmentInfo) else dict(info)
    path = Path(results_dir) / "environment.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{_escape_properties(k, True)}={_escape_properties(str(v), False)}" for k, v in props.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def area_of(item: Any) -> str:
    """The test's area: its first area marker (smoke, latency, …), else its module name without test_."""
    for marker in item.iter_markers():
        if marker.name in AREAS:
            return marker.name
    module = Path(str(getattr(item, "fspath", "") or item.nodeid.split("::")[0])).stem
    return module.removeprefix("test_") or module


def labels_for(item: Any, plan: Any) -> dict[str, Any]:
    """Labels and links a test gets from the plan (pure function, testable without pytest): epic the plan,
    feature the area, story the requirement it verifies (else the test), severity from a ``severity`` marker
    or the plan (globs on the test name, ``@marker`` keys on its markers), requirement links when the plan's
    ``requirement_url`` makes a URL of the id (else a ``requirement`` label each)."""
    name = getattr(item, "originalname", None) or item.name
    reqs = list(plan.requirements_of(name))
    for marker in item.iter_markers("requirement"):
        reqs += [r for r in marker.args if r not in reqs]
    titles = [f"{r} {plan.requirements[r].title}" if r in plan.requirements else r for r in reqs]
    marked = next((m.args[0] for m in item.iter_markers("severity") if m.args), None)
    urls = [(plan.requirement_url.format(id=r), r) for r in reqs]
    return {
        "epic": plan.name,
        "feature": area_of(item),
        "story": titles[0] if titles else name,
        "severity": marked or plan.severity_of(name, [m.name for m in item.iter_markers()]),
        "links": [(url, r) for url, r in urls if "://" in url],
        "requirements": [r for url, r in urls if "://" not in url],
    }


def apply_allure_labels(item: Any, plan: Any) -> None:
    """Add epic/feature/story/severity labels and requirement links as allure-pytest markers.

    Call from pytest_collection_modifyitems. Labels the test sets itself (@allure.feature…) win.
    No-op when allure-pytest is not loaded (its markers would be unknown under --strict-markers).
    """
    import pytest

    if not item.config.pluginmanager.hasplugin("allure_pytest"):
        return
    existing = {m.kwargs.get("label_type") for m in item.iter_markers("allure_label")}
    wanted = labels_for(item, plan)
    for label in ("epic", "feature", "story", "severity"):
        if label not in existing:
            item.add_marker(pytest.mark.allure_label(wanted[label], label_type=label))
    for url, name in wanted["links"]:
        item.add_marker(pytest.mark.allure_link(url, name=name, link_type="tms"))
    for req in wanted["requirements"]:
        item.add_marker(pytest.mark.allure_label(req, label_type="requirement"))


# CI systems and the variables that say which build a run belongs to (Allure executor.json)
EXECUTORS: list[tuple[str, str, str, str, str, str]] = [
    # (name, type, env var that identifies it, build number, build name, build URL)
    ("GitHub Actions", "github", "GITHUB_ACTIONS", "GITHUB_RUN_NUMBER", "GITHUB_WORKFLOW", ""),
    ("GitLab CI", "gitlab", "GITLAB_CI", "CI_PIPELINE_IID", "CI_JOB_NAME", "CI_JOB_URL"),
    ("Jenkins", "jenkins", "JENKINS_URL", "BUILD_NUMBER", "JOB_NAME", "BUILD_URL"),
    ("Buildkite", "buildkite", "BUILDKITE", "BUILDKITE_BUILD_NUMBER", "BUILDKITE_PIPELINE_SLUG", "BUILDKITE_BUILD_URL"),
]


def executor_info(environ: Mapping[str, str]) -> dict[str, Any]:
    """Allure's executor.json for the CI this runs in (name, type, build number/name/URL), or a local one."""
    for name, kind, marker, number, build, url in EXECUTORS:
        if environ.get(marker):
            info: dict[str, Any] = {"name": name, "type": kind, "buildName": environ.get(build, "")}
            if environ.get(number, "").isdigit():
                info["buildOrder"] = int(environ[number])
            build_url = environ.get(url, "") if url else ""
            if kind == "github" and environ.get("GITHUB_SERVER_URL") and environ.get("GITHUB_RUN_ID"):
                build_url = f"{environ['GITHUB_SERVER_URL']}/{environ.get('GITHUB_REPOSITORY', '')}/actions/runs/" \
                            f"{environ['GITHUB_RUN_ID']}"
            if build_url:
                info["buildUrl"] = build_url
            return info
    return {"name": "local", "type": "local", "buildName": environ.get("GLASSBENCH_RUN_ID", "")}


def write_executor(results_dir: str | Path, environ: Mapping[str, str] | None = None, run_id: str = "") -> Path:
    """executor.json into the Allure results dir (which CI build produced them)."""
    import os

    path = Path(results_dir) / "executor.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    info = executor_info(os.environ if environ is None else environ)
    if run_id:
        info["reportName"] = f"run {run_id}"
        info["buildName"] = info.get("buildName") or run_id
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return path


def attach_measurement(record: Mapping[str, Any]) -> None:
    """Attach one measurement record to the running Allure test as JSON named "measurement NAME"."""
    import allure

    allure.attach(json.dumps(dict(record), indent=2, default=str), name=f"measurement {record.get('name')}",
                  attachment_type=allure.attachment_type.JSON)
