"""plan and apply: the work request → playbook run → evidence bundle pipeline."""

from __future__ import annotations

import functools
import getpass
import json
import os
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from . import evidence, policy, report
from .catalog import Catalog, Task, load_catalog
from .errors import InvalidInput, PolicyRefused
from .paths import evidence_dir, inventory_dir, project_root
from .request import Request, load_request
from .runner import ProgressFn, RunResult, run_playbook

COLLECTIONS = ("amazon.aws", "community.aws", "ansible.windows", "community.general", "awx.awx")


@dataclass
class Outcome:
    """Result of a plan or an apply. ``exit_code`` follows the CLI contract."""

    run_id: str
    path: Path
    kind: str
    status: str
    exit_code: int
    changes: list[dict[str, Any]]
    message: str
    manifest: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "kind": self.kind, "status": self.status, "exit_code": self.exit_code,
                "evidence": str(self.path), "task": self.manifest.get("task"),
                "environment": self.manifest.get("environment"), "plan_id": self.manifest.get("plan_id"),
                "message": self.message, "changes": self.changes,
                "comparison": self.manifest.get("comparison")}


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, Any]:
    """Project commit, ansible-core, ansible and the collections' versions (for manifest.json)."""
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


def _changes(result: RunResult, task_id: str) -> list[dict[str, Any]]:
    entries = []
    for c in result.artifacts.get("ops_changes") or []:
        entries.append({"host": c.get("host", ""), "task": task_id, "resource": c.get("resource"),
                        **{k: c[k] for k in ("match", "note") if c.get(k)},
                        "name": c.get("name", ""), "action": c.get("action"), "before": c.get("before"),
                        "after": c.get("after"), "changed": bool(c.get("changed")),
                        **({"failed": True} if c.get("failed") else {})})
    return sorted(entries, key=lambda e: (str(e["host"]), str(e["resource"])))


