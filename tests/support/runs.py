"""One factory for run records and evidence bundles, for the tests and the benchmarks: a manifest with every key
``pipeline.record_run`` always writes (so that it holds against docs/schema/run-manifest.schema.json), the
:class:`RunRecord` around it and the bundle ``bundles.write_bundle`` makes of it.

Keys given to :func:`manifest` / :func:`record` replace the defaults; ``None`` removes a key (e.g. to write a
manifest without ``ended_at``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

from ops_driver.catalog import Catalog, load_catalog
from ops_driver.evidence import bundles
from ops_driver.run.contract import RunRecord
from ops_driver.run.manifest import Manifest

AT = dt.datetime(2026, 11, 22, 0, 0, tzinfo=dt.UTC)


def manifest(kind: str = "plan", run_id: str = "RUN-1", task: str = "INFO-005", *, at: dt.datetime = AT,
             minutes: int = 1, **keys: Any) -> Manifest:
    """The manifest of a finished ``kind`` run (``plan``/``apply``) of ``task`` in the sandbox that started ``at``
    and took ``minutes``, planned or applied (exit 0); ``keys`` replace or (``None``) remove keys."""
    m: dict[str, Any] = {
        "run_id": run_id, "kind": kind, "task": task, "environment": "sandbox", "ticket": "REQ-1",
        "requested_by": "sato", "operator": "op", "change_class": "standard", "timeout_s": 1800,
        "started_at": bundles.iso(at), "ended_at": bundles.iso(at + dt.timedelta(minutes=minutes)),
        "status": "planned" if kind == "plan" else "applied", "exit_code": 0, "ansible_status": "successful",
        "ansible_rc": 0, "check_mode": kind == "plan", "message": "", "targets": [], "api_calls": {},
        "versions": {"project_commit": "0" * 40},
        **({"plan_id": "PLAN-1"} if kind == "apply" else {}),
    }
    m.update(keys)
    return cast(Manifest, {k: v for k, v in m.items() if v is not None})


def record(kind: str = "plan", run_id: str = "RUN-1", task: str = "INFO-005", *,
           manifest_keys: dict[str, Any] | None = None, request: dict[str, Any] | None = None,
           catalog: Catalog | None = None, **fields: Any) -> RunRecord:
    """A :class:`RunRecord` of :func:`manifest` (``manifest_keys`` passed on) with empty lists elsewhere;
    ``fields`` replace the record's fields (``changes``, ``events``, ``stdout``, ``report``, ``manifest``…).
    ``catalog``: where ``task`` is found (default: the project's, loaded for each call)."""
    base: dict[str, Any] = {
        "kind": kind, "run_id": run_id, "task": (catalog or load_catalog()).get(task),
        "request": request if request is not None else {"task": task, "environment": "sandbox"},
        "manifest": manifest(kind, run_id, task, **(manifest_keys or {})), "changes": [], "targets": [],
        "warnings": [], "skipped": [], "failures": [], "comparison": None, "attachments": {}, "events": [],
        "stdout": "", "report": "# report\n"}
    base.update(fields)
    return RunRecord(**base)


def write(base: Path, rec: RunRecord, secrets: list[str] | None = None) -> bundles.Bundle:
    """``rec`` written as a bundle into ``base`` (``bundles.write_bundle``; ``secrets`` scrubbed)."""
    return bundles.write_bundle(rec, bundles.Scrubber(secrets or []), base)
