"""A fuzz failure as Allure evidence: the minimal example, its replay command and steps file, the corpus
entry, the transcript and the console.

`save_evidence(...)` writes the files a failure leaves behind (the steps file ``bench fuzz --replay``
reads, and the hypothesis corpus entry of the shrunk example in a run-local corpus folder, ready to
commit). Under pytest with allure-pytest, `attach(failure, evidence)` adds everything to the running test.
From the command line, `write_result(failure, dir, evidence=...)` writes an allure-results entry (result
JSON + attachment files) so the failure shows up in the report like any test, in its category.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from bench.fuzz.oracles import FuzzFailure

STATUS = {"crash": "failed", "hang": "broken", "violation": "failed"}  # a crash is a product defect (DutCrash)
RUN_CORPUS = "fuzz-corpus"  # in the output folder: this run's failing corpus entries (hypothesis database layout)


@dataclass
class FuzzEvidence:
    """Files a fuzz failure left behind, and the one line that reruns it."""

    steps_file: Path | None = None  # the minimal example, for `bench fuzz --replay FILE`
    replay: str = ""  # that command
    corpus_files: list[Path] = field(default_factory=list)  # hypothesis database entries of the shrunk example
    corpus_note: str = ""  # where they go (or why there are none)

    def text(self) -> str:
        lines = [self.replay or "(this profile's fuzz model cannot replay saved steps: no replay command)"]
        if self.steps_file is not None:
            lines.append(f"steps file: {self.steps_file}")
        lines += [f"corpus entry: {p}" for p in self.corpus_files]
        if self.corpus_note:
            lines.append(self.corpus_note)
        return "\n".join(lines)


def corpus_files(folder: Path, values: Iterable[bytes]) -> list[Path]:
    """The files of a hypothesis directory database that hold ``values``."""
    wanted = set(values)
    if not wanted or not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.read_bytes() in wanted)


def save_evidence(model: Any, corpus: Any, failure: FuzzFailure, out_dir: Path,
                  replay_command: Callable[[Path], str]) -> FuzzEvidence:
    """Write the steps file (models that can dump steps) and this run's new failing corpus entries into
    ``out_dir``; ``replay_command(steps_file)`` is the line that reruns it."""
    from bench.fuzz.corpus import CorpusDatabase

    ev = FuzzEvidence()
    dump = getattr(model, "dump_steps", None)
    if dump is not None:
        ev.steps_file = Path(dump(failure.steps, out_dir / f"fuzz-minimal-{failure.target}.json"))
        ev.replay = replay_command(ev.steps_file)
    values = corpus.failures() if corpus is not None else []
    if values:
        run_corpus = out_dir / RUN_CORPUS
        CorpusDatabase(run_corpus, key=corpus.key).commit(values)
        ev.corpus_files = corpus_files(run_corpus, values)
        ev.corpus_note = (f"to keep it in the corpus: copy {run_corpus}/* into {corpus.path}/ "
                          f"(or run `bench fuzz` without --no-save, which commits it)")
    elif corpus is not None:
        ev.corpus_note = f"no new corpus entry: the failing example is one of {corpus.path}'s own (a corpus replay)"
    return ev


def _texts(failure: FuzzFailure, evidence: FuzzEvidence | None) -> dict[str, str]:
    texts = {"minimal example": failure.sequence(), "transcript": failure.transcript,
             "console log": "\n".join(failure.console)}
    if evidence is not None:
        texts["replay command"] = evidence.text()
    return texts


def _files(evidence: FuzzEvidence | None) -> list[tuple[str, Path, str]]:
    """(name, path, MIME type) of the files to attach."""
    if evidence is None:
        return []
    files = [(f"steps file {evidence.steps_file.name}", evidence.steps_file, "application/json")] \
        if evidence.steps_file is not None and evidence.steps_file.is_file() else []
    return files + [(f"corpus entry {p.parent.name}/{p.name}", p, "application/octet-stream")
                    for p in evidence.corpus_files if p.is_file()]


def attach(failure: FuzzFailure, evidence: FuzzEvidence | None = None) -> None:
    """Attach to the current pytest/Allure test (no-op without allure-pytest)."""
    try:
        import allure
    except ImportError:
        return
    for name, text in _texts(failure, evidence).items():
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
    for name, path, mime in _files(evidence):
        kind = allure.attachment_type.JSON if mime == "application/json" else None
        allure.attach.file(str(path), name=name, attachment_type=kind, extension=None if kind else "bin")


def write_result(failure: FuzzFailure, results_dir: Path, name: str | None = None,
                 evidence: FuzzEvidence | None = None) -> Path:
    """Write one Allure result for `failure` into `results_dir`; returns the result file."""
    results_dir.mkdir(parents=True, exist_ok=True)
    now_ms = int(time.time() * 1000)
    attachments = []
    for title, text in _texts(failure, evidence).items():
        source = f"{uuid.uuid4()}-attachment.txt"
        (results_dir / source).write_text(text, encoding="utf-8")
        attachments.append({"name": title, "source": source, "type": "text/plain"})
    for title, path, mime in _files(evidence):
        source = f"{uuid.uuid4()}-attachment{'.json' if mime == 'application/json' else '.bin'}"
        shutil.copyfile(path, results_dir / source)
        attachments.append({"name": title, "source": source, "type": mime})
    test_name = name or f"fuzz {failure.target}: {failure.kind}"
    trace = failure.report() + (f"\n\nreplay: {evidence.replay}" if evidence is not None and evidence.replay else "")
    result = {
        "uuid": str(uuid.uuid4()), "historyId": f"fuzz-{failure.target}-{failure.kind}",
        "name": test_name, "fullName": f"bench.fuzz.{failure.target}.{failure.kind}",
        "status": STATUS[failure.kind], "stage": "finished", "start": now_ms, "stop": now_ms,
        "statusDetails": {"message": str(failure), "trace": trace},
        "labels": [{"name": "suite", "value": "fuzz"}, {"name": "feature", "value": "fuzz"},
                   {"name": "tag", "value": failure.kind}, {"name": "severity", "value": "critical"}],
        "attachments": attachments, "parameters": [{"name": "target", "value": failure.target}],
    }
    path = results_dir / f"{result['uuid']}-result.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return path
