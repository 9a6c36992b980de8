"""An AWX / Ansible Tower job as the driver's run record: ``runner.RunResult`` plus the request's fields.

Input: the job object (``GET /api/v2/jobs/<id>/``: ``status``, ``job_type``, ``launched_by`` / ``summary_fields``,
``extra_vars``, ``artifacts`` from ``set_stats``, ``elapsed``, ``job_explanation``) and its events (``GET
/api/v2/jobs/<id>/job_events/``: one page, a list of pages, or the events themselves). Output (:class:`AwxRun`):

- ``result``: a :class:`~ops_driver.run.runner.RunResult` as ``runner.run_playbook`` returns it for the same run —
  the events in ansible-runner's shape (``uuid``, ``counter``, ``event``, ``event_data``, ``stdout``,
  ``start_line``, ``end_line``, ``created``, ``parent_uuid``, ``runner_ident``), in counter order; failures, skipped
  tasks and warnings collected by the driver's own event collection; the artifacts from the job's ``artifacts``
  (where AWX keeps ``set_stats``), else from the stats event; ``stdout`` the events' output lines.
- ``request``: the work request the job ran (task, environment, ticket, requested_by, reason, params) — as the
  ``work_request_check`` task validated it (its event's ``ops_request``, secrets already ``********``), else from
  the job's extra variables (survey answers converted and validated as that task does; the task is the job's
  ``job_tags``, the environment the inventory's name ``<prefix><env>``; a request that does not validate is
  returned as given).
- ``operator``: the user who launched the job (a job started by a workflow: the workflow's launcher);
  ``kind``: ``plan`` for a ``check`` job, ``apply`` for a ``run`` job.

Errors: InvalidInput (exit 2) for a document that is not an AWX job or job events, or a job that has not finished.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ops_driver.awx import client
from ops_driver.awx.survey import check_job, request_from_vars
from ops_driver.catalog import Catalog, load_catalog
from ops_driver.errors import InvalidInput
from ops_driver.evidence import bundles, governance, identity
from ops_driver.paths import ENVIRONMENTS, evidence_dir
from ops_driver.request import parse_request
from ops_driver.run import pipeline
from ops_driver.run.manifest import RunKind
from ops_driver.run.runner import Event, RunResult, collect_event

#: AWX job status → (ansible-runner status, rc). A failed job's rc comes from its stats (see :func:`_rc`).
FINISHED = {"successful": ("successful", 0), "failed": ("failed", 2), "error": ("failed", 1),
            "canceled": ("canceled", 254)}
#: The keys of an ansible-runner event (``runner_ident`` is the AWX job ID).
RUNNER_KEYS = ("uuid", "counter", "stdout", "start_line", "end_line", "event", "created", "parent_uuid",
               "event_data")
CHECK_TASK_ACTIONS = ("work_request_check", "ansible.legacy.work_request_check")


@dataclass
class AwxRun:
    """One AWX job converted: the run, the work request, who ran it and as what (plan or apply)."""

    result: RunResult
    request: dict[str, Any]
    operator: str
    kind: RunKind
    job: dict[str, Any] = field(default_factory=dict)


def _events(pages: Any) -> list[dict[str, Any]]:
    """AWX job events from one page (``{"results": [...]}``), a list of pages, or a list of events."""
    if isinstance(pages, dict):
        pages = [pages]
    if not isinstance(pages, list):
        raise InvalidInput("events: expected the job_events pages of an AWX job (a JSON object or list)")
    out: list[dict[str, Any]] = []
    for item in pages:
        if isinstance(item, dict) and isinstance(item.get("results"), list):
            out += [e for e in item["results"] if isinstance(e, dict)]
        elif isinstance(item, dict) and "event" in item:
            out.append(item)
        else:
            raise InvalidInput("events: an item is neither a job_events page nor a job event")
    seen: dict[Any, dict[str, Any]] = {}
    for e in out:  # pages fetched twice or overlapping: one event per counter
        seen.setdefault(e.get("counter", e.get("uuid")), e)
    return sorted(seen.values(), key=lambda e: (e.get("counter") or 0))


def runner_event(event: dict[str, Any], job_id: Any) -> Event:
    """One AWX job event in ansible-runner's shape."""
    out: Event = {k: event.get(k) for k in RUNNER_KEYS if k in event}
    out["event_data"] = dict(event.get("event_data") or {})
    out["runner_ident"] = str(job_id)
    out.setdefault("stdout", "")
    if out.get("parent_uuid") == "":  # AWX's empty field; ansible-runner leaves the key out (playbook_on_start)
        del out["parent_uuid"]
    return out


