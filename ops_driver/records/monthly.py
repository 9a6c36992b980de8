"""The monthly record of work done: every plan and apply of a month, from the evidence bundles, the ledger and the
approvals, with the recurring automated tasks that were due and not done (``ops-driver report --month``).

Seeds: ``003_57bfeb6437afa564.txt`` ends each process (change, release, configuration management) with a
monthly report (月次報告); ``000_b531716006324310.txt`` compiles the work done into weekly and monthly reports
(各種情報取りまとめ: 実施実績のとりまとめ). The record answers "what did we do in November, who approved it, and
which monthly tasks did we miss".

What :func:`collect` reads, in ``$OPS_EVIDENCE_DIR`` (or the installation's store: paths.evidence_location):

- the bundles (``<run_id>/manifest.json``, ``changes.json``) whose run started in the month, by the **Asia/Tokyo**
  date of ``started_at`` (a bundle whose manifest cannot be read: by the UTC time in its run ID). Folders are
  picked by the time in their run ID first, so a month's record reads that month's bundles only (plus the days a
  weekly window runs into the next month), not the whole folder;
- every such bundle is verified: its files against its manifest (:func:`ops_driver.evidence.bundles.verify`) and, when
  ``ledger.jsonl`` exists, its manifest against the ledger line that recorded it. A bundle that fails is a row
  marked **unverified** with its problems: it is never dropped and never counts as a successful run. Without a
  ledger the record says that bundles were checked against their own manifests only;
- approvals (:func:`ops_driver.evidence.governance.approvals_of`: only those the ledger holds, signed by a key of
  ``policy/allowed_signers`` and allowed by ``policy/change.yml``), and an AWX job's approvals (``NAME (AWX)``,
  read from AWX by ``evidence import-awx --url``): the approvers of a plan,
  and of an apply its plan's approvers plus those after the fact (emergency); emergency applies still short of
  their approvals after the fact: the month's, and from the ledger those of earlier months;
- the recurring automated tasks due in the month (:mod:`.due`) and the successful applies that did them;
- **flags** of a run (``Run.flags``): an apply with fewer approvals than its plan required
  (:func:`governance.approval_shortfall`), an override in effect (``overrides``: ``OPS_PROJECT_DIR``,
  ``OPS_PLAN_MAX_AGE``, sandbox only), a declared operator (``operator_source: declared``, sandbox only).

Judging a due task: a successful apply (status ``applied``, exit 0, verified; not an AWX job imported from files,
``source: file (unverified)``) of the task in the environment, with
its Tokyo date in the occurrence's window (``days[0]`` … ``until``): **done**; after the window but before the
task's next occurrence (or the month's end): **late**; nothing and the window is over (as of today, Asia/Tokyo):
**missed**; the window not over yet: **open**; the first due day still ahead: **upcoming**. A plan is not a run of
the task (a read-only check such as STAT-001 is done by its apply, too). Environments: a task of an annual schedule
(CORE-049) is judged in each environment of the schedule; any other in ``environment`` (the report's
``--environment``), by default :data:`DEFAULT_DUE_ENVIRONMENT`, the production estate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ops_driver.catalog import Catalog, Task, load_catalog
from ops_driver.errors import InvalidInput, OpsError
from ops_driver.evidence import bundles, governance, ledger
from ops_driver.evidence.guards import JST, plan_max_age_s
from ops_driver.evidence.guards import today as policy_today
from ops_driver.i18n import N_
from ops_driver.paths import ENVIRONMENTS, evidence_dir
from ops_driver.records import due
from ops_driver.records.manual import KIND as RECORD
from ops_driver.run.manifest import RunKind, RunStatus

#: Where a recurring task without an annual schedule is due when the report names no ``--environment``.
DEFAULT_DUE_ENVIRONMENT = "prod"
_RUN_TIME = re.compile(r"^(\d{8}T\d{6}Z)-")
OUTCOMES = {0: "ok", 2: "invalid", 3: "failed", 4: "refused"}
DUE_STATES = ("missed", "late", "open", "upcoming", "done")
#: The ``source`` of an AWX job imported from files anyone can write: shown, never a run that did a due task.
UNVERIFIED_SOURCE = "file (unverified)"
_KIND_TOTAL = {"plan": "plans", "apply": "applies"}
#: What became of a plan (``Run.disposition``, #29): an apply ran it successfully; a reviewer rejected it (a
#: ``reject`` ledger line whose ``ref`` is the plan); a later plan of the same task and environment replaced it;
#: it grew older than its maximum age (guards.plan_max_age_s) unapplied; still waiting (young enough to apply).
DISPOSITIONS = ("applied", "rejected", "abandoned", "expired", "waiting")
REJECT = "reject"


@dataclass
class Run:
    """One row of the record: a plan or an apply (or a bundle that cannot be read: ``kind`` None).

    ``date``/``time``: Asia/Tokyo; ``started_at``: UTC ISO as in the manifest; ``approvers``: names (an approval
    after the fact is written ``name (after the fact)``); ``changed``: how many resources changed (a plan: would
    change); ``resources``: those resources, ``host resource name``; ``outcome``: ``ok``, ``invalid`` (exit 2),
    ``failed`` (3), ``refused`` (4) or the status for any other code; ``verified`` False with ``problems`` when the
    bundle does not verify; ``flags``: what a reviewer must look at although the bundle verifies (module docstring).
    """

    run_id: str
    kind: str | None
    date: str
    time: str
    started_at: str
    task: str
    task_name_ja: str
    task_name_en: str
    environment: str
    ticket: str
    requested_by: str
    operator: str
    approvers: list[str]
    change_class: str
    status: str
    exit_code: int | None
    outcome: str
    changed: int
    resources: list[str]
    plan_id: str | None
    emergency_reason: str | None
    verified: bool
    problems: list[str]
    message: str = ""
    flags: list[str] = field(default_factory=list)
    #: A plan's fate (:data:`DISPOSITIONS`), "" for an apply or a plan that did not end with exit 0.
    disposition: str = ""
    #: A plan's resources it would change (its ``changed`` and ``resources`` stay empty: those are applies' only).
    would_change: int = 0


@dataclass
class ManualRecord:
    """A record of manual work (``ops-driver record``, :mod:`.manual`) whose day of work is in the month:
    ``date`` that day (Asia/Tokyo), ``result`` done / ng / skipped, ``attachments`` how many files it keeps;
    ``verified`` False with ``problems`` when its bundle does not verify (it then counts for nothing)."""

    run_id: str
    date: str
    task: str
    task_name_ja: str
    task_name_en: str
    environment: str
    result: str
    note: str
    operator: str
    attachments: int
    verified: bool
    problems: list[str]


@dataclass
class DueItem:
    """A recurring automated task's occurrence in the month and how it was judged (module docstring): ``state``
    one of :data:`DUE_STATES`, ``runs`` the successful applies that count (run IDs); ``why`` the rule in English,
    ``why_ja`` in Japanese."""

    task: str
    name_ja: str
    environment: str
    days: list[str]
    until: str
    why: str
    state: str
    runs: list[str]
    why_ja: str = ""


@dataclass
class Record:
    """The month's record: see :func:`collect`. ``to_json`` gives its JSON (``ops-driver report --json``)."""

    month: str
    generated_at: str
    as_of: str
    evidence_dir: str
    environment: str | None
    due_environment: str
    runs: list[Run]
    by_task: list[dict[str, Any]]
    by_environment: list[dict[str, Any]]
    pending: list[dict[str, Any]]
    due: list[DueItem]
    ledger: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: The month's records of manual work (by day of work, then run ID).
    records: list[ManualRecord] = field(default_factory=list)

    @property
    def findings(self) -> list[ManualRecord]:
        """Verified records with the result ``ng``: the task was done and something was found (shown apart)."""
        return [r for r in self.records if r.verified and r.result == "ng"]

    @property
    def unverified(self) -> list[Run]:
        return [r for r in self.runs if not r.verified]

    @property
    def flagged(self) -> list[Run]:
        """Runs with flags (:attr:`Run.flags`)."""
        return [r for r in self.runs if r.flags]

    @property
    def failures(self) -> list[Run]:
        """Runs that did not end with exit 0: failed, refused, invalid (and unreadable bundles)."""
        return [r for r in self.runs if r.exit_code != 0]

    def summary(self) -> dict[str, Any]:
        """Counts: ``runs``, ``plans``, ``applies``, per outcome (``ok``: applies that succeeded only), ``unverified``,
        ``flagged``, ``changed`` (by applies), ``pending``, ``due`` and per due state, per plan disposition,
        ``records`` (verified records of manual work) and ``findings`` (those with ``ng``)."""
        outcomes = Counter(r.outcome for r in self.runs)
        states = Counter(d.state for d in self.due)
        return {"runs": len(self.runs), "plans": sum(1 for r in self.runs if r.kind == "plan"),
                "applies": sum(1 for r in self.runs if r.kind == "apply"),
                **{o: outcomes.get(o, 0) for o in OUTCOMES.values()}, "unverified": len(self.unverified),
                "flagged": len(self.flagged),
                "changed": sum(r.changed for r in self.runs if r.kind == "apply" and r.verified),
                "pending": len(self.pending), "due": len(self.due), **{s: states.get(s, 0) for s in DUE_STATES},
                **{f"plans_{d}": sum(1 for r in self.runs if r.disposition == d) for d in DISPOSITIONS},
                "records": sum(1 for r in self.records if r.verified), "findings": len(self.findings)}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary()
        return data


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    """The month in Asia/Tokyo as UTC datetimes: [first instant, first instant of the next month)."""
    start = dt.datetime(year, month, 1, tzinfo=JST)
    nxt = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=JST)
    return start.astimezone(dt.UTC), nxt.astimezone(dt.UTC)


