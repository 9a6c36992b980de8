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
import http.server
import json
import threading
import urllib.parse
from typing import Any

from ops_driver.run.runner import RunResult

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
    # a job spawned by a workflow: UnifiedJobSerializer.get_summary_fields / get_related (awx/api/serializers.py)
    source = ({"source_workflow_job": {"id": WORKFLOW_JOB_ID, "name": f"{job_tags} [{inventory}] (check, approve, "
                                       "run)", "description": "", "status": "successful", "failed": False,
                                       "elapsed": 30.0}} if launched_by_workflow else {})
    related = {"source_workflow_job": f"/api/v2/workflow_jobs/{WORKFLOW_JOB_ID}/"} if launched_by_workflow else {}
    return {
        "id": job_id, "type": "job", "url": f"/api/v2/jobs/{job_id}/", "name": f"job {job_id}",
        "launch_type": "workflow" if launched_by_workflow else "manual", "status": status,
        "failed": status != "successful", "started": "2026-12-03T05:00:00.000000Z",
        "finished": "2026-12-03T05:00:09.000000Z", "elapsed": round(result.duration_s, 3), "job_explanation": "",
        "job_type": job_type, "playbook": playbook, "job_tags": job_tags, "diff_mode": True,
        "extra_vars": json.dumps(extra_vars), "artifacts": copy.deepcopy(result.artifacts), "launched_by": launched,
        "related": {"job_events": f"/api/v2/jobs/{job_id}/job_events/", **related},
        "summary_fields": {"inventory": {"id": 3, "name": inventory},
                           "created_by": {"id": 5, "username": user, "first_name": "", "last_name": ""},
                           "job_template": {"id": 9, "name": f"{job_tags} [{inventory}]"}, **source},
    }


WORKFLOW_JOB_ID = 77


def workflow_nodes(job_id: int, approval_ids: list[int]) -> dict[str, Any]:
    """``/api/v2/workflow_jobs/77/workflow_nodes/``: one approval node per ID, then the node that ran the job
    (WorkflowJobNodeSerializer; ``summary_fields.job`` with ``type`` and, for an approval, ``timed_out``)."""
    nodes = []
    for n, aid in enumerate(approval_ids):
        nodes.append({"id": 300 + n, "type": "workflow_job_node", "url": f"/api/v2/workflow_job_nodes/{300 + n}/",
                      "workflow_job": WORKFLOW_JOB_ID, "job": aid, "identifier": f"approve-{n}",
                      "summary_fields": {"job": {"id": aid, "name": "Approve the change", "description": "",
                                                 "status": "successful", "failed": False, "elapsed": 12.0,
                                                 "type": "workflow_approval", "timed_out": False}}})
    nodes.append({"id": 399, "type": "workflow_job_node", "url": "/api/v2/workflow_job_nodes/399/",
                  "workflow_job": WORKFLOW_JOB_ID, "job": job_id, "identifier": "run",
                  "summary_fields": {"job": {"id": job_id, "name": f"job {job_id}", "description": "",
                                             "status": "successful", "failed": False, "elapsed": 9.0,
                                             "type": "job"}}})
    return {"count": len(nodes), "next": None, "previous": None, "results": nodes}


def workflow_approval(approval_id: int, status: str, username: str | None, finished: str,
                      timed_out: bool = False) -> dict[str, Any]:
    """``/api/v2/workflow_approvals/N/`` (WorkflowApprovalSerializer): approved is ``successful``, denied
    ``failed`` (WorkflowApproval.approve / deny), the user in ``summary_fields.approved_or_denied_by``."""
    who = {"approved_or_denied_by": {"id": 8, "username": username, "first_name": "", "last_name": ""}} \
        if username else {}
    return {"id": approval_id, "type": "workflow_approval", "url": f"/api/v2/workflow_approvals/{approval_id}/",
            "name": "Approve the change", "status": status, "failed": status == "failed", "timed_out": timed_out,
            "started": "2026-12-03T04:59:00.000000Z", "finished": finished, "modified": finished,
            "can_approve_or_deny": False, "approval_expiration": None,
            "related": {"approve": f"/api/v2/workflow_approvals/{approval_id}/approve/"},
            "summary_fields": {"workflow_job": {"id": WORKFLOW_JOB_ID, "name": "workflow"}, **who}}


class AwxDouble:
    """A recording HTTP double of the AWX API on 127.0.0.1: GET answers from ``routes`` (path → JSON; a list of
    pages for a paged path, served as ``?page=N`` with ``next`` links); 401 without ``Authorization: Bearer
    <token>``; every request recorded as (path with query, Authorization header)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.routes: dict[str, Any] = {}
        self.requests: list[tuple[str, str]] = []
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                double.requests.append((self.path, self.headers.get("Authorization", "")))
                path, _, query = self.path.partition("?")
                page = int(urllib.parse.parse_qs(query).get("page", ["1"])[0])
                if self.headers.get("Authorization") != f"Bearer {double.token}":
                    return self._send(401, {"detail": "Authentication credentials were not provided."})
                body = double.routes.get(path)
                if isinstance(body, list):  # pages
                    body = dict(body[page - 1], next=f"{path}?page={page + 1}" if page < len(body) else None)
                return self._send(404, {"detail": "Not found."}) if body is None else self._send(200, body)

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AwxDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def serve_job(self, job: dict[str, Any], pages: list[dict[str, Any]], approvals: list[dict[str, Any]]) -> None:
        """Routes for a job, its event pages and (for a job of a workflow) the workflow's approval nodes."""
        jid = job["id"]
        self.routes[f"/api/v2/jobs/{jid}/"] = job
        self.routes[f"/api/v2/jobs/{jid}/job_events/"] = pages
        self.routes[f"/api/v2/workflow_jobs/{WORKFLOW_JOB_ID}/workflow_nodes/"] = [
            workflow_nodes(jid, [a["id"] for a in approvals])]
        for a in approvals:
            self.routes[f"/api/v2/workflow_approvals/{a['id']}/"] = a
