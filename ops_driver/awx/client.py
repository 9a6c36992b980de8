"""Read a finished AWX / Ansible Tower job from the AWX API (issue #24, item 6): the job, all its events, and for a
job run by a workflow the workflow's approval nodes (who approved or denied, when).

Plain HTTP (``urllib``), ``Authorization: Bearer <token>`` with the token from ``$AWX_TOKEN`` or
``$CONTROLLER_OAUTH_TOKEN`` (the awx.awx collection's name); the token is never logged, printed or written to the
evidence, and is sent only to the URL given (a ``next`` link to another host is refused).

Endpoints and fields, as the AWX source defines them (github.com/ansible/awx, commit e21dd0a0, 2024-10-23):

- ``GET /api/v2/jobs/<id>/`` (``awx/api/urls/job.py``; ``JobSerializer``): a job started by a workflow carries
  ``summary_fields.source_workflow_job`` (``id``, ``name``, ``status`` …) and ``related.source_workflow_job``
  (``UnifiedJobSerializer.get_summary_fields`` / ``get_related``, awx/api/serializers.py);
- ``GET /api/v2/jobs/<id>/job_events/``: a page ``{count, next, previous, results}``; ``next`` is the URL of the
  following page or null (the API's standard pagination, ``awx/api/pagination.py``);
- ``GET /api/v2/workflow_jobs/<id>/workflow_nodes/`` (``awx/api/urls/workflow_job.py``;
  ``WorkflowJobNodeListSerializer``): each node's ``summary_fields.job`` holds ``id``, ``name``, ``status``,
  ``type`` (``workflow_approval`` for an approval node) and, for an approval, ``timed_out``;
- ``GET /api/v2/workflow_approvals/<id>/`` (``awx/api/urls/workflow_approval.py``; ``WorkflowApprovalSerializer``):
  ``status`` ``successful`` when approved and ``failed`` when denied (``WorkflowApproval.approve`` / ``deny`` in
  awx/main/models/workflow.py, which also set ``approved_or_denied_by``), ``timed_out``, ``finished``,
  ``summary_fields.approved_or_denied_by`` (``id``, ``username``, ``first_name``, ``last_name``:
  ``SUMMARIZABLE_FK_FIELDS``).

Note (awx#10610, open): AWX lets the user who launched a workflow approve it; :func:`approvals` flags it.

Errors: InvalidInput (exit 2) for a bad URL or job ID, no token, an HTTP error (status named, never the token), an
answer that is not JSON.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ops_driver.errors import InvalidInput
from ops_driver.evidence import identity

TOKEN_ENVS = ("AWX_TOKEN", "CONTROLLER_OAUTH_TOKEN")
PAGE_SIZE = 200
MAX_PAGES = 10000
_TIMEOUT_S = 60


@dataclass
class AwxJob:
    """What the API holds of one job: the job, its job_events pages, the approvals of its workflow (if any)."""

    url: str
    job: dict[str, Any]
    pages: list[dict[str, Any]]
    workflow_job: int | None
    approvals: list[dict[str, Any]] = field(default_factory=list)


def check_url(url: str) -> str:
    """``http(s)://host[:port][/prefix]`` without user, query or fragment; InvalidInput naming ``--url``."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise InvalidInput(f"--url {url!r}: give the AWX server as https://HOST[:PORT] (no user, password or query; "
                           f"the token comes from ${TOKEN_ENVS[0]})")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def token() -> str:
    for name in TOKEN_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise InvalidInput(f"no AWX token: set ${TOKEN_ENVS[0]} (or ${TOKEN_ENVS[1]}) to an OAuth2 token of a user "
                       "who may read the job")