def _run_id_time(name: str) -> dt.datetime | None:
    m = _RUN_TIME.match(name)
    if not m:
        return None
    t = m.group(1)  # yyyymmddThhmmssZ
    try:
        return dt.datetime(int(t[0:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]), int(t[13:15]),
                           tzinfo=dt.UTC)
    except ValueError:
        return None


def _candidates(base: Path, lo: dt.datetime, hi: dt.datetime) -> list[tuple[bundles.Bundle, dt.datetime | None]]:
    """Bundle folders of ``base`` whose run-ID time lies in [lo - 1 day, hi + 1 day) (a run ID is made a moment
    before ``started_at``), and those whose name holds no time but that have a manifest; with the run-ID time."""
    margin = dt.timedelta(days=1)
    out = []
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise InvalidInput(f"evidence folder {base}: cannot be read ({e.strerror})") from None
    for entry in entries:
        if entry.name.startswith(".") or entry.name == governance.APPROVALS or not entry.is_dir():
            continue
        t = _run_id_time(entry.name)
        if t is None and not os.path.isfile(os.path.join(entry.path, bundles.MANIFEST)):
            continue
        later_record = f"-{RECORD}-" in entry.name  # a record made after the month may be of a day in it
        if t is not None and not (lo - margin <= t < hi + margin or (later_record and t >= lo - margin)):
            continue
        out.append((bundles.Bundle(entry.name, Path(entry.path)), t))
    return out


