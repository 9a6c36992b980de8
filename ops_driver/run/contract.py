"""The contract between the roles and the driver, and the record of one run.

**What a role hands over.** A role leaves its results with ``ansible.builtin.set_stats`` (``per_host: false``, so
set_stats merges dictionaries recursively and adds lists across hosts); ansible-runner returns them in the
``playbook_on_stats`` event (``artifact_data``) and :class:`RoleStats` reads them. AWX shows the same keys as job
artifacts. The keys and their shapes:

``ops_changes`` (:data:`CHANGES`): list, one entry per host × resource::

    {host, resource, name, action, before, after, changed: bool,
     match?: str, note?: str, failed?: bool}

  ``resource`` is an ID such as ``ec2:instance/i-0abc``; ``before``/``after`` are the resource's state (a
  mapping, or ``None`` for a resource that does not exist on that side); ``action`` a verb (``stop``,
  ``create``, ``prune``, ``none``…); ``match`` names a resource that a run creates (it has no ID at plan time)
  the same way in plan and apply (``ec2:image/new-for/i-0abc``); ``note`` says why nothing changed; ``failed``
  marks the resource a failure is about. The module returns the entries, the role adds ``host``.

``ops_targets`` (:data:`TARGETS`): list of the EC2 instances resolved by ``roles/ec2_targets``,
  ``{instance_id, name, environment, state}`` sorted by ID (``state`` is the state at the start of the run).

``ops_api_calls`` (:data:`API_CALLS`): ``{EC2 API action: number of calls}`` made by the custom modules.

``ops_apply_extravars`` (:data:`APPLY_EXTRAVARS`): mapping of extra variables that ``apply`` passes on top of the
  request, so that it acts on exactly what the plan saw (resolved instance IDs, expected states, the prune list,
  sender-group fingerprints); the role fails with ``DRIFT:`` when the estate differs. Read from a plan only.

``ops_evidence`` (:data:`EVIDENCE`): mapping of role-specific records, stored as ``manifest.json`` → ``evidence``.
  Keys in use: ``steps`` (list of str: a role's sequence, shown in report.md), ``esa`` (``{host: {operation,
  listener, appliance, groups: {group: {before, after, add, delete, already_present, not_present,
  missing_from_appliance, not_in_desired}}, round_trips, committed, restore, transcript}}``, shown in report.md),
  ``health`` (``{host: [health check results]}``), ``closed_mode``, ``dedicated_hosts``, ``manifests`` (NAS
  SHA-256 manifests per host), and the DataStage and NAS keys (``project``, ``jobs``, ``package``, …).

``ops_attachments`` (:data:`ATTACHMENTS`): ``{file name: text}``, each written into the bundle as
  ``attachment-<name>`` (names of letters, digits, ``.``, ``_``, ``-``; see ``evidence.attachment_file``).

**How a role refuses.** A failed task whose message starts with :data:`INVALID_PREFIX` is invalid input (exit 2),
with :data:`DRIFT_PREFIX` drift since the plan (exit 4); any other failure is exit 3 (see ``roles/*/README.md``).
:data:`OUTCOMES` maps each failure kind to the run's status and exit code.

**The run record.** :class:`RunRecord` is everything one plan or apply leaves, built once by ``operations`` and
handed to ``report.render`` and ``evidence.write_bundle``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ops_driver.catalog import Task
from ops_driver.run.manifest import ChangeEntry, Comparison, FailureKind, Manifest, RunKind, RunStatus

CHANGES = "ops_changes"
TARGETS = "ops_targets"
API_CALLS = "ops_api_calls"
APPLY_EXTRAVARS = "ops_apply_extravars"
EVIDENCE = "ops_evidence"
ATTACHMENTS = "ops_attachments"
#: Every set_stats key the driver reads.
SET_STATS_KEYS = (CHANGES, TARGETS, API_CALLS, APPLY_EXTRAVARS, EVIDENCE, ATTACHMENTS)

#: Prefixes that roles put at the start of a failure message (see roles/*/README.md).
INVALID_PREFIX = "INVALID INPUT:"
DRIFT_PREFIX = "DRIFT:"

#: Failure kinds (``runner.RunResult.failure_kind`` and the read-only check of ``operations``): :class:`FailureKind`.
INVALID = FailureKind.INVALID
DRIFT = FailureKind.DRIFT
FAILED = FailureKind.FAILED
TIMEOUT = FailureKind.TIMEOUT
READ_ONLY = FailureKind.READ_ONLY

_PLAN, _APPLY = RunKind.PLAN, RunKind.APPLY
#: Failure kind (None: no failure) → run kind (``plan``/``apply``) → (status in manifest.json, exit code).
#: A read-only task that would change something is refused at plan time; an apply that did change something has
#: run, so it is a failed run.
OUTCOMES: dict[FailureKind | None, dict[RunKind, tuple[RunStatus, int]]] = {
    None: {_PLAN: (RunStatus.PLANNED, 0), _APPLY: (RunStatus.APPLIED, 0)},
    INVALID: {_PLAN: (RunStatus.INVALID, 2), _APPLY: (RunStatus.INVALID, 2)},
    DRIFT: {_PLAN: (RunStatus.DRIFTED, 4), _APPLY: (RunStatus.DRIFTED, 4)},
    FAILED: {_PLAN: (RunStatus.FAILED, 3), _APPLY: (RunStatus.FAILED, 3)},
    TIMEOUT: {_PLAN: (RunStatus.TIMEOUT, 3), _APPLY: (RunStatus.TIMEOUT, 3)},
    READ_ONLY: {_PLAN: (RunStatus.REFUSED, 4), _APPLY: (RunStatus.FAILED, 3)},
}


def outcome(kind: str, failure: str | None) -> tuple[RunStatus, int]:
    """``(status, exit code)`` of a ``kind`` run (``plan``/``apply``) that ended with ``failure`` (None: none).
    KeyError for a kind or failure kind outside :class:`RunKind` / :class:`FailureKind`."""
    return OUTCOMES[FailureKind(failure) if failure is not None else None][RunKind(kind)]


@dataclass(frozen=True)
class RoleStats:
    """The set_stats data of one run, by key (see the module docstring); a key no role set is empty."""

    changes: list[dict[str, Any]]
    targets: list[dict[str, Any]]
    api_calls: dict[str, Any]
    apply_extravars: dict[str, Any]
    evidence: dict[str, Any]
    attachments: dict[str, str]

    @classmethod
    def from_artifacts(cls, artifacts: Mapping[str, Any]) -> RoleStats:
        """Read ansible-runner's ``artifact_data``; a missing or empty key gives an empty list or mapping."""
        return cls(changes=list(artifacts.get(CHANGES) or []), targets=list(artifacts.get(TARGETS) or []),
                   api_calls=dict(artifacts.get(API_CALLS) or {}),
                   apply_extravars=dict(artifacts.get(APPLY_EXTRAVARS) or {}),
                   evidence=dict(artifacts.get(EVIDENCE) or {}), attachments=dict(artifacts.get(ATTACHMENTS) or {}))