def _rc(status: str, events: list[Event]) -> int:
    """ansible-playbook's rc for a finished job: 4 when a host was unreachable, 2 when a task failed."""
    runner_status, rc = FINISHED[status]
    if runner_status != "failed" or status == "error":
        return rc
    stats: dict[str, Any] = next((e["event_data"] for e in reversed(events) if e.get("event") == "playbook_on_stats"),
                                 {})
    if stats.get("dark"):
        return 4
    return 2


def operator_of(job: dict[str, Any], job_vars: dict[str, Any]) -> str:
    """The launching user: ``launched_by`` when a user; else ``summary_fields.created_by``; else ``awx_user_name``."""
    launched = job.get("launched_by") or {}
    if isinstance(launched, dict) and launched.get("type") == "user" and launched.get("name"):
        return str(launched["name"])
    created = (job.get("summary_fields") or {}).get("created_by") or {}
    if isinstance(created, dict) and created.get("username"):
        return str(created["username"])
    for var in ("awx_user_name", "tower_user_name"):
        if job_vars.get(var):
            return str(job_vars[var])
    return "unknown"


def _job_vars(job: dict[str, Any]) -> dict[str, Any]:
    """The job's extra variables: AWX gives them as a JSON (or YAML) string."""
    raw: Any = job.get("extra_vars") or {}
    if isinstance(raw, str):
        import yaml

        try:
            raw = yaml.safe_load(raw) if raw.strip() else {}  # JSON is YAML
        except yaml.YAMLError:
            raw = None
    if not isinstance(raw, dict):
        raise InvalidInput(f"job {job.get('id')}: extra_vars is not a mapping")
    return raw


def _checked_request(events: list[Event]) -> dict[str, Any] | None:
    """The request the ``work_request_check`` task validated (its ``ops_request``), if the job has that event."""
    for e in events:
        data = e.get("event_data") or {}
        res = data.get("res") or {}
        if e.get("event") == "runner_on_ok" and isinstance(res.get("ops_request"), dict) \
                and data.get("task_action") in CHECK_TASK_ACTIONS:
            return dict(res["ops_request"])
    return None


def _request(job: dict[str, Any], job_vars: dict[str, Any], events: list[Event], catalog: Catalog) -> dict[str, Any]:
    checked = _checked_request(events)
    if checked is not None:
        return checked
    task_id = str(job.get("job_tags") or "").split(",")[0].strip()
    task = catalog.get(task_id)
    inventory = str(((job.get("summary_fields") or {}).get("inventory") or {}).get("name") or "")
    env = next((e for e in ENVIRONMENTS if inventory == e or inventory.endswith("-" + e)), None)
    given = {**job_vars, **({"ops_environment": env} if env else {})}
    try:  # validated as the check task would have (defaults filled in, secrets redacted)
        return check_job(task.id, given, check_mode=True, catalog=catalog).summary
    except InvalidInput:  # a job the check refused: the request as given
        found = request_from_vars(task, given)
        found.setdefault("environment", None)
        return found