def _resources(changes: Any) -> list[str]:
    if not isinstance(changes, list):
        return []
    return [" ".join(str(c.get(k) or "") for k in ("host", "resource", "name")).strip()
            for c in changes if isinstance(c, dict) and c.get("changed")]


def _outcome(code: Any, status: str, kind: str | None = None) -> str:
    """``ok`` only for an apply (or an unreadable row's code) that succeeded: a plan that ended with exit 0 is
    ``planned`` (what became of it is its disposition); other codes by :data:`OUTCOMES`."""
    if kind == "plan" and code == 0:
        return "planned"
    return OUTCOMES.get(code, status or "unknown") if isinstance(code, int) and not isinstance(code, bool) \
        else (status or "unknown")


class _Approvals:
    """The approval records the ledger holds, by the run they approve (:func:`governance.approvals_of`
    given only that run's ledger lines: one pass over the ledger, not one per run)."""

    def __init__(self, base: Path, entries: list[ledger.Entry]) -> None:
        self.base = base
        self.rules = governance.load_policy()
        self.by_ref: dict[str, list[ledger.Entry]] = {}
        for e in entries:
            if e.kind == "approval" and e.ref:
                self.by_ref.setdefault(e.ref, []).append(e)

    def of(self, run_id: str | None) -> list[governance.Approval]:
        lines = self.by_ref.get(run_id or "")
        return governance.approvals_of(str(run_id), self.base, lines, self.rules) if lines else []