@dataclass(frozen=True)
class RunRecord:
    """Everything one plan or apply leaves: what ``report.render`` shows and ``evidence.write_bundle`` writes.

    Attributes:
        kind: ``plan`` or ``apply``.
        run_id: the bundle's name (``evidence.new_run_id``).
        task: the catalog task.
        request: the work request as given, secret parameters redacted (``request.yml``).
        manifest: ``manifest.json`` without ``files`` (the writer adds the SHA-256 of every file); the keys are
            :class:`ops_driver.run.manifest.Manifest`'s.
        changes: normalised ``ops_changes`` (``changes.json``), sorted by host and resource.
        targets: ``ops_targets``.
        warnings: the catalog's warnings, the schedule's and Ansible's, in that order.
        skipped: tasks skipped (check mode), ``{host, task, reason}``.
        failures: failed or unreachable tasks, ``{host, task, msg, result}``.
        comparison: for an apply, ``{matched, unpredicted, not_done}`` (``operations.compare``); None for a plan.
        attachments: ``ops_attachments``, ``{name: text}``.
        events: the raw ansible-runner events (``events.jsonl``).
        stdout: the playbook output (``stdout.txt``).
        report: the text of ``report.md``; empty until rendered (:meth:`with_report`).
    """

    kind: str
    run_id: str
    task: Task
    request: dict[str, Any]
    manifest: Manifest
    changes: list[ChangeEntry]
    targets: list[dict[str, Any]]
    warnings: list[str]
    skipped: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    comparison: Comparison | None
    attachments: dict[str, str]
    events: list[dict[str, Any]]
    stdout: str
    report: str = ""

    @property
    def evidence(self) -> dict[str, Any]:
        """The role-specific records (``manifest.json`` → ``evidence``); empty when the role left none."""
        ev = self.manifest.get("evidence")
        return ev if isinstance(ev, dict) else {}

    def lookup(self, where: str) -> Any:
        """The evidence at ``where``: an attribute (``changes``), ``evidence.<key>`` or ``manifest.<key>``."""
        scope, _, key = where.partition(".")
        if scope == "evidence" and key:
            return self.evidence.get(key)
        if scope == "manifest" and key:
            return self.manifest.get(key)
        return getattr(self, where)

    def with_report(self, text: str) -> RunRecord:
        """The same record with ``report`` set."""
        return dataclasses.replace(self, report=text)

def change_entries(entries: list[dict[str, Any]], task_id: str) -> list[ChangeEntry]:
    """Normalise the ``ops_changes`` of a run (shape above) for changes.json.

    Every entry gets ``host`` (default ""), ``task``, ``resource``, ``name`` (default ""), ``action``, ``before``,
    ``after`` and ``changed`` (a bool); ``match`` and ``note`` are kept when set, ``failed`` only when true; other
    keys are dropped. Sorted by host, then resource.
    """
    out: list[ChangeEntry] = []
    for c in entries:
        entry: ChangeEntry = {"host": c.get("host", ""), "task": task_id, "resource": c.get("resource"),
                              "name": c.get("name", ""), "action": c.get("action"), "before": c.get("before"),
                              "after": c.get("after"), "changed": bool(c.get("changed"))}
        if c.get("match"):
            entry["match"] = c["match"]
        if c.get("note"):
            entry["note"] = c["note"]
        if c.get("failed"):
            entry["failed"] = True
        out.append(entry)
    return sorted(out, key=lambda e: (str(e["host"]), str(e["resource"])))


def compare(planned: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]) -> Comparison:
    """Which actual changes the plan predicted: ``{matched, unpredicted, not_done}`` lists of resources."""
    def key(c: Mapping[str, Any]) -> tuple[str, str]:
        # A resource made by the run has no ID at plan time: "match" names it the same in plan and apply.
        return (str(c.get("host")), str(c.get("match") or c.get("resource")))

    predicted = {key(c): c for c in planned if c.get("changed")}
    done = {key(c): c for c in actual if c.get("changed")}
    def as_planned(plan: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
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