def _extravars(req: Request, task: Task, run_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ev = dict(req.params)
    ev.update(ops_task_id=task.id, ops_ticket=req.ticket, ops_run_id=run_id, ops_requested_by=req.requested_by)
    ev.update(extra or {})
    return ev


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _run_and_record(kind: str, req: Request, task: Task, extravars: dict[str, Any], progress: ProgressFn | None,
                    base: Path, run_id: str, extra_manifest: dict[str, Any],
                    compare_with: list[dict[str, Any]] | None = None) -> Outcome:
    assert task.automation is not None
    started = evidence.utc_now()
    result = run_playbook(project_root() / task.automation.playbook, inventory_dir(req.environment), extravars,
                          check=(kind == "plan"), progress=progress)
    ended = evidence.utc_now()
    changes = _changes(result, task.id)
    failure = result.failure_kind()
    if failure is None:
        status, code, message = ("planned" if kind == "plan" else "applied"), 0, ""
    else:
        code = {"invalid": 2, "drift": 4, "failed": 3}[failure]
        status = {"invalid": "invalid", "drift": "drifted", "failed": "failed"}[failure]
        msgs = [str(f["msg"]) for f in result.failures] or [f"ansible-playbook ended {result.status} (rc {result.rc})"]
        # a rescue that re-fails quotes the failure it caught (e.g. ESA: "... | esa01 failed; done before it: ...")
        msgs = [m for m in msgs if not any(m != other and m in other for other in msgs)]
        message = "; ".join(dict.fromkeys(msgs))
    comparison = compare(compare_with, changes) if compare_with is not None else None
    warnings = list(task.automation.warnings_en) + policy.schedule_warnings(extra_manifest.get("schedule")) \
        + result.warnings
    manifest: dict[str, Any] = {
        "run_id": run_id, "kind": kind, "task": task.id, "environment": req.environment, "ticket": req.ticket,
        "requested_by": req.requested_by, "operator": _operator(), "change_class": task.automation.change_class,
        "started_at": evidence.iso(started), "ended_at": evidence.iso(ended), "status": status, "exit_code": code,
        "ansible_status": result.status, "ansible_rc": result.rc, "check_mode": kind == "plan",
        "message": message, "targets": result.artifacts.get("ops_targets") or [],
        "api_calls": result.artifacts.get("ops_api_calls") or {},
        "versions": versions(), **extra_manifest,
    }
    if result.artifacts.get("ops_evidence"):
        manifest["evidence"] = result.artifacts["ops_evidence"]  # role-specific record (e.g. SHA-256 manifests)
    if comparison is not None:
        manifest["comparison"] = comparison
    if kind == "plan" and status == "planned":
        # What apply passes on top of the request so that it acts on exactly what the plan saw
        # (resolved IDs, the states the plan expects: any difference is drift).
        manifest["apply_extravars"] = result.artifacts.get("ops_apply_extravars") or {}
    scrub = evidence.Scrubber(req.secret_values(task))
    text = report.render(manifest, task, req.redacted(task), changes, manifest["targets"], warnings,
                         result.skipped, result.failures, comparison)
    attachments = result.artifacts.get("ops_attachments") or {}
    if attachments:
        manifest["attachments"] = sorted(evidence.attachment_file(n) for n in attachments)
    b = evidence.write_bundle(run_id, manifest, req.redacted(task), changes, result.events, result.stdout, text,
                              scrub, base, attachments=attachments)
    return Outcome(run_id=run_id, path=b.path, kind=kind, status=status, exit_code=code, changes=changes,
                   message=scrub(message), manifest=manifest)


def compare(planned: list[dict[str, Any]], actual: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Which actual changes the plan predicted: ``{matched, unpredicted, not_done}`` lists of resources."""
    def key(c: dict[str, Any]) -> tuple[str, str]:
        # A resource made by the run has no ID at plan time: "match" names it the same in plan and apply.
        return (str(c.get("host")), str(c.get("match") or c.get("resource")))

    predicted = {key(c): c for c in planned if c.get("changed")}
    done = {key(c): c for c in actual if c.get("changed")}
    def as_planned(plan: dict[str, Any], actual: dict[str, Any]) -> bool:
        """Same action, and every fact the plan predicted holds (an apply may add facts, e.g. a SHA-256)."""
        if plan.get("action") != actual.get("action"):
            return False
        p_after, a_after = plan.get("after"), actual.get("after")
        if not (isinstance(p_after, dict) and isinstance(a_after, dict)):
            return bool(p_after == a_after)
        # the state of a resource just created (pending vs available) is not a difference
        skip = {"state"} if plan.get("action") == "create" else set()
        return all(a_after.get(k) == v for k, v in p_after.items() if k not in skip)

    matched = [k[1] for k in sorted(done) if k in predicted and as_planned(predicted[k], done[k])]
    unpredicted = [k[1] for k in sorted(done) if k[1] not in matched]
    not_done = [k[1] for k in sorted(predicted) if k not in done]
    return {"matched": matched, "unpredicted": unpredicted, "not_done": not_done}


def plan(request_path: Path, progress: ProgressFn | None = None, catalog: Catalog | None = None) -> Outcome:
    """Validate the request and run its playbook in check mode with diff; write the plan bundle.

    Raises InvalidInput (exit 2) before anything runs when the request is invalid, PolicyRefused (exit 4) when
    the task is scheduled (automation.schedule) and today is not the environment's day (policy.check_schedule).
    Returns an Outcome whose exit_code is 2 when a role refused the targets, 3 when the check run failed.
    """
    catalog = catalog or load_catalog()
    req = load_request(request_path, catalog)
    task = catalog.get(req.task)
    sched = policy.check_schedule(task.automation.schedule if task.automation else None, req.environment,
                                  req.params)
    run_id = evidence.new_run_id("plan", task.id)
    extra: dict[str, Any] = {"request_path": str(request_path.resolve()), "request_sha256": req.source_sha256}
    if sched is not None:
        extra["schedule"] = sched
    return _run_and_record("plan", req, task, _extravars(req, task, run_id), progress, evidence_dir(), run_id, extra)


def _applies_of(plan_id: str, base: Path) -> list[dict[str, Any]]:
    out = []
    for b in evidence.all_bundles(base):
        if "-apply-" in b.run_id:
            try:
                m = b.manifest()
            except InvalidInput:
                continue
            if m.get("plan_id") == plan_id:
                out.append(m)
    return out


def apply(plan_id: str, progress: ProgressFn | None = None, catalog: Catalog | None = None) -> Outcome:
    """Run exactly the planned request for real and compare the changes with the plan's prediction.

    Raises InvalidInput (exit 2) for an unknown plan ID; PolicyRefused (exit 4) for a tampered, failed, stale or
    already applied plan, a request file changed since the plan, a held environment lock, or a scheduled task
    outside its environment's scheduled day (policy.check_schedule, judged again on the day of the apply).
    """
    base = evidence_dir()
    pb = evidence.bundle(plan_id, base)
    problems = evidence.verify(pb)
    if problems:
        raise PolicyRefused(f"plan {plan_id}: evidence bundle does not verify ({'; '.join(problems)}); plan again")
    pm = pb.manifest()
    if pm.get("kind") != "plan":
        raise InvalidInput(f"run ID {plan_id} is an {pm.get('kind')}, not a plan; give the run ID printed by `plan`")
    policy.check_plan(pm, evidence.utc_now(), _applies_of(plan_id, base))
    catalog = catalog or load_catalog()
    req_path = Path(pm["request_path"])
    try:
        req = load_request(req_path, catalog)
    except InvalidInput as e:
        raise PolicyRefused(f"plan {plan_id}: the request file can no longer be read as planned ({e}); "
                            "plan again") from None
    if req.source_sha256 != pm.get("request_sha256"):
        raise PolicyRefused(f"plan {plan_id}: {req_path} changed since the plan; plan again")
    task = catalog.get(req.task)
    sched = policy.check_schedule(task.automation.schedule if task.automation else None, req.environment,
                                  req.params)
    run_id = evidence.new_run_id("apply", task.id)
    extra_vars = dict(pm.get("apply_extravars") or {})
    planned_changes = pb.read_json("changes.json")
    holder = f"{run_id} (pid {os.getpid()}, {_operator()})"
    with policy.environment_lock(base / ".locks", req.environment, holder):
        return _run_and_record("apply", req, task, _extravars(req, task, run_id, extra_vars), progress, base, run_id,
                               {"plan_id": plan_id, **({"schedule": sched} if sched is not None else {})},
                               compare_with=planned_changes)