#: What the record writes in English (the JSON keeps it so) and shows in the reader's language
#: (:func:`ops_driver.i18n.reword`): approvers, flags, problems and notes made here.
AFTER_THE_FACT = N_("{name} (after the fact)")
AWX_APPROVER = N_("{name} (AWX)")
AWX_LAUNCHER = N_("{name} (AWX, the launcher)")
OVERRIDE = N_("override: {override}")
DECLARED = N_("operator declared ({operator}; OS account {account})")
IMPORTED = N_("imported from files (source: file (unverified)): does not count as doing the task")
UNTRACKED = N_("{count} recurring manual task(s) have no record in {month} and are not judged (record them with "
               "`ops-driver record TASK_ID --result done|ng|skipped`)")
NOT_AN_OBJECT = N_("manifest.json: not a JSON object")
NO_TIME = N_("manifest.json: started_at {value} is not a UTC ISO time")
NOT_IN_LEDGER = N_("bundle not in the ledger (added outside ops-driver)")
EDITED = N_("{file} edited after it was recorded ({ledger} line {line})")
NOT_CLOSED = N_("apply started and not closed: running, or interrupted (`ops-driver evidence recover`)")
NO_START = N_("no start time (manifest and run ID): dated by the folder's modification time")
SAID = (AWX_LAUNCHER, AWX_APPROVER, AFTER_THE_FACT, OVERRIDE, DECLARED, IMPORTED, UNTRACKED, governance.SHORTFALL_BY,
        governance.SHORTFALL, NOT_AN_OBJECT, NO_TIME, NOT_IN_LEDGER, EDITED, NOT_CLOSED, NO_START, *bundles.PROBLEMS)


def _flags(m: dict[str, Any], kind: str | None, approvals: _Approvals) -> list[str]:
    """The flags of a run (module docstring) from its manifest."""
    out = [OVERRIDE.format(override=o) for o in m.get("overrides") or [] if isinstance(o, str)]
    if m.get("operator_source") == "declared":
        out.append(DECLARED.format(operator=m.get("operator"), account=m.get("os_account")))
    plan_id = str(m.get("plan_id") or "")
    if kind == "apply" and plan_id:
        raw = _read_bytes(os.path.join(str(approvals.base), plan_id, bundles.MANIFEST)) if "/" not in plan_id \
            else None
        try:
            pm = json.loads(raw) if raw is not None else None
        except ValueError:
            pm = None
        short = governance.approval_shortfall(m, pm if isinstance(pm, dict) else None, approvals.of(plan_id))
        if short:
            out.append(short)
    return out


