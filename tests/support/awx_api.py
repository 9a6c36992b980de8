"""The AWX API's view of a playbook run, for tests: a job object and its job_events pages made from the
ansible-runner events of a run in the sandbox (no AWX here).

The shapes follow AWX's ``/api/v2/jobs/<id>/`` and ``/api/v2/jobs/<id>/job_events/``: the job keeps the
``set_stats`` data in ``artifacts`` and its extra variables as a JSON string; each event carries AWX's own fields
(``id``, ``type``, ``job``, ``event_level``, ``failed``, ``changed``, ``host_name``, ``play``, ``task``, …) beside
the runner's (``uuid``, ``counter``, ``event_data``, ``stdout``, ``start_line``, ``end_line``); the stats event
has no ``artifact_data`` (AWX moves it to the job).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ops_driver.runner import RunResult

LEVELS = {"playbook_on_start": 0, "playbook_on_play_start": 1, "playbook_on_task_start": 2,
          "playbook_on_stats": 0}


def job_events(events: list[dict[str, Any]], job_id: int) -> list[dict[str, Any]]:
    out = []
    for i, ev in enumerate(events, start=1):
        data = copy.deepcopy(ev.get("event_data") or {})
        data.pop("artifact_data", None)
        kind = str(ev.get("event"))
        res = data.get("res") or {}
        out.append({
            "id": 1000 + i, "type": "job_event", "url": f"/api/v2/job_events/{1000 + i}/",
            "related": {"job": f"/api/v2/jobs/{job_id}/"}, "summary_fields": {"job": {"id": job_id}},
            "created": ev.get("created"), "modified": ev.get("created"), "job": job_id, "event": kind,
            "counter": ev.get("counter"), "event_display": kind.replace("_", " ").title(), "event_data": data,
            "event_level": LEVELS.get(kind, 3), "failed": kind in ("runner_on_failed", "runner_on_unreachable"),
            "changed": bool(res.get("changed")), "uuid": ev.get("uuid"), "parent_uuid": ev.get("parent_uuid", ""),
            "host": None, "host_name": data.get("host", ""), "playbook": data.get("playbook", ""),
            "play": data.get("play", ""), "task": data.get("task", ""), "role": data.get("role", ""),
            "stdout": ev.get("stdout", ""), "start_line": ev.get("start_line"), "end_line": ev.get("end_line"),
            "verbosity": 0,
        })
    return out


def job_event_pages(events: list[dict[str, Any]], job_id: int, page_size: int = 25) -> list[dict[str, Any]]:
    """The events as the API pages them (``count``, ``next``, ``previous``, ``results``)."""
    items = job_events(events, job_id)
    pages = []
    base = f"/api/v2/jobs/{job_id}/job_events/"
    n = max(1, (len(items) + page_size - 1) // page_size)
    for p in range(n):
        pages.append({"count": len(items), "next": f"{base}?page={p + 2}" if p + 1 < n else None,
                      "previous": f"{base}?page={p}" if p > 0 else None,
                      "results": items[p * page_size:(p + 1) * page_size]})
    return pages


def job_object(result: RunResult, job_id: int, job_type: str, user: str, extra_vars: dict[str, Any],
               playbook: str, job_tags: str, inventory: str, launched_by_workflow: bool = False) -> dict[str, Any]:
    """The job detail of a finished run (status from the runner's: successful or failed)."""
    status = "successful" if result.ok else "failed"
    launched = ({"id": 77, "name": "workflow", "type": "workflow_job", "url": "/api/v2/workflow_jobs/77/"}
                if launched_by_workflow else {"id": 5, "name": user, "type": "user", "url": "/api/v2/users/5/"})
    return {
        "id": job_id, "type": "job", "url": f"/api/v2/jobs/{job_id}/", "name": f"job {job_id}",
        "launch_type": "workflow" if launched_by_workflow else "manual", "status": status,
        "failed": status != "successful", "started": "2026-12-03T05:00:00.000000Z",
        "finished": "2026-12-03T05:00:09.000000Z", "elapsed": round(result.duration_s, 3), "job_explanation": "",
        "job_type": job_type, "playbook": playbook, "job_tags": job_tags, "diff_mode": True,
        "extra_vars": json.dumps(extra_vars), "artifacts": copy.deepcopy(result.artifacts), "launched_by": launched,
        "summary_fields": {"inventory": {"id": 3, "name": inventory},
                           "created_by": {"id": 5, "username": user, "first_name": "", "last_name": ""},
                           "job_template": {"id": 9, "name": f"{job_tags} [{inventory}]"}},
    }
