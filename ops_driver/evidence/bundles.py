"""Evidence bundles: ``$OPS_EVIDENCE_DIR/<run_id>/`` for every plan and apply (architecture.md).

Files: ``request.yml`` (secrets redacted), ``changes.json``, ``events.jsonl``, ``stdout.txt``, ``report.md``
and ``manifest.json``, which holds the SHA-256 of every other file. ``verify`` recomputes them. A role may add
**attachments** (``set_stats`` key ``ops_attachments``: ``{name: text}``, e.g. the CSV of an ESA inventory or the
HAT saved before a change): each is written as ``attachment-<name>`` and listed in the manifest like the others.
:func:`write_bundle` writes them all from the run's record (``contract.RunRecord``).

**An apply is on the record from its first second.** Under the environment lock, before its playbook starts, the
apply writes its bundle ahead (:func:`start_bundle`): ``start.json`` (the manifest with ``status: running``, the run
ID, plan ID, operator, the driver's host, PID and process start time, and where its private files are) and a
``manifest.json`` that lists only it; its ``start`` ledger line holds the SHA-256 of ``start.json``. Every
ansible-runner event is then appended to ``events.jsonl`` as it arrives (:class:`EventStream`, buffered, flushed at
every task and host-result boundary, never fsync'd per event). The finished run's :func:`write_bundle` completes the
same folder (``start.json`` stays, listed in the new manifest); a run that died is closed by ``recovery`` as
``interrupted``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops_driver.errors import InvalidInput
from ops_driver.i18n import N_
from ops_driver.paths import evidence_dir
from ops_driver.run.contract import RunRecord
from ops_driver.run.manifest import Manifest

BUNDLE_FILES = ("request.yml", "changes.json", "events.jsonl", "stdout.txt", "report.md")
MANIFEST = "manifest.json"
#: The manifest written ahead of an apply (status ``running``); kept in the finished bundle.
START = "start.json"
EVENTS = "events.jsonl"
RUNNING = "running"
INTERRUPTED = "interrupted"
#: Events after which the stream is flushed: a task or play starts, a host starts or ends a task, the run ends.
FLUSH_AT = frozenset({"playbook_on_play_start", "playbook_on_task_start", "playbook_on_handler_task_start",
                      "runner_on_start", "runner_on_ok", "runner_on_failed", "runner_on_skipped",
                      "runner_on_unreachable", "runner_item_on_ok", "runner_item_on_failed", "playbook_on_stats"})


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: Any) -> dt.datetime | None:
    """A manifest's time (:func:`iso`, or any ISO 8601 text; one without an offset is taken as UTC) as an aware
    datetime; None for anything else (a missing key, not a string, not a time)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def new_run_id(kind: str, task: str, now: dt.datetime | None = None) -> str:
    """``<UTC yyyymmddThhmmssZ>-<task>-<kind>-<6 hex>``, e.g. ``20261122T021500Z-INFO-005-plan-3fa9c1``."""
    now = now or utc_now()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{task}-{kind}-{secrets.token_hex(3)}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Scrubber:
    """Replaces every secret value with ``********`` in text written to evidence."""

    def __init__(self, values: Iterable[str]):
        self.values = sorted({v for v in values if v and len(v) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self.values:
            text = text.replace(v, "********")
        return text


@dataclass
class Bundle:
    run_id: str
    path: Path

    def manifest(self) -> Manifest:
        """``manifest.json`` as written (typed :class:`~ops_driver.run.manifest.Manifest`, but data from disk: a reader
        checks the values it uses). InvalidInput (exit 2) when it is not readable JSON."""
        try:
            data: Manifest = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InvalidInput(f"run {self.run_id}: manifest.json unreadable: {e}") from None
        return data

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))


def bundle(run_id: str, base: Path | None = None) -> Bundle:
    """The bundle of ``run_id``; InvalidInput (exit 2) when there is none."""
    base = base or evidence_dir()
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise InvalidInput(f"run ID {run_id!r} is not a run ID (see `ls {base}`)")
    path = base / run_id
    if not (path / MANIFEST).is_file():
        raise InvalidInput(f"run ID {run_id!r}: no evidence bundle in {base}; "
                           "plan first with `ops-driver plan REQUEST.yml` and use the run ID it prints")
    return Bundle(run_id, path)


def all_bundles(base: Path | None = None) -> list[Bundle]:
    base = base or evidence_dir()
    if not base.is_dir():
        return []
    return [Bundle(p.name, p) for p in sorted(base.iterdir()) if (p / MANIFEST).is_file()]


ATTACHMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def attachment_file(name: str) -> str:
    """The bundle file name of an attachment; InvalidInput for a name that is not a plain file name."""
    if not ATTACHMENT_NAME.match(name):
        raise InvalidInput(f"attachment name {name!r}: use letters, digits, '.', '_' and '-' only")
    return f"attachment-{name}"


def _dump_event(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, sort_keys=True, default=str) + "\n"