def _row(b: bundles.Bundle, m: dict[str, Any] | None, changes: Any, started: dt.datetime, catalog: Catalog,
         problems: list[str], approvals: _Approvals) -> Run:
    m = m or {}
    task_id = str(m.get("task") or "")
    task = catalog.tasks.get(task_id)
    resources = _resources(changes)
    kind = m.get("kind") if m.get("kind") in tuple(RunKind) else None
    names = [a.approver for a in approvals.of(str(m.get("plan_id") or "") if kind == "apply" else b.run_id)]
    if kind == "apply":
        names += [AFTER_THE_FACT.format(name=a.approver) for a in approvals.of(b.run_id)]
    names += [(AWX_LAUNCHER if a.get("self_approved") else AWX_APPROVER).format(name=a.get("by"))
              for a in m.get("awx_approvals") or [] if isinstance(a, dict) and a.get("decision") == "approved"]
    if m.get("source") == UNVERIFIED_SOURCE:
        problems = [*problems, IMPORTED]
    local = started.astimezone(JST)
    code = m.get("exit_code")
    status = str(m.get("status") or ("unreadable" if not m else ""))
    return Run(run_id=b.run_id, kind=kind, date=local.date().isoformat(), time=local.strftime("%H:%M"),
               started_at=bundles.iso(started), task=task_id, task_name_ja=task.name_ja if task else "",
               task_name_en=task.name_en if task else "", environment=str(m.get("environment") or ""),
               ticket=str(m.get("ticket") or ""), requested_by=str(m.get("requested_by") or ""),
               operator=str(m.get("operator") or ""), approvers=names,
               change_class=str(m.get("change_class") or ""), status=status,
               exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
               outcome=_outcome(code, status, kind), changed=0 if kind == "plan" else len(resources),
               resources=[] if kind == "plan" else resources, would_change=len(resources) if kind == "plan" else 0,
               plan_id=str(m["plan_id"]) if m.get("plan_id") else None,
               emergency_reason=str(m["emergency_reason"]) if m.get("emergency_reason") else None,
               verified=not problems, problems=problems, message=str(m.get("message") or ""),
               flags=_flags(m, kind, approvals))


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _intact(folder: str, manifest: Any) -> tuple[bool, bytes | None]:
    """(whether the bundle passes :func:`bundles.verify`'s checks, the bytes of changes.json), reading
    each file once: every bundle file listed in the manifest, every listed file there with its SHA-256, no other
    file. False sends the caller to ``bundles.verify`` itself for the problems (it is the definition)."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(n in files for n in bundles.BUNDLE_FILES):
        return False, None
    try:
        present = set(os.listdir(folder))
    except OSError:
        return False, None
    if present - {bundles.MANIFEST} != set(files):
        return False, None
    changes = None
    for name, digest in files.items():
        data = _read_bytes(os.path.join(folder, name))
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            return False, None
        if name == "changes.json":
            changes = data
    return True, changes


def _read(b: bundles.Bundle, id_time: dt.datetime | None, held: dict[str, ledger.Entry] | None
          ) -> tuple[dict[str, Any] | None, Any, dt.datetime | None, list[str]]:
    """(manifest or None, changes, start time, problems) of one bundle; ``held``: the ledger's plan/apply lines by
    run ID (None: there is no ledger). Problems are those of :func:`bundles.verify`, then the ledger's."""
    raw = _read_bytes(os.path.join(str(b.path), bundles.MANIFEST))
    try:
        m = json.loads(raw) if raw is not None else None
    except ValueError:
        m = None
    ok, changes_raw = _intact(str(b.path), m)
    problems = [] if ok else bundles.verify(b)
    if m is not None and not isinstance(m, dict):
        problems.append(NOT_AN_OBJECT)
        m = None
    try:
        changes = json.loads(changes_raw) if changes_raw is not None else b.read_json("changes.json") if m else []
    except (OSError, ValueError):
        changes = []
    started = bundles.parse_time(m.get("started_at")) if m else None
    if m is not None and started is None:
        problems.append(NO_TIME.format(value=repr(m.get("started_at"))))
    if held is not None and m is not None and raw is not None:
        line = held.get(b.run_id)
        if line is None:
            problems.append(NOT_IN_LEDGER)
        elif line.kind == "start":  # written ahead, not closed: running, or interrupted and not yet recovered
            start = _read_bytes(os.path.join(str(b.path), bundles.START))
            problems.append(EDITED.format(file=bundles.START, ledger=ledger.LEDGER, line=line.line_no)
                            if start is None or hashlib.sha256(start).hexdigest() != line.sha256 else NOT_CLOSED)
        elif hashlib.sha256(raw).hexdigest() != line.sha256:
            problems.append(EDITED.format(file=bundles.MANIFEST, ledger=ledger.LEDGER, line=line.line_no))
    return m, changes, started or id_time, problems


