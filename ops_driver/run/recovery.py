"""Close what was interrupted: an apply recorded as running whose driver is gone (SIGKILL, out of memory, a lost
control node) is found by the next command and closed as ``interrupted`` (exit 3 class).

An apply writes its start ahead (``bundles.start_bundle`` and a ``start`` ledger line, under the environment lock)
and closes it with its ``apply`` ledger line. A ``start`` without an ``apply`` is an apply that is running or
was interrupted; which one is told by the driver's PID **and** its process start time (``processes.is_alive``: a PID
reused by another process is not taken for the run). For a dead one, :func:`recover`, under the environment's lock:

1. kills every process still carrying the run's marker (``processes.stop_leftovers``: the ansible workers that had
   started sessions of their own, a module still copying);
2. removes the run's private data dir and its ``~/.ansible/tmp`` folder (secrets, module arguments);
3. removes the NAS ``.part`` files of the planned destination files (``.<name>.part-*`` next to each planned
   ``nas:<path>``, the names ``module_utils/nas_transfer.py`` writes before its rename): a file is never renamed
   into place by a process nobody records, and a half-written one is never left;
4. writes the bundle as ``interrupted``: the changes the streamed events show (each host result's
   ``ops_changes``, or the task when a result said ``changed`` without them; never a result that says
   ``ops_check_mode: true`` - a check-mode preflight inside the apply, such as the ESA role's, reports what a
   real run would change, not a change made), the tasks that had started and not
   finished (they may have changed something: check those targets), the comparison with the plan, and the
   ``apply`` ledger line that closes the start.

AWX's reaper does the same for a lost node ("Job reaped due to instance shutdown"); here the next ``plan``,
``apply`` or ``evidence recover`` does it. :func:`clean_orphans` also removes the private data dirs of plans whose
driver died (nothing to record: a plan changes nothing).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from ops_driver import i18n, processes
from ops_driver.catalog import load_catalog
from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles, governance, guards, ledger
from ops_driver.run import contract, runner
from ops_driver.run.manifest import Manifest, RunStatus

#: Events that end a host's task (runner_on_start opens it).
_ENDS = ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable")
#: The key of a module result that says it ran in check mode (its ``ops_changes`` are would-be changes).
CHECK_MODE = "ops_check_mode"


@dataclass
class Recovered:
    """What :func:`recover` did with one started apply: ``state`` is ``interrupted`` (closed now), ``running`` (its
    driver is alive), ``elsewhere`` (started on another host: not judged here) or ``busy`` (its environment's lock is
    held by a live apply, which closes it itself)."""

    run_id: str
    environment: str
    state: str
    killed: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    part_files: list[str] = field(default_factory=list)
    unfinished: list[dict[str, Any]] = field(default_factory=list)
    changes: int = 0

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "environment": self.environment, "state": self.state,
                "killed": self.killed, "removed": self.removed, "part_files": self.part_files,
                "unfinished": self.unfinished, "changes": self.changes}


def open_starts(found: list[ledger.Entry]) -> list[ledger.Entry]:
    """The ``start`` lines of the ledger that no ``apply`` line of the same run closes, in ledger order."""
    closed = {e.run_id for e in found if e.kind == "apply"}
    return [e for e in found if e.kind == "start" and e.run_id not in closed]


_RUN_ID = re.compile(r'"run_id":"([^"\\]+)"')


def _open_start_ids(base: Path) -> list[str]:
    """:func:`open_starts` by a text scan of the ledger, without parsing or hashing every line (``plan`` and
    ``apply`` call it every time; the lines are written with sorted keys and no spaces, see ledger.py)."""
    try:
        with ledger.path_of(base).open("r", encoding="utf-8", errors="replace") as f:
            starts, closed = [], set()
            for line in f:
                if '"kind":"start"' in line or '"kind":"apply"' in line:
                    m = _RUN_ID.search(line)
                    if m and '"kind":"start"' in line:
                        starts.append(m.group(1))
                    elif m:
                        closed.add(m.group(1))
    except OSError:
        return []
    return [r for r in starts if r not in closed]


def _running(base: Path, run_id: str) -> Manifest | None:
    """The written-ahead manifest of ``run_id`` when its bundle still says ``running``; None otherwise."""
    try:
        m = bundles.bundle(run_id, base).manifest()
    except InvalidInput:
        return None
    return m if m.get("status") == bundles.RUNNING else None


def unledgered_running(base: Path, found: list[ledger.Entry]) -> list[str]:
    """Run IDs of bundles that say ``running`` but have no ledger line at all (a driver killed between writing
    ``start.json`` and its ``start`` line: nothing had run). Reads every bundle's manifest: ``evidence recover``
    only."""
    held = {e.run_id for e in found}
    out = []
    for b in bundles.all_bundles(base):
        if b.run_id in held:
            continue
        try:
            if b.manifest().get("status") == bundles.RUNNING:
                out.append(b.run_id)
        except InvalidInput:
            continue
    return out


def recover(base: Path, *, environment: str | None = None, held: str | None = None, wait_s: float = 0.0,
            scan_bundles: bool = False) -> list[Recovered]:
    """Find the applies recorded as running and close those whose driver is gone (see the module docstring).

    Args:
        base: the evidence folder.
        environment: only that environment's runs (None: all).
        held: the environment whose lock the caller holds already (an apply, after taking its lock); the others'
            locks are taken here, waiting at most ``wait_s`` seconds (a run whose environment stays locked is
            ``busy``: the live apply holding it closes it itself).
        scan_bundles: also close bundles that say ``running`` without any ledger line (reads every manifest).

    Returns one :class:`Recovered` per started apply looked at. Raises nothing for a run it cannot close yet.
    """
    run_ids = _open_start_ids(base)
    if scan_bundles:
        found, _ = ledger.read(base)
        run_ids = [e.run_id for e in open_starts(found)] + unledgered_running(base, found)
    out: list[Recovered] = []
    for run_id in run_ids:
        m = _running(base, run_id)
        if m is None:
            continue
        env = str(m.get("environment") or "")
        if environment is not None and env != environment:
            continue
        alive = processes.is_alive(m.get("process") or {})
        if alive is not False:
            out.append(Recovered(run_id, env, "running" if alive else "elsewhere"))
            continue
        if env == held:
            out.append(_close(base, run_id, m))
            continue
        holder = f"recovery of {run_id} (pid {os.getpid()})"
        try:
            with guards.environment_lock(base / ".locks", env, holder, wait_s=wait_s):
                found_now, _ = ledger.read(base)
                if any(e.kind == "apply" and e.run_id == run_id for e in found_now) or _running(base, run_id) is None:
                    continue  # closed meanwhile by another command
                out.append(_close(base, run_id, m))
        except PolicyRefused:
            out.append(Recovered(run_id, env, "busy"))
    clean_orphans()
    return out


def clean_orphans(tmp: Path | None = None) -> list[str]:
    """Remove the private data dirs (and ``~/.ansible/tmp`` folders) of runs whose driver is dead, as named by their
    ``owner.json``; returns the folders removed. A folder without a readable owner is left alone."""
    tmp = tmp or Path(tempfile.gettempdir())
    removed = []
    for owner in tmp.glob(runner.PRIVATE_PREFIX + "*/" + runner.OWNER):
        try:
            data = json.loads(owner.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or processes.is_alive(data) is not False:
            continue
        processes.stop_leftovers(str(data.get("marker") or "-"))
        runner.remove_place(owner.parent, str(data.get("rtmp") or ""), tmp)
        removed.append(str(owner.parent))
    return removed


def part_files(planned: list[dict[str, Any]]) -> list[Path]:
    """The NAS ``.part`` files next to the planned destination files (``nas:<absolute path>`` resources) that exist
    on this machine: ``.<name>.part-*`` in the destination's folder (module_utils/nas_transfer.py writes each file,
    and an archive, under that name and renames it into place when it is complete). Regular files only."""
    out = []
    for c in planned:
        resource = str(c.get("resource") or "")
        if not resource.startswith("nas:/"):
            continue
        dest = Path(resource[4:])
        folder = dest.parent
        if not folder.is_dir():
            continue
        for p in folder.glob(f".{dest.name}.part-*"):
            try:
                if stat.S_ISREG(p.lstat().st_mode):
                    out.append(p)
            except OSError:
                continue
    return sorted(set(out))


def summarize_events(events: list[dict[str, Any]]) -> tuple[runner.RunResult, list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """What the streamed events of a killed run show: (the run result they make, the changes they report, the tasks
    that started on a host and have no result).

    A change is each ``ops_changes`` entry of a host result (the module's own, ``host`` added), or, for a result that
    said ``changed`` without them, one entry naming the task (``resource`` ``task:<name>``); a result whose module
    ran in check mode (``ops_check_mode: true``, e.g. library/esa_sender_group.py in the ESA role's preflight)
    changed nothing and gives none. When the run got as far as its ``playbook_on_stats`` event, the role's
    ``ops_changes`` are taken as they are.
    """
    result = runner.result_of_events(events, status=bundles.INTERRUPTED)
    if result.artifacts.get(contract.CHANGES):
        return result, list(result.artifacts[contract.CHANGES]), []
    changes: list[dict[str, Any]] = []
    open_tasks: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        kind = e.get("event")
        data = e.get("event_data") or {}
        key = (str(data.get("host") or ""), str(data.get("task_uuid") or data.get("task") or ""))
        if kind == "runner_on_start":
            open_tasks[key] = {"host": key[0], "task": str(data.get("task") or ""),
                               "action": str(data.get("task_action") or "")}
        elif kind in _ENDS:
            open_tasks.pop(key, None)
            res = data.get("res") or {}
            if not isinstance(res, dict) or res.get(CHECK_MODE) is True:
                continue  # a check-mode result (a preflight) changed nothing
            listed = res.get("ops_changes")
            if isinstance(listed, list) and listed:
                changes += [dict(c, host=c.get("host") or key[0]) for c in listed if isinstance(c, dict)]
            elif res.get("changed") and kind == "runner_on_ok":
                changes.append({"host": key[0], "resource": f"task:{data.get('task')}", "name": data.get("task"),
                                "action": str(data.get("task_action") or "changed"), "before": None, "after": None,
                                "changed": True, "note": "a task result said changed (streamed event)"})
    return result, changes, list(open_tasks.values())


def _close(base: Path, run_id: str, m: Manifest) -> Recovered:
    """Close the written-ahead apply ``run_id`` (manifest ``m``) whose driver is dead; the caller holds its
    environment's lock."""
    b = bundles.bundle(run_id, base)
    place: Mapping[str, Any] = m.get("place") or {}
    killed = processes.stop_leftovers(str(place.get("marker") or "-")) if place.get("marker") else []
    private = Path(str(place["private_dir"])) if place.get("private_dir") else None
    runner.remove_place(private, str(place.get("ansible_tmp") or ""))
    removed = [str(x) for x in (private, place.get("ansible_tmp")) if x]
    plan_id = str(m.get("plan_id") or "")
    try:
        pb = bundles.bundle(plan_id, base)
        planned = list(pb.read_json("changes.json"))
        request = yaml.safe_load((pb.path / "request.yml").read_text(encoding="utf-8")) or {}
    except (InvalidInput, OSError, ValueError, yaml.YAMLError):
        planned, request = [], {}
    parts = part_files(planned)
    for p in parts:
        try:
            p.unlink()
        except OSError:
            continue
    events, bad = bundles.read_events(b.path / bundles.EVENTS)
    result, raw_changes, unfinished = summarize_events(events)
    catalog = load_catalog()
    task = catalog.get(str(m.get("task")))
    changes = contract.change_entries(raw_changes, task.id)
    comparison = contract.compare(planned, changes)
    now = bundles.utc_now()
    driver: Mapping[str, Any] = m.get("process") or {}
    message = (f"interrupted: the driver (pid {driver.get('pid')} on {driver.get('host')}) ended without closing the "
               f"run; closed by recovery at {bundles.iso(now)}. The streamed events show {len(changes)} change(s)"
               + (f"; {len(unfinished)} task(s) had started and not finished: "
                  + ", ".join(f"{t['host']}: {t['task']}" for t in unfinished) + " (they may have changed their "
                  "targets: check them, then plan again to see what is left)" if unfinished else "")
               + (f"; {len(parts)} partial NAS file(s) removed" if parts else ""))
    manifest = cast(Manifest, {k: v for k, v in m.items() if k != "files"})
    manifest.update({"status": RunStatus.INTERRUPTED, "exit_code": 3, "ended_at": bundles.iso(now),
                     "message": message, "ansible_status": "interrupted", "ansible_rc": None, "comparison": comparison,
                     "interrupted": {"detected_at": bundles.iso(now), "by": processes.this_process(),
                                     "killed": killed, "removed": removed, "part_files": [str(p) for p in parts],
                                     "unfinished": unfinished, "unparsed_event_lines": bad}})
    manifest.setdefault("targets", [])
    manifest.setdefault("api_calls", {})
    warnings = [message, *result.warnings]
    record = contract.RunRecord(
        kind="apply", run_id=run_id, task=task, request=request if isinstance(request, dict) else {},
        manifest=manifest, changes=changes, targets=[], warnings=warnings, skipped=result.skipped,
        failures=result.failures, comparison=comparison, attachments={}, events=events,
        stdout="".join(str(e.get("stdout", "")) + "\n" for e in events if e.get("stdout")))
    scrub = bundles.Scrubber([])
    digest_start = bundles.sha256_file(b.path / bundles.START)
    found, _ = ledger.read(base)
    if not any(e.kind == "start" and e.run_id == run_id for e in found):
        ledger.append(base, "start", run_id, digest_start, ref=plan_id or None)
    from ops_driver.run import report  # only here: not on every plan's way to its playbook (issue #28)

    written = bundles.write_bundle(record.with_report(report.render(record, i18n.language())), scrub, base)
    ledger.append(base, "apply", run_id, governance.manifest_sha256(written), ref=plan_id or None)
    return Recovered(run_id, str(m.get("environment") or ""), bundles.INTERRUPTED, killed=killed, removed=removed,
                     part_files=[str(p) for p in parts], unfinished=unfinished, changes=len(changes))

