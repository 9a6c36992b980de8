"""Records of manual work (``ops-driver record``, issue #26 item 1): the operations team's own record that a catalog
task was done, found not good, or skipped on a day — the status of work kept in an operations support tool
(運用支援ツール, core list row 9 各種作業状況管理), which the weekly and monthly record (実施実績) is made from.

A record is an evidence bundle of kind ``record`` (``$OPS_EVIDENCE_DIR/<run_id>/``, run ID
``<UTC time>-<task>-record-<6 hex>``) and a ``record`` line of the ledger holding the SHA-256 of its
``manifest.json``, exactly like a plan or an apply, so that ``evidence list``, ``verify`` and ``show`` treat it as
any other bundle. Files: ``request.yml`` (what was recorded, as given), ``changes.json`` (``[]``: a record changes
nothing), ``events.jsonl`` and ``stdout.txt`` (empty), ``report.md`` (the record in words) and one
``attachment-<n>-<name>`` per ``--attach`` file, copied byte for byte, with its SHA-256 and size in the manifest.

The manifest: ``run_id``, ``kind`` (``record``), ``task``, ``environment``, ``date`` (the day the work was done,
Asia/Tokyo, ISO), ``result`` (:data:`RESULTS`), ``note``, ``status`` (= ``result``), ``exit_code`` 0,
``started_at``/``ended_at`` (UTC, when it was recorded), ``operator``, ``operator_source``, ``os_account``
(:func:`ops_driver.evidence.identity.acting`: the OS account; a declared name in the sandbox only),
``attachments`` (``[{name, file, sha256, bytes}]``), ``today_override`` when ``$OPS_TODAY`` set the day, and
``files`` (SHA-256 of every other file).

Refused before anything is written (InvalidInput, exit 2): an unknown task, a result not in :data:`RESULTS`, an
unknown environment, a date that is not ``YYYY-MM-DD`` or lies in the future (Asia/Tokyo), an ``ng`` without a
note, a note or attachment name with a control or format character or longer than the limit of a request field,
more than :data:`MAX_ATTACHMENTS` attachments, an attachment that is missing, not a regular file, unreadable or
larger than :data:`MAX_ATTACHMENT_BYTES`. A declared operator outside the sandbox is refused with exit 4, as for a
plan. The bundle is written in a hidden folder and renamed into place, then its ledger line appended; if the
ledger refuses the line the bundle is removed again (nothing is left behind).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops_driver import i18n, untrusted
from ops_driver.catalog import Catalog, Task, load_catalog
from ops_driver.errors import InvalidInput
from ops_driver.evidence import bundles, identity, ledger
from ops_driver.evidence.guards import today as policy_today
from ops_driver.paths import ENVIRONMENTS, evidence_dir, read_bytes
from ops_driver.records.due import parse_date

KIND = "record"
#: What ``--result`` may say: the work was done; done and found not good (a finding: ``--note`` says what);
#: not done on purpose (e.g. nothing to do that day; ``--note`` says why, optionally).
RESULTS = ("done", "ng", "skipped")
#: The largest attachment, in bytes (a screenshot or an exported CSV: 20 MiB).
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
#: The most attachments one record holds.
MAX_ATTACHMENTS = 20
#: Where a record is made when ``--environment`` is not given: the production estate (as the monthly record).
DEFAULT_ENVIRONMENT = "prod"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Attachment:
    """One ``--attach`` file: ``name`` as given (its base name), ``file`` the bundle's file name, ``sha256``,
    ``size`` in bytes and its ``data``."""

    name: str
    file: str
    sha256: str
    size: int
    data: bytes

    def manifest(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "sha256": self.sha256, "bytes": self.size}


@dataclass(frozen=True)
class Recorded:
    """A record written: its ``run_id``, bundle ``path`` and ``manifest`` (with ``files``)."""

    run_id: str
    path: Path
    manifest: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The JSON of ``ops-driver record --json``."""
        return {"run_id": self.run_id, "path": str(self.path), **{k: self.manifest.get(k) for k in (
            "kind", "task", "environment", "date", "result", "note", "operator", "attachments")}}