def _totals(runs: list[Run], key: str, catalog: Catalog) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for r in runs:
        k = getattr(r, key) or "(unknown)"
        t = catalog.tasks.get(k) if key == "task" else None
        row = rows.setdefault(k, {key: k, **({"name_ja": t.name_ja if t else ""} if key == "task" else {}),
                                  "runs": 0, "plans": 0, "applies": 0, **dict.fromkeys(OUTCOMES.values(), 0),
                                  "unverified": 0, "changed": 0})
        row["runs"] += 1
        if r.kind is not None:
            row[_KIND_TOTAL[r.kind]] += 1
        if r.outcome in row:
            row[r.outcome] += 1
        row["unverified"] += 0 if r.verified else 1
        row["changed"] += r.changed if r.kind == "apply" and r.verified else 0
    order = {e: i for i, e in enumerate(ENVIRONMENTS)}
    return sorted(rows.values(), key=lambda x: (order.get(x[key], len(order)), x[key]))


#: The results of a record that do its task: all of them (``ng``: done, and shown apart as a finding; ``skipped``:
#: the operator judged there was nothing to do that day).
manual_results = ("done", "ng", "skipped")


def _record_row(b: bundles.Bundle, m: dict[str, Any], catalog: Catalog, problems: list[str]) -> ManualRecord | None:
    """The row of a record bundle, or None when its day of work cannot be read (then it is a record of nothing)."""
    try:
        day = dt.date.fromisoformat(str(m.get("date")))
    except ValueError:
        return None
    task = catalog.tasks.get(str(m.get("task") or ""))
    files = m.get("attachments")
    return ManualRecord(run_id=b.run_id, date=day.isoformat(), task=str(m.get("task") or ""),
                        task_name_ja=task.name_ja if task else "", task_name_en=task.name_en if task else "",
                        environment=str(m.get("environment") or ""), result=str(m.get("result") or ""),
                        note=str(m.get("note") or ""), operator=str(m.get("operator") or ""),
                        attachments=len(files) if isinstance(files, list) else 0,
                        verified=not problems and m.get("exit_code") == 0, problems=problems)


def _max_age(environment: str, reviewed: int) -> int:
    """The maximum age of a plan of ``environment`` (guards.plan_max_age_s); the reviewed one when an override of
    another environment is refused there: the record judges, it does not refuse."""
    try:
        return plan_max_age_s(environment, reviewed)
    except OpsError:
        return reviewed


def _dispose(runs: list[Run], entries: list[ledger.Entry], now: dt.datetime) -> None:
    """Set the disposition (:data:`DISPOSITIONS`) of every plan of ``runs`` that ended with exit 0, from the
    month's applies, the ledger's applies and ``reject`` lines, the later plans and the plan's age at ``now``."""
    applied = {r.plan_id for r in runs if r.kind == "apply" and r.outcome == "ok" and r.verified and r.plan_id}
    applied |= {e.ref for e in entries if e.kind == "apply" and e.ref}
    rejected = {e.ref for e in entries if e.kind == REJECT and e.ref}
    reviewed = governance.load_policy().plan_max_age_s
    latest: dict[tuple[str, str], str] = {}
    for r in runs:  # in time order: the last plan of each task and environment
        if r.kind == "plan":
            latest[(r.task, r.environment)] = r.run_id
    for r in runs:
        if r.kind != "plan" or r.exit_code != 0:
            continue
        started = bundles.parse_time(r.started_at)
        age = (now - started).total_seconds() if started else 0.0
        r.disposition = ("applied" if r.run_id in applied else "rejected" if r.run_id in rejected
                         else "abandoned" if latest.get((r.task, r.environment)) != r.run_id
                         else "expired" if age > _max_age(r.environment, reviewed) else "waiting")


def recurring_automated(catalog: Catalog) -> list[Task]:
    """The automated tasks with a cycle other than on demand (the ones the record checks were done)."""
    return [t for t in catalog.tasks.values() if t.automated and t.cycle != "on_demand"]