def convert(job: dict[str, Any], pages: Any, catalog: Catalog | None = None) -> AwxRun:
    """Convert an AWX job and its job events (see the module docstring)."""
    if not isinstance(job, dict) or job.get("type", "job") != "job" or "status" not in job:
        raise InvalidInput("job: expected an AWX job object (GET /api/v2/jobs/<id>/)")
    status = str(job["status"])
    if status not in FINISHED:
        raise InvalidInput(f"job {job.get('id')}: status {status!r}: the job has not finished; import it when it has")
    job_id = job.get("id")
    events = [runner_event(e, job_id) for e in _events(pages)]
    runner_status = FINISHED[status][0]
    if status in ("canceled", "failed") and "timeout" in str(job.get("job_explanation") or "").lower():
        runner_status = "timeout"
    result = RunResult(status=runner_status, rc=_rc(status, events), events=[], stdout="", artifacts={})
    for e in events:
        result.events.append(e)
        collect_event(e, result)
    if isinstance(job.get("artifacts"), dict) and job["artifacts"]:
        result.artifacts = dict(job["artifacts"])
    result.stdout = "".join(str(e["stdout"]) + "\n" for e in events if e.get("stdout"))
    result.duration_s = float(job.get("elapsed") or 0.0)
    job_vars = _job_vars(job)
    kind = RunKind.PLAN if job.get("job_type") == "check" else RunKind.APPLY
    keys = ("id", "name", "job_type", "status", "started", "finished", "launch_type", "scm_revision", "playbook",
            "job_tags", "url")
    info: dict[str, Any] = {k: job.get(k) for k in keys if k in job}
    return AwxRun(result=result, request=_request(job, job_vars, events, catalog or load_catalog()),
                  operator=operator_of(job, job_vars), kind=kind, job=info)


def load(job_path: Path, events_path: Path, catalog: Catalog | None = None) -> AwxRun:
    """Read ``JOB.json`` and ``EVENTS.json`` (as saved from the AWX API) and :func:`convert` them."""
    docs = []
    for path in (job_path, events_path):
        try:
            docs.append(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise InvalidInput(f"{path}: no such file") from None
        except (OSError, ValueError) as e:
            raise InvalidInput(f"{path}: not readable as JSON: {e}") from None
    return convert(docs[0], docs[1], catalog)

def import_awx(job_path: Path, events_path: Path, catalog: Catalog | None = None) -> pipeline.Outcome:
    """An AWX / Tower job saved as files (``JOB.json`` from ``/api/v2/jobs/N/``, ``EVENTS.json`` its ``job_events``
    pages) as an evidence bundle with the same changes.json, report.md and manifest fields as a driver run: a check
    job is a plan, a run job an apply; the operator is the user who launched it (jobs.convert).

    Files anyone can write: the bundle says ``source: file (unverified)`` and never counts as doing a task in the
    monthly record (records.py). Raises InvalidInput (exit 2) for files that are not an AWX job and its events, a
    job that has not finished, or a job whose work request does not validate.
    """
    catalog = catalog or load_catalog()
    return _import_awx(load(job_path, events_path, catalog), {"source": "file (unverified)"}, catalog)


def import_awx_api(url: str, job_id: str, catalog: Catalog | None = None) -> pipeline.Outcome:
    """The job ``job_id`` read from the AWX API at ``url`` (client.fetch: the job, its events, its workflow's
    approvals) as an evidence bundle (see :func:`import_awx`) that says ``source: awx``, with ``awx_url`` and
    ``awx_approvals`` (who approved or denied, when; ``self_approved`` when the launcher approved it, awx#10610)."""
    catalog = catalog or load_catalog()
    got = client.fetch(url, job_id)
    run = convert(got.job, got.pages, catalog)
    extra = {"source": "awx", "awx_url": got.url, "awx_workflow_job": got.workflow_job, "awx_approvals": got.approvals}
    return _import_awx(run, extra, catalog)


def _import_awx(run: Any, extra: dict[str, Any], catalog: Catalog) -> pipeline.Outcome:
    job_id = run.job.get("id")
    req = parse_request(yaml.safe_dump(run.request, allow_unicode=True), catalog, source=f"AWX job {job_id}")
    task = catalog.get(req.task)
    if task.automation is None:
        raise InvalidInput(f"AWX job {job_id}: {task.id} is a manual task; only automated tasks run as jobs")

    def when(key: str) -> dt.datetime:
        try:
            return dt.datetime.fromisoformat(str(run.job[key]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            return bundles.utc_now()

    run_id = bundles.new_run_id(run.kind, task.id, when("started"))
    extra = {**extra, "awx_job": run.job, "approvals_required": governance.load_policy().get(
        req.change_class).approvals, "operator_source": identity.AWX, "os_account": identity.account()}
    cfg = pipeline.RunConfig(kind=run.kind, run_id=run_id, request=req, task=task, extravars={}, base=evidence_dir(),
                    manifest_extra=extra, operator=run.operator)
    return pipeline.record_run(cfg, run.result, when("started"), when("finished"))