def _file_name(index: int, name: str) -> str:
    """``attachment-<index>-<name>`` with every character outside ``A-Za-z0-9._-`` replaced by ``_`` (a Japanese
    file name keeps its suffix: ``スクリーンショット.png`` → ``attachment-1-_.png``)."""
    safe = _UNSAFE.sub("_", name).lstrip(".-")[:100] or "file"
    return bundles.attachment_file(f"{index}-{safe}")


def read_attachment(path: Path, index: int) -> Attachment:
    """``--attach`` file number ``index`` (1-based) read safely (:func:`ops_driver.paths.read_bytes`: no FIFO, no
    folder, at most :data:`MAX_ATTACHMENT_BYTES` + 1 bytes read). InvalidInput (exit 2) naming the file otherwise."""
    name = path.name
    problem = untrusted.check_string(name, f"--attach {name!r}")
    if problem:
        raise InvalidInput(problem + " (rename the file)")
    data = read_bytes(path, "attachment (--attach)", MAX_ATTACHMENT_BYTES)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(f"--attach {path}: larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB (the most one "
                           "attachment may be); attach a smaller file or a link to it in --note")
    return Attachment(name=name, file=_file_name(index, name), sha256=hashlib.sha256(data).hexdigest(),
                      size=len(data), data=data)


def check(catalog: Catalog, task_id: str, result: str, note: str | None, date_text: str | None,
          environment: str | None, attach: list[Path], today: dt.date) -> tuple[Task, dt.date, list[Attachment]]:
    """Validate a record before anything is written: (the task, the day of the work, the attachments read).
    InvalidInput (exit 2) naming the option for each refusal of the module docstring."""
    task = catalog.get(task_id)
    if result not in RESULTS:
        raise InvalidInput(f"--result: {result!r} is not a result; use one of {', '.join(RESULTS)}")
    env = environment or DEFAULT_ENVIRONMENT
    if env not in ENVIRONMENTS:
        raise InvalidInput(f"--environment: {env!r} is not an environment; use one of {', '.join(ENVIRONMENTS)}")
    day = parse_date(date_text) if date_text is not None else today
    if day > today:
        raise InvalidInput(f"--date: {day} is in the future (today is {today}, Asia/Tokyo); record work once it is "
                           "done")
    if note is not None:
        problem = untrusted.check_string(note, "--note", multiline=True)
        if problem:
            raise InvalidInput(problem)
    if result == "ng" and not (note or "").strip():
        raise InvalidInput("--note: an ng result needs a note saying what was found (e.g. --note \"backup job "
                           "failed on db01\")")
    if len(attach) > MAX_ATTACHMENTS:
        raise InvalidInput(f"--attach: {len(attach)} files, more than {MAX_ATTACHMENTS}; attach an archive instead")
    return task, day, [read_attachment(p, i) for i, p in enumerate(attach, 1)]


def report(manifest: dict[str, Any], task: Task, lang: str = "en") -> str:
    """The ``report.md`` of a record, in ``lang`` (``ja`` or ``en``); untrusted text escaped for Markdown."""
    _ = i18n.gettext(lang)
    name = task.name_ja if lang == "ja" else task.name_en
    lines = [f"# {_('Record of manual work')}: {task.id} {untrusted.markdown(name)}", "",
             *([untrusted.markdown(task.summary_ja), ""] if lang == "ja" and task.summary_ja else []),
             f"- {_('result')}: **{i18n.result_word(str(manifest['result']), lang)}**",
             f"- {_('date of the work (JST)')}: {manifest['date']}",
             f"- {_('environment')}: {manifest['environment']}",
             f"- {_('operator')}: {untrusted.markdown(str(manifest['operator']))} ({manifest['operator_source']})",
             f"- {_('recorded at')}: {manifest['started_at']}",
             f"- {_('run ID')}: `{manifest['run_id']}`"]
    if manifest.get("note"):
        lines += ["", f"## {_('Note')}", "", untrusted.markdown(str(manifest["note"]))]
    if manifest.get("attachments"):
        lines += ["", f"## {_('Attachments')}", "", f"| {_('file')} | {_('name')} | {_('bytes')} | SHA-256 |",
                  "|---|---|---|---|"]
        lines += [f"| {a['file']} | {untrusted.markdown(a['name'])} | {a['bytes']} | `{a['sha256']}` |"
                  for a in manifest["attachments"]]
    return "\n".join(lines) + "\n"