def _judge(month: due.MonthDue, done: dict[tuple[str, str], list[tuple[dt.date, str]]], environment: str | None,
           due_environment: str, today: dt.date, catalog: Catalog) -> list[DueItem]:
    month_end = dt.date(month.year, month.month, 1) + dt.timedelta(days=31)
    month_end = month_end.replace(day=1) - dt.timedelta(days=1)
    chosen = [(o, o.environment or due_environment) for o in month.occurrences
              if environment is None or (o.environment or environment) == environment]
    out = []
    for i, (o, env) in enumerate(chosen):
        nxt = next((n.day for n, e in chosen[i + 1:] if n.task_id == o.task_id and e == env), None)
        late_until = max(o.until, nxt - dt.timedelta(days=1) if nxt else month_end)
        runs = done.get((o.task_id, env), [])
        on_time = [r for d, r in runs if o.day <= d <= o.until]
        late = [r for d, r in runs if o.until < d <= late_until]
        state = ("done" if on_time else "late" if late else "missed" if today > o.until
                 else "open" if today >= o.day else "upcoming")
        out.append(DueItem(task=o.task_id, name_ja=catalog.tasks[o.task_id].name_ja, environment=env,
                           days=[d.isoformat() for d in o.days], until=o.until.isoformat(), why=o.why, state=state,
                           runs=on_time or late, why_ja=o.why_in("ja")))
    return sorted(out, key=lambda d: (d.days[0], d.task, d.environment))


def _pending(runs: list[Run], base: Path, entries: list[ledger.Entry], approvals: _Approvals,
             before: dt.datetime, environment: str | None) -> list[dict[str, Any]]:
    """Emergency applies with fewer approvals after the fact than ``policy/change.yml`` needs: those of the month
    (``this_month`` True) and, from the ledger, those of earlier months (run ID time before ``before``; of
    ``environment`` only, when given)."""
    need = governance.load_policy().get("emergency").post_approvals

    def item(run_id: str, m: dict[str, Any], date: str, got: int, this_month: bool) -> dict[str, Any]:
        return {"run_id": run_id, "date": date, "task": m.get("task"), "environment": m.get("environment"),
                "operator": m.get("operator"), "status": m.get("status"), "emergency_reason":
                m.get("emergency_reason"), "approvals": got, "needed": need, "this_month": this_month}

    out = []
    for r in runs:
        got = sum(1 for a in r.approvers if a.endswith("(after the fact)"))
        if r.kind == "apply" and r.change_class == "emergency" and got < need:
            out.append(item(r.run_id, asdict(r), r.date, got, True))
    mine = {r.run_id for r in runs}
    for e in entries:
        t = _run_id_time(e.run_id)
        if e.kind != "apply" or e.run_id in mine or t is None or t >= before:
            continue
        raw = _read_bytes(os.path.join(str(base), e.run_id, bundles.MANIFEST))
        try:
            m = json.loads(raw) if raw is not None else None
        except ValueError:
            m = None
        if not isinstance(m, dict) or m.get("change_class") != "emergency" or environment not in (
                None, m.get("environment")):
            continue
        got = len({a.approver for a in approvals.of(e.run_id)})
        if got < need:
            started = bundles.parse_time(m.get("started_at")) or t
            out.append(item(e.run_id, m, started.astimezone(JST).date().isoformat(), got, False))
    return out


