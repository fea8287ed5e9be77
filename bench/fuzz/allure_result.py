"""A fuzz failure as its own Allure test result: the minimal example, transcript and console attached.

Under pytest with allure-pytest, `attach(failure)` adds the three attachments to the running test.
From the command line, `write_result(failure, dir)` writes an allure-results entry (result JSON +
attachment files) so the failure shows up in the report like any test, in its category.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from bench.fuzz.oracles import FuzzFailure

STATUS = {"crash": "failed", "hang": "broken", "violation": "failed"}  # a crash is a product defect (DutCrash)


def _texts(failure: FuzzFailure) -> dict[str, str]:
    return {"minimal example": failure.sequence(), "transcript": failure.transcript,
            "console log": "\n".join(failure.console)}


def attach(failure: FuzzFailure) -> None:
    """Attach to the current pytest/Allure test (no-op without allure-pytest)."""
    try:
        import allure
    except ImportError:
        return
    for name, text in _texts(failure).items():
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def write_result(failure: FuzzFailure, results_dir: Path, name: str | None = None) -> Path:
    """Write one Allure result for `failure` into `results_dir`; returns the result file."""
    results_dir.mkdir(parents=True, exist_ok=True)
    now_ms = int(time.time() * 1000)
    attachments = []
    for title, text in _texts(failure).items():
        source = f"{uuid.uuid4()}-attachment.txt"
        (results_dir / source).write_text(text, encoding="utf-8")
        attachments.append({"name": title, "source": source, "type": "text/plain"})
    test_name = name or f"fuzz {failure.target}: {failure.kind}"
    result = {
        "uuid": str(uuid.uuid4()), "historyId": f"fuzz-{failure.target}-{failure.kind}",
        "name": test_name, "fullName": f"bench.fuzz.{failure.target}.{failure.kind}",
        "status": STATUS[failure.kind], "stage": "finished", "start": now_ms, "stop": now_ms,
        "statusDetails": {"message": str(failure), "trace": failure.report()},
        "labels": [{"name": "suite", "value": "fuzz"}, {"name": "feature", "value": "fuzz"},
                   {"name": "tag", "value": failure.kind}, {"name": "severity", "value": "critical"}],
        "attachments": attachments, "parameters": [{"name": "target", "value": failure.target}],
    }
    path = results_dir / f"{result['uuid']}-result.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return path