def record(task_id: str, result: str, note: str | None = None, attach: list[Path] | None = None,
           date_text: str | None = None, environment: str | None = None, operator: str | None = None,
           base: Path | None = None, catalog: Catalog | None = None, now: dt.datetime | None = None,
           lang: str = "en") -> Recorded:
    """Record manual work on ``task_id`` (see the module docstring); returns what was written.

    ``date_text``: the day of the work, ``YYYY-MM-DD`` (default today in Asia/Tokyo, or ``$OPS_TODAY``);
    ``operator``: ``--operator`` (sandbox only); ``lang``: the language of ``report.md``. Raises InvalidInput
    (exit 2) or PolicyRefused (exit 4) before anything is written.
    """
    catalog = catalog or load_catalog()
    today, overridden = policy_today()
    task, day, files = check(catalog, task_id, result, note, date_text, environment, attach or [], today)
    env = environment or DEFAULT_ENVIRONMENT
    actor = identity.acting(env, operator)
    base = base or evidence_dir()
    now = now or bundles.utc_now()
    run_id = bundles.new_run_id(KIND, task.id, now)
    manifest: dict[str, Any] = {
        "run_id": run_id, "kind": KIND, "task": task.id, "environment": env, "date": day.isoformat(),
        "result": result, "note": note or "", "status": result, "exit_code": 0, "started_at": bundles.iso(now),
        "ended_at": bundles.iso(now), **actor.manifest(), "attachments": [a.manifest() for a in files],
        **({"today_override": today.isoformat()} if overridden else {})}
    given = {"task": task.id, "result": result, "note": note or "", "date": day.isoformat(), "environment": env,
             "attach": [a.name for a in files]}
    texts = {"request.yml": yaml.safe_dump(given, allow_unicode=True, sort_keys=False), "changes.json": "[]\n",
             "events.jsonl": "", "stdout.txt": "", "report.md": report(manifest, task, lang)}
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{run_id}.tmp"
    final = base / run_id
    tmp.mkdir()
    try:
        hashes = {}
        for name, text in texts.items():
            data = text.encode("utf-8")
            (tmp / name).write_bytes(data)
            hashes[name] = hashlib.sha256(data).hexdigest()
        for a in files:
            (tmp / a.file).write_bytes(a.data)
            hashes[a.file] = a.sha256
        manifest["files"] = hashes
        raw = (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        (tmp / bundles.MANIFEST).write_bytes(raw)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        ledger.append(base, KIND, run_id, hashlib.sha256(raw).hexdigest(), now=now)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)  # a bundle the ledger does not hold would fail `evidence verify`
        raise
    return Recorded(run_id=run_id, path=final, manifest=manifest)


def text(done: Recorded, lang: str = "en") -> str:
    """What ``ops-driver record`` prints."""
    _ = i18n.gettext(lang)
    m = done.manifest
    lines = [f"{_('recorded')} {m['task']} {m['date']} ({m['environment']}): "
             f"{i18n.result_word(str(m['result']), lang)} — {done.run_id}"]
    lines += [f"  {_('attachment')} {a['name']} → {a['file']} ({a['bytes']} {_('bytes')}, SHA-256 {a['sha256'][:16]}…)"
              for a in m["attachments"]]
    lines.append(f"{_('evidence')}: {done.path}")
    return "\n".join(lines)