def collect(year: int, month: int, base: Path | None = None, catalog: Catalog | None = None,
            environment: str | None = None, today: dt.date | None = None, now: dt.datetime | None = None) -> Record:
    """The record of ``year``-``month`` (Asia/Tokyo) from the evidence folder ``base`` (default
    ``$OPS_EVIDENCE_DIR``); see the module docstring for what is read and how due tasks are judged.

    ``environment``: only that environment's runs and due tasks (default: every environment; unscheduled due tasks
    in :data:`DEFAULT_DUE_ENVIRONMENT`). ``today``: the day due tasks are judged on (default: today in Asia/Tokyo
    or ``$OPS_TODAY``). Raises InvalidInput (exit 2) for an unknown environment, a month outside the business-day
    calendar, or an evidence folder that cannot be read. A month without evidence is an empty record, not an error.
    """
    if environment is not None and environment not in ENVIRONMENTS:
        raise InvalidInput(f"--environment: {environment!r} is not an environment; use one of "
                           f"{', '.join(ENVIRONMENTS)}")
    base = base or evidence_dir()
    catalog = catalog or load_catalog()
    today = today or policy_today()[0]
    now = now or bundles.utc_now()
    notes: list[str] = []
    lo, hi = month_bounds(year, month)
    # every due task's window ends by the 6th of the next month (a week begun in the month; a fixed day moved)
    read_hi = dt.datetime.combine(dt.date(year + month // 12, month % 12 + 1, 7), dt.time(), JST).astimezone(dt.UTC)

    has_ledger = ledger.path_of(base).exists()
    entries, ledger_problems = ledger.read(base)
    ledger_problems += ledger.check_chain(entries)
    held = {e.run_id: e for e in entries if e.kind not in ledger.DECISIONS} if has_ledger else None
    approvals = _Approvals(base, entries)
    runs: list[Run] = []
    records: list[ManualRecord] = []
    done: dict[tuple[str, str], list[tuple[dt.date, str]]] = {}
    month_days = (lo.astimezone(JST).date(), (hi - dt.timedelta(seconds=1)).astimezone(JST).date())
    for b, id_time in _candidates(base, lo, read_hi):
        m, changes, started, problems = _read(b, id_time, held)
        if started is None:
            started = dt.datetime.fromtimestamp(b.path.stat().st_mtime, dt.UTC)
            problems.append(NO_START)
        if environment is not None and (m or {}).get("environment") not in (environment, None):
            continue
        if m and m.get("kind") == RECORD:
            rec = _record_row(b, m, catalog, problems)
            if rec is None:
                continue
            if rec.verified and rec.result in manual_results:
                done.setdefault((rec.task, rec.environment), []).append((dt.date.fromisoformat(rec.date), b.run_id))
            if month_days[0].isoformat() <= rec.date <= month_days[1].isoformat():
                records.append(rec)
            continue
        if started >= read_hi:
            continue
        if (m and not problems and m.get("kind") == RunKind.APPLY and m.get("exit_code") == 0
                and m.get("status") == RunStatus.APPLIED and m.get("source") != UNVERIFIED_SOURCE):
            done.setdefault((str(m.get("task")), str(m.get("environment"))), []).append(
                (started.astimezone(JST).date(), b.run_id))
        if lo <= started < hi:
            runs.append(_row(b, m, changes, started, catalog, problems, approvals))
    runs.sort(key=lambda r: (r.started_at, r.run_id))
    records.sort(key=lambda r: (r.date, r.run_id))
    _dispose(runs, entries, now)
    tracked = {r.task for r in records if r.verified}
    judged = [t for t in catalog.tasks.values() if t.cycle != "on_demand" and (t.automated or t.id in tracked)]
    due_month = due.month_due(catalog, year, month, tasks=judged)
    notes += due_month.notes
    untracked = sorted(t.id for t in catalog.tasks.values()
                       if t.cycle != "on_demand" and not t.automated and t.id not in tracked)
    if untracked:
        notes.append(UNTRACKED.format(count=len(untracked), month=f"{year}-{month:02d}"))
    due_env = environment or DEFAULT_DUE_ENVIRONMENT
    return Record(
        month=f"{year}-{month:02d}", generated_at=bundles.iso(now), as_of=today.isoformat(), evidence_dir=str(base),
        environment=environment, due_environment=due_env, runs=runs, by_task=_totals(runs, "task", catalog),
        by_environment=_totals(runs, "environment", catalog),
        pending=_pending(runs, base, entries, approvals, lo, environment),
        due=_judge(due_month, done, environment, due_env, today, catalog),
        ledger={"present": has_ledger, "lines": len(entries), "problems": ledger_problems,
                "head": list(ledger.head(base) or ()) if has_ledger and not ledger_problems else None},
        notes=notes, records=records)


def dumps(record: Record) -> str:
    """The record as JSON text (what ``report --json`` prints)."""
    return json.dumps(record.to_json(), ensure_ascii=False, indent=2, sort_keys=True)