def start_bundle(run_id: str, manifest: Manifest, scrub: Scrubber, base: Path | None = None) -> str:
    """Write the bundle of an apply ahead of its run: ``start.json`` (``manifest``, which says ``status: running``),
    an empty ``events.jsonl`` and a ``manifest.json`` listing ``start.json``. Returns the SHA-256 of ``start.json``
    (the ``start`` ledger line's). FileExistsError when the bundle exists already."""
    base = base or evidence_dir()
    path = base / run_id
    path.mkdir(parents=True, exist_ok=False)
    text = scrub(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True)) + "\n"
    (path / START).write_text(text, encoding="utf-8")
    (path / EVENTS).touch()
    digest = sha256_file(path / START)
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(scrub(json.dumps(dict(manifest, files={START: digest}), indent=2, ensure_ascii=False,
                                    sort_keys=True)) + "\n", encoding="utf-8")
    os.replace(tmp, path / MANIFEST)
    return digest


class EventStream:
    """Appends ansible-runner events to a running bundle's ``events.jsonl`` as they arrive (one JSON line each,
    every text through ``scrub``), flushing after the events in :data:`FLUSH_AT`, so that a run killed with SIGKILL
    still shows every task that started and every host result. Buffered writes, no fsync: the page cache survives
    the death of the process (not of the machine)."""

    def __init__(self, bundle_path: Path, scrub: Scrubber) -> None:
        self.scrub = scrub
        self._f = (bundle_path / EVENTS).open("a", encoding="utf-8", buffering=1 << 16)

    def __call__(self, event: dict[str, Any]) -> None:
        self._f.write(self.scrub(_dump_event(event)))
        if event.get("event") in FLUSH_AT:
            self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The events of an ``events.jsonl`` written so far: (events that parse, number of lines that did not, e.g. the
    last one cut short by a kill)."""
    events, bad = [], 0
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if isinstance(event, dict):
                    events.append(event)
                else:
                    bad += 1
    except OSError:
        return [], 0
    return events, bad


def write_bundle(record: RunRecord, scrub: Scrubber, base: Path | None = None) -> Bundle:
    """Write the bundle of ``record`` into ``base/<run_id>/``: ``request.yml`` (``record.request``),
    ``changes.json``, ``events.jsonl``, ``stdout.txt``, ``report.md`` (``record.report``), one
    ``attachment-<name>`` per attachment (see the module docstring) and ``manifest.json``; every text passes through
    ``scrub``. Returns the bundle.

    The manifest is ``record.manifest`` with ``files``: ``{name: sha256}`` for every other file. Raises InvalidInput
    for an attachment name that is not a plain file name, before anything is written; FileExistsError when the
    bundle exists already, unless it is the bundle of this apply written ahead (:func:`start_bundle`): its
    ``start.json`` is kept and listed.
    """
    base = base or evidence_dir()
    extra = {attachment_file(name): str(text) for name, text in sorted(record.attachments.items())}
    path = base / record.run_id
    ahead = (path / START).is_file()
    path.mkdir(parents=True, exist_ok=ahead)
    texts = {
        "request.yml": yaml.safe_dump(record.request, allow_unicode=True, sort_keys=False),
        "changes.json": json.dumps(record.changes, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
        "events.jsonl": "".join(_dump_event(e) for e in record.events),
        "stdout.txt": record.stdout,
        "report.md": record.report,
    }
    texts.update(extra)
    files = {START: sha256_file(path / START)} if ahead else {}
    for name in texts:
        target = path / name
        target.write_text(scrub(texts[name]), encoding="utf-8")
        files[name] = sha256_file(target)
    manifest = dict(record.manifest, files=files)
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(scrub(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True)) + "\n", encoding="utf-8")
    os.replace(tmp, path / MANIFEST)
    return Bundle(record.run_id, path)


def verify(b: Bundle) -> list[str]:
    """Problems with a bundle: a file missing, altered or added. Empty when the bundle is intact.

    A bundle written ahead of a run that has not been closed (``status: running``) holds ``start.json``, checked
    against its manifest, and the events streamed so far (whether its process is alive is ``recovery``'s question).
    """
    try:
        manifest = b.manifest()
    except InvalidInput as e:
        return [str(e)]
    files = manifest.get("files") or {}
    problems = []
    if manifest.get("status") == RUNNING:
        if not (b.path / START).is_file():
            return [MISSING.format(file=START)]
        if sha256_file(b.path / START) != files.get(START):
            return [ALTERED.format(file=START)]
        return []
    for name in BUNDLE_FILES:
        if name not in files:
            problems.append(NOT_LISTED.format(file=name))
    for name, digest in sorted(files.items()):
        p = b.path / name
        if not p.is_file():
            problems.append(MISSING.format(file=name))
        elif sha256_file(p) != digest:
            problems.append(ALTERED.format(file=name))
    for p in sorted(b.path.iterdir()):
        if p.name not in files and p.name != MANIFEST:
            problems.append(NOT_PART.format(file=p.name))
    return problems


#: The problems :func:`verify` finds, in English (the monthly record shows them in the reader's language).
MISSING = N_("{file}: missing")
ALTERED = N_("{file}: altered (SHA-256 differs from manifest.json)")
NOT_LISTED = N_("{file}: not listed in manifest.json")
NOT_PART = N_("{file}: not part of the bundle")
PROBLEMS = (ALTERED, NOT_LISTED, NOT_PART, MISSING)