class Client:
    """GET JSON from one AWX server with a bearer token."""

    def __init__(self, url: str, bearer: str) -> None:
        self.base = check_url(url)
        self._token = bearer
        self._origin = urllib.parse.urlsplit(self.base)[:2]

    def _url(self, path: str) -> str:
        full = urllib.parse.urljoin(self.base + "/", path)
        if urllib.parse.urlsplit(full)[:2] != self._origin:
            raise InvalidInput(f"AWX answered with a link to another server ({full}); not followed")
        return full

    def get(self, path: str) -> Any:
        url = self._url(path)
        req = urllib.request.Request(url, headers={  # noqa: S310 - http(s) only (check_url, _url)
            "Authorization": f"Bearer {self._token}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT_S) as r:  # noqa: S310 - http(s) only (check_url)
                body = r.read()
        except urllib.error.HTTPError as e:
            hint = {401: ": the token is not accepted", 403: ": the token's user may not read it",
                    404: ": no such object"}.get(e.code, "")
            raise InvalidInput(f"AWX {url}: HTTP {e.code}{hint}") from None
        except (urllib.error.URLError, OSError) as e:
            raise InvalidInput(f"AWX {url}: cannot connect ({getattr(e, 'reason', e)})") from None
        try:
            return json.loads(body)
        except ValueError:
            raise InvalidInput(f"AWX {url}: the answer is not JSON") from None

    def pages(self, path: str) -> list[dict[str, Any]]:
        """Every page of a list endpoint, following ``next``."""
        out: list[dict[str, Any]] = []
        nxt: str | None = path
        while nxt:
            page = self.get(nxt)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise InvalidInput(f"AWX {self._url(nxt)}: not a list page (count, next, results)")
            out.append(page)
            nxt = page.get("next") or None
            if len(out) > MAX_PAGES:
                raise InvalidInput(f"AWX {self._url(path)}: more than {MAX_PAGES} pages")
        return out


def approval_record(a: dict[str, Any], workflow_job: int, launched_by: str | None) -> dict[str, Any]:
    """One workflow approval as the evidence records it (``source: awx``): decision ``approved``, ``denied``,
    ``timed out`` or the status while it waits; ``by`` the user who approved or denied."""
    who = (a.get("summary_fields") or {}).get("approved_or_denied_by") or {}
    status = str(a.get("status") or "")
    decision = ("timed out" if a.get("timed_out") else {"successful": "approved", "failed": "denied"}.get(status,
                                                                                                           status))
    by = str(who.get("username") or "") or None
    return {"source": "awx", "workflow_job": workflow_job, "approval_id": a.get("id"), "name": a.get("name"),
            "decision": decision, "by": by, "at": a.get("finished") or a.get("modified"),
            "self_approved": bool(by and launched_by and identity.same_person(by, launched_by))}


def fetch(url: str, job_id: str, bearer: str | None = None) -> AwxJob:
    """Read job ``job_id`` (see the module docstring); InvalidInput (exit 2) on any failure."""
    if not str(job_id).isdigit() or int(job_id) < 1:
        raise InvalidInput(f"--job {job_id!r}: with --url, the AWX job's ID (a positive integer)")
    client = Client(url, bearer or token())
    job = client.get(f"/api/v2/jobs/{int(job_id)}/")
    if not isinstance(job, dict):
        raise InvalidInput(f"AWX job {job_id}: not a job object")
    pages = client.pages(f"/api/v2/jobs/{int(job_id)}/job_events/?page_size={PAGE_SIZE}")
    source = (job.get("summary_fields") or {}).get("source_workflow_job") or {}
    wf = source.get("id") if isinstance(source, dict) else None
    out = AwxJob(url=client.base, job=job, pages=pages, workflow_job=int(wf) if isinstance(wf, int) else None)
    if out.workflow_job is not None:
        launcher = ((job.get("summary_fields") or {}).get("created_by") or {}).get("username")
        for page in client.pages(f"/api/v2/workflow_jobs/{out.workflow_job}/workflow_nodes/"):
            for node in page["results"]:
                unified = ((node or {}).get("summary_fields") or {}).get("job") or {}
                if unified.get("type") == "workflow_approval" and isinstance(unified.get("id"), int):
                    a = client.get(f"/api/v2/workflow_approvals/{unified['id']}/")
                    out.approvals.append(approval_record(a, out.workflow_job, launcher))
    return out
