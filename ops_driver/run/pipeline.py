"""plan and apply: work request → RunConfig → playbook run → RunRecord (contract.py) → report.md and evidence bundle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ops_driver import i18n, processes
from ops_driver.catalog import TIMEOUT_MINUTES_MAX, Catalog, Task, load_catalog
from ops_driver.errors import InvalidInput, PolicyRefused, RunFailed
from ops_driver.evidence import bundles, governance, guards, identity, ledger, window
from ops_driver.paths import evidence_dir, inventory_dir, project_root
from ops_driver.request import REDACTED, Request, load_request, parse_request
from ops_driver.run import contract, inputs, recovery, runner
from ops_driver.run.manifest import ChangeEntry, Manifest, RunKind, RunStatus
from ops_driver.run.runner import ProgressFn, RunResult, run_playbook

COLLECTIONS = ("amazon.aws", "community.aws", "ansible.windows", "community.general", "awx.awx")


@dataclass
class Outcome:
    """Result of a plan or an apply. ``exit_code`` follows the CLI contract."""

    run_id: str
    path: Path
    kind: str
    status: str
    exit_code: int
    changes: list[ChangeEntry]
    message: str
    manifest: Manifest

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "kind": self.kind, "status": self.status, "exit_code": self.exit_code,
                "evidence": str(self.path), "task": self.manifest.get("task"),
                "environment": self.manifest.get("environment"), "plan_id": self.manifest.get("plan_id"),
                "message": self.message, "changes": self.changes,
                "comparison": self.manifest.get("comparison")}


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, Any]:
    """Project commit, ansible-core, ansible and the collections' versions (for manifest.json)."""
    from importlib import metadata

    root = project_root()
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    out: dict[str, Any] = {"project_commit": commit}
    for dist in ("ansible-core", "ansible", "ansible-runner", "boto3"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    colls: dict[str, str | None] = {}
    try:
        import ansible_collections

        base = Path(next(iter(ansible_collections.__path__)))
        for fq in COLLECTIONS:
            ns, name = fq.split(".")
            try:
                colls[fq] = json.loads((base / ns / name / "MANIFEST.json").read_text())["collection_info"]["version"]
            except (OSError, ValueError, KeyError):
                colls[fq] = None
    except ImportError:
        pass
    out["collections"] = colls
    return out




def _extravars(req: Request, task: Task, run_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ev = dict(req.params)
    ev.update(ops_task_id=task.id, ops_ticket=req.ticket, ops_run_id=run_id, ops_requested_by=req.requested_by)
    ev.update(extra or {})
    return ev


@dataclass(frozen=True)
class RunConfig:
    """Everything one plan or apply run needs, built once by :func:`plan` / :func:`apply` and passed whole to
    :func:`_run_and_record` (as ansible-runner's ``RunnerConfig`` travels instead of long argument lists).

    Attributes:
        kind: ``plan`` (check mode + diff) or ``apply``.
        run_id: the new bundle's run ID.
        request, task: the validated work request and its catalog task.
        extravars: the playbook's extra vars (request parameters, ``ops_*`` and, for an apply, the plan's
            ``apply_extravars``).
        base: the evidence folder.
        manifest_extra: keys added to manifest.json (request path and hash, plan ID, schedule record).
        compare_with: for an apply, the plan's changes.json.
        progress: called for every ansible-runner event.
        timeout: ``(seconds, where it was set)``: the run's time limit; None takes :func:`time_limit` of the request
            and the task.
        operator: who runs it (:func:`ops_driver.evidence.identity.acting`: the OS account, or a name declared in the
            sandbox; how it was decided is in ``manifest_extra``: ``operator_source``, ``os_account``).
        stop, place, stream: for an apply written ahead, the signals caught since before its lock, its private
            data dir and marker (recorded in ``start.json``), and the stream of its events into the bundle.
    """

    kind: str
    run_id: str
    request: Request
    task: Task
    extravars: dict[str, Any]
    base: Path
    manifest_extra: dict[str, Any]
    compare_with: list[dict[str, Any]] | None = None
    progress: ProgressFn | None = None
    timeout: tuple[int, str] | None = None
    operator: str = ""
    stop: runner.StopSignals | None = None
    place: runner.RunPlace | None = None
    stream: bundles.EventStream | None = None

    @property
    def limit(self) -> tuple[int, str]:
        """``(seconds, source)`` of the time limit of this run."""
        return self.timeout or time_limit(self.request, self.task)


def time_limit(req: Request, task: Task) -> tuple[int, str]:
    """``(seconds, source)``: the time limit of the task's playbook run and where it was set.

    The request's ``timeout_minutes`` when it has one, else the catalog task's ``automation.timeout_minutes``
    (the catalog-wide default :data:`catalog.TIMEOUT_MINUTES_DEFAULT` when the entry sets none).
    """
    assert task.automation is not None
    if req.timeout_minutes is not None:
        return req.timeout_minutes * 60, "timeout_minutes of the work request"
    return task.automation.timeout_minutes * 60, (f"timeout_minutes of {task.id} in the catalog; a work request may "
                                                   f"set timeout_minutes up to {TIMEOUT_MINUTES_MAX}")


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def read_only_violation(task: Task, kind: str, changes: Sequence[Mapping[str, Any]]) -> str | None:
    """The message refusing a change by a task marked ``read_only`` in the catalog; None when it may pass."""
    changed = [c for c in changes if c.get("changed")]
    if task.automation is None or not task.automation.read_only or not changed:
        return None
    names = ", ".join(f"{c.get('host')} {c.get('resource')} ({c.get('action')})" for c in changed)
    if kind == "plan":
        return (f"{task.id} is read-only in the catalog, but its plan would change {len(changed)} resource(s): "
                f"{names}; refused, nothing was run for real")
    return (f"{task.id} is read-only in the catalog, but the apply changed {len(changed)} resource(s): {names}; "
            "see the evidence and put them back")


def _verdict(cfg: RunConfig, result: RunResult, changes: list[ChangeEntry]) -> tuple[RunStatus, int, str]:
    """``(status, exit code, message)`` of a finished run: the failure kind of the run (or of the read-only check)
    through :data:`contract.OUTCOMES`; the message is empty on success."""
    failure = result.failure_kind()
    violation = read_only_violation(cfg.task, cfg.kind, changes) if failure is None else None
    if violation is not None:
        failure = contract.READ_ONLY
    status, code = contract.outcome(cfg.kind, failure)
    if failure is None:
        return status, code, ""
    if violation is not None:
        return status, code, violation
    if failure == contract.TIMEOUT:
        seconds, source = cfg.limit
        left = ("nothing was changed (check mode)" if cfg.kind == "plan" else
                "it may have changed part of the targets: see the evidence and check their state before planning again")
        return status, code, (f"timed out after {_duration(seconds)} ({source}); "
                              f"ansible-runner stopped the playbook; {left}")
    stopped = [w for w in result.warnings if w.startswith("stopped by ")] if result.status == "canceled" else []
    msgs = [str(f["msg"]) for f in result.failures] + stopped or [
        f"ansible-playbook ended {result.status} (rc {result.rc})"]
    # a rescue that re-fails quotes the failure it caught (e.g. ESA: "... | esa01 failed; done before it: ...")
    msgs = [m for m in msgs if not any(m != other and m in other for other in msgs)]
    return status, code, "; ".join(dict.fromkeys(msgs))


def _run_and_record(cfg: RunConfig) -> Outcome:
    """Run the playbook of ``cfg``, build the run record, write its bundle; return the outcome."""
    req, task = cfg.request, cfg.task
    assert task.automation is not None
    started = bundles.utc_now()
    try:
        result = run_playbook(project_root() / task.automation.playbook, inventory_dir(req.environment),
                              cfg.extravars, check=(cfg.kind == "plan"), progress=cfg.progress, timeout_s=cfg.limit[0],
                              on_event=cfg.stream, stop=cfg.stop, place=cfg.place, meanwhile=_prepare_record)
    finally:
        if cfg.stream is not None:
            cfg.stream.close()
    return record_run(cfg, result, started, bundles.utc_now())


def _prepare_record() -> None:
    """What writing a run's record needs and the run cannot change, made while its playbook runs (``meanwhile`` of
    :func:`ops_driver.run.runner.run_playbook`, on the core ansible-playbook leaves idle): the report's module and
    :func:`versions` (a ``git`` command and the installed distributions' metadata). 10-15 ms that no longer follow
    the playbook (issue #28)."""
    from ops_driver.run import report  # noqa: F401 - the import is the work

    versions()


def record_run(cfg: RunConfig, result: RunResult, started: dt.datetime, ended: dt.datetime) -> Outcome:
    """Build the run record of a finished run (the driver's own, or an AWX job's), write its bundle and its ledger
    line; return the outcome."""
    from ops_driver.run import report  # imported while the playbook ran (_prepare_record)

    req, task = cfg.request, cfg.task
    assert task.automation is not None
    stats = contract.RoleStats.from_artifacts(result.artifacts)
    changes = contract.change_entries(stats.changes, task.id)
    status, code, message = _verdict(cfg, result, changes)
    comparison = contract.compare(cfg.compare_with, changes) if cfg.compare_with is not None else None
    warnings = list(task.automation.warnings_en) + guards.schedule_warnings(cfg.manifest_extra.get("schedule")) \
        + result.warnings + inputs.warnings(cfg.manifest_extra)
    manifest: Manifest = {
        "run_id": cfg.run_id, "kind": RunKind(cfg.kind), "task": task.id, "environment": req.environment,
        "ticket": req.ticket, "requested_by": req.requested_by,
        "operator": cfg.operator or governance.operator(environment=req.environment),
        "change_class": req.change_class, "timeout_s": cfg.limit[0],
        "started_at": bundles.iso(started), "ended_at": bundles.iso(ended), "status": status, "exit_code": code,
        "ansible_status": result.status, "ansible_rc": result.rc, "check_mode": cfg.kind == "plan",
        "message": message, "targets": stats.targets, "api_calls": stats.api_calls, "versions": versions(),
    }
    if task.automation.read_only:
        manifest["read_only"] = True
    if req.change_class != task.automation.change_class:
        manifest["change_class_catalog"] = task.automation.change_class
    if req.emergency_reason:
        manifest["emergency_reason"] = req.emergency_reason
    manifest.update(cast(Manifest, cfg.manifest_extra))  # the plan's, the apply's or the AWX import's keys
    if stats.evidence:
        manifest["evidence"] = stats.evidence  # role-specific record (e.g. SHA-256 manifests)
    if comparison is not None:
        manifest["comparison"] = comparison
    if cfg.kind == "plan" and status == "planned":
        # What apply passes on top of the request so that it acts on exactly what the plan saw
        # (resolved IDs, the states the plan expects: any difference is drift).
        manifest["apply_extravars"] = stats.apply_extravars
    if stats.attachments:
        manifest["attachments"] = sorted(bundles.attachment_file(n) for n in stats.attachments)
    record = contract.RunRecord(
        kind=cfg.kind, run_id=cfg.run_id, task=task, request=req.redacted(task), manifest=manifest, changes=changes,
        targets=stats.targets, warnings=warnings, skipped=result.skipped, failures=result.failures,
        comparison=comparison, attachments=stats.attachments, events=result.events, stdout=result.stdout)
    scrub = bundles.Scrubber(req.secret_values(task))
    b = bundles.write_bundle(record.with_report(report.render(record, i18n.language())), scrub, cfg.base)
    # the ledger line binds the bundle as written: an approval, an apply and `evidence verify` compare against it
    ledger.append(cfg.base, cfg.kind, cfg.run_id, governance.manifest_sha256(b), ref=cfg.manifest_extra.get("plan_id"))
    return Outcome(run_id=cfg.run_id, path=b.path, kind=cfg.kind, status=status, exit_code=code, changes=changes,
                   message=scrub(message), manifest=manifest)




def plan(request_path: Path, progress: ProgressFn | None = None, catalog: Catalog | None = None,
         operator: str | None = None, window_text: str | None = None) -> Outcome:
    """Validate the request and run its playbook in check mode with diff; write the plan bundle.

    The manifest binds what the run reads (:func:`ops_driver.run.inputs.bind`: ``inputs``, ``inputs_sha256``,
    ``project_commit``, ``project_clean``) and says who acted and how that was decided (``operator``,
    ``operator_source``, ``os_account``: :func:`ops_driver.evidence.identity.acting`).

    Raises InvalidInput (exit 2) before anything runs when the request is invalid, PolicyRefused (exit 4) when
    the task is scheduled (automation.schedule) and today is not the environment's day (guards.check_schedule),
    or for a declared operator or ``$OPS_PROJECT_DIR`` outside the sandbox environment.
    ``window_text``: a maintenance window (``--window``, :func:`ops_driver.evidence.window.parse`; InvalidInput for
    an invalid one), recorded as the manifest's ``window``; a scheduled task is then judged on the window's day.
    Returns an Outcome whose exit_code is 2 when a role refused the targets, 3 when the check run failed.
    """
    catalog = catalog or load_catalog()
    req = load_request(request_path, catalog)
    task = catalog.get(req.task)
    rules = governance.load_policy()
    planned_window = (window.parse(window_text, bundles.utc_now(), rules.window_max_s, rules.plan_max_age_s)
                      if window_text is not None else None)
    sched = _schedule(task, req, planned_window)
    recovery.recover(evidence_dir(), environment=req.environment)
    run_id = bundles.new_run_id("plan", task.id)
    actor = identity.acting(req.environment, operator)
    bound = inputs.bind(task, req.environment)  # what the run reads; the apply refuses if any of it changes
    extra: dict[str, Any] = {"request_path": str(request_path.resolve()), "request_sha256": req.source_sha256,
                             "approvals_required": rules.get(req.change_class).approvals,
                             "plan_max_age_s": rules.plan_max_age_s, **actor.manifest(), **bound.manifest()}
    if planned_window is not None:
        extra["window"] = planned_window.record()
    if req.class_floor:
        extra["change_class_floor"] = req.class_floor
    who = actor.name
    if sched is not None:
        extra["schedule"] = sched
    return _run_and_record(RunConfig(kind="plan", run_id=run_id, request=req, task=task,
                                     extravars=_extravars(req, task, run_id), base=evidence_dir(), manifest_extra=extra,
                                     progress=progress, operator=who))


def _schedule(task: Task, req: Request, planned: window.Window | None) -> dict[str, Any] | None:
    """The schedule guard (guards.check_schedule) of a run: judged on the maintenance window's day when the plan
    has one (a CORE-049 plan made ahead for its scheduled day), else today."""
    name = task.automation.schedule if task.automation else None
    if planned is None:
        return guards.check_schedule(name, req.environment, req.params)
    return guards.check_schedule(name, req.environment, req.params, today=planned.day,
                                 today_source="maintenance window")


def recorded_request(plan_id: str, pb: bundles.Bundle, pm: Mapping[str, Any], catalog: Catalog,
                     request_path: Path | None = None) -> Request:
    """The request an apply runs: the one recorded in the plan's bundle (``request.yml``, bound by the bundle's
    manifest and its ledger line), validated again against today's catalog; the file it came from is not needed.

    ``request_path`` (``apply --request FILE``): when given, it must be the file the plan read (same SHA-256), else
    PolicyRefused (exit 4). It is needed only for a request whose recorded copy has a secret parameter redacted:
    then it is read from ``request_path`` or the recorded ``request_path`` (PolicyRefused when neither reads as
    planned).
    """
    def from_file(path: Path) -> Request:
        try:
            req = load_request(path, catalog)
        except InvalidInput as e:
            raise PolicyRefused(f"plan {plan_id}: the request file can no longer be read as planned ({e}); "
                                "plan again") from None
        if req.source_sha256 != pm.get("request_sha256"):
            raise PolicyRefused(f"plan {plan_id}: {path} changed since the plan; plan again")
        return req

    if request_path is not None:
        return from_file(request_path)
    text = (pb.path / "request.yml").read_bytes()
    try:
        req = parse_request(text, catalog, source=f"plan {plan_id}: request.yml")
    except InvalidInput as e:
        raise PolicyRefused(f"{e}; the recorded request no longer holds against the catalog: plan again") from None
    task = catalog.get(req.task)
    given = req.raw.get("params") or {}
    if task.automation and any(p.secret and given.get(p.name) == REDACTED for p in task.automation.params):
        return from_file(Path(pm["request_path"]))  # a secret is not in the bundle: the file the plan read
    return req


def apply(plan_id: str, progress: ProgressFn | None = None, catalog: Catalog | None = None,
          operator: str | None = None, request_path: Path | None = None, at_window: bool = False,
          clock: window.Clock | None = None) -> Outcome:
    """Run exactly the planned request for real and compare the changes with the plan's prediction.

    Raises InvalidInput (exit 2) for an unknown plan ID; PolicyRefused (exit 4) for a tampered, failed, stale or
    already applied plan, a request file changed since the plan, a held environment lock, a scheduled task
    outside its environment's scheduled day (guards.check_schedule, judged again on the day of the apply), or a plan
    the ledger does not hold as it is, without the approvals it needs (the larger of the plan's record and today's
    policy), or approved by the operator (governance.check_apply); a file the plan read that was added, removed or
    changed since (inputs.check, naming it); a declared ``operator`` or ``$OPS_PROJECT_DIR`` / ``$OPS_PLAN_MAX_AGE``
    outside the sandbox environment. ``operator``: a declared operator (sandbox only; else the OS account).

    The request is the one recorded in the plan's bundle (:func:`recorded_request`; ``request_path``: the file,
    which must then be the one planned). A plan with a maintenance window is refused outside it (exit 4, saying
    when it opens or closed); ``at_window``: wait for it to open first (window.wait_for; a signal while waiting
    ends with exit 3, nothing run). ``clock``: the time the window and the plan's age are judged by (tests inject
    one; default the machine's clock).
    """
    clock = clock or window.Clock()
    base = evidence_dir()
    pb, pm = _plan_bundle(plan_id, base)
    planned_window = window.from_record(cast(Mapping[str, Any] | None, pm.get("window")))
    if at_window and planned_window is None:
        raise InvalidInput(f"--at-window: plan {plan_id} has no maintenance window; apply it without --at-window, "
                           "or plan again with --window START/DURATION")
    if at_window and planned_window is not None:
        with runner.StopSignals() as waiting:
            waited = window.wait_for(plan_id, planned_window, clock, lambda: waiting.name)
        if progress is not None:
            progress({"event": "window_open", "event_data": {"waited_s": waited}}, waited)
    recovery.recover(base, environment=str(pm.get("environment")))  # dead runs of the plan's environment first
    guards.check_plan(pm, clock.now(), governance.applies_of(plan_id, base),
                      governance.load_policy().plan_max_age_s)
    catalog = catalog or load_catalog()
    req = recorded_request(plan_id, pb, pm, catalog, request_path)
    task = catalog.get(req.task)
    bound = inputs.bind(task, req.environment)
    inputs.check(plan_id, pm, bound)  # exactly the files the plan read, or nothing runs
    sched = _schedule(task, req, planned_window)
    actor = identity.acting(req.environment, operator)
    who = actor.name
    rules = governance.load_policy()
    governance.check_apply(pb, who, base, rules)
    run_id = bundles.new_run_id("apply", task.id)
    holder = f"{run_id} (pid {os.getpid()}, {who})"
    with runner.StopSignals() as stop, guards.environment_lock(base / ".locks", req.environment, holder) as waited:
        # under the lock: close this environment's dead runs, then the plan checks again (another apply may
        # have consumed the plan between the checks above and the lock), then the start written ahead
        recovery.recover(base, environment=req.environment, held=req.environment)
        pb, pm = _plan_bundle(plan_id, base)
        guards.check_plan(pm, clock.now(), governance.applies_of(plan_id, base), rules.plan_max_age_s)
        change_class, approvals = governance.check_apply(pb, who, base, rules)
        extra_vars = dict(pm.get("apply_extravars") or {})
        planned_changes = pb.read_json("changes.json")
        extra: dict[str, Any] = {"plan_id": plan_id, "plan_operator": pm.get("operator"),
                                 "approvals": [a.summary() for a in approvals],
                                 "approvals_required": governance.approvals_needed(pm, rules), **actor.manifest(),
                                 **bound.manifest(), "lock_wait_s": round(waited, 3)}
        extra["overrides"] = extra.get("overrides", []) + guards.max_age_override(req.environment)
        if not extra["overrides"]:
            del extra["overrides"]
        if change_class == "emergency":
            extra["pending_post_approval"] = True  # until `ops-driver approve RUN_ID` after the fact
        if sched is not None:
            extra["schedule"] = sched
        if planned_window is not None:
            extra["window"] = planned_window.record()
        if stop.is_set():
            raise RunFailed(f"stopped by {stop.name} before the apply started: nothing was run and plan {plan_id} "
                            "can still be applied")
        cfg = RunConfig(kind="apply", run_id=run_id, request=req, task=task,
                        extravars=_extravars(req, task, run_id, extra_vars), base=base, manifest_extra=extra,
                        compare_with=planned_changes, progress=progress, operator=who, stop=stop)
        place = runner.RunPlace.new(run_id)
        try:
            stream = _write_ahead(cfg, place)
        except BaseException:
            place.remove()
            raise
        return _run_and_record(dataclasses.replace(cfg, place=place, stream=stream))


def _plan_bundle(plan_id: str, base: Path) -> tuple[bundles.Bundle, Manifest]:
    """The plan's bundle and manifest; PolicyRefused when it does not verify, InvalidInput when it is no plan."""
    pb = bundles.bundle(plan_id, base)
    problems = bundles.verify(pb)
    if problems:
        raise PolicyRefused(f"plan {plan_id}: evidence bundle does not verify ({'; '.join(problems)}); plan again")
    pm = pb.manifest()
    if pm.get("kind") != "plan":
        raise InvalidInput(f"run ID {plan_id} is an {pm.get('kind')}, not a plan; give the run ID printed by `plan`")
    return pb, pm


def _write_ahead(cfg: RunConfig, place: runner.RunPlace) -> bundles.EventStream:
    """Record the apply of ``cfg`` before its playbook starts (the caller holds the environment lock): the bundle
    with ``start.json`` (status ``running``, the driver's process, the run's private places) and the ``start``
    ledger line, which consumes the plan. Returns the stream of the run's events into the bundle."""
    req, task = cfg.request, cfg.task
    assert task.automation is not None
    manifest: Manifest = {
        "run_id": cfg.run_id, "kind": RunKind.APPLY, "task": task.id, "environment": req.environment,
        "ticket": req.ticket, "requested_by": req.requested_by, "operator": cfg.operator,
        "change_class": req.change_class, "timeout_s": cfg.limit[0], "started_at": bundles.iso(bundles.utc_now()),
        "status": RunStatus.RUNNING, "check_mode": False, "process": processes.this_process(),
        "place": place.as_record(), "versions": versions(),
    }
    if req.emergency_reason:
        manifest["emergency_reason"] = req.emergency_reason
    manifest.update(cast(Manifest, cfg.manifest_extra))
    scrub = bundles.Scrubber(req.secret_values(task))
    digest = bundles.start_bundle(cfg.run_id, manifest, scrub, cfg.base)
    ledger.append(cfg.base, "start", cfg.run_id, digest, ref=cfg.manifest_extra.get("plan_id"))
    return bundles.EventStream(cfg.base / cfg.run_id, scrub)

