"""The run record's types: ``manifest.json`` of an evidence bundle and an entry of ``changes.json``.

The manifest is the audit artefact that reviewers, the monthly record, the approvals and the AWX import read. It is
built in three places (``pipeline.record_run`` for a finished plan or apply and an imported AWX job,
``pipeline._write_ahead`` for an apply that starts, ``recovery`` for an apply closed as interrupted) and written by
``evidence.bundles``, which adds ``files``. These types describe the JSON as written; they change nothing in it
(the enums are ``str`` subclasses and serialise as their value). The published JSON Schema,
``docs/schema/run-manifest.schema.json``, is :func:`json_schema` (``python -m ops_driver.run.manifest`` prints it;
``tests/unit/run/test_manifest.py`` checks it is current and every manifest the tests write is validated against it).

A bundle read back (``Bundle.manifest()``) is typed :class:`Manifest` but is data from disk: readers keep checking
the values they use (``m.get(...)``, ``isinstance``), and ``evidence verify`` checks the files, not this shape.
"""

import enum
import json
import types
import typing
from typing import Any, Literal, NotRequired, Required, TypedDict


class RunKind(enum.StrEnum):
    """What a bundle records: a check run (``plan``) or the run that changes the estate (``apply``)."""

    PLAN = "plan"
    APPLY = "apply"


class RunStatus(enum.StrEnum):
    """``manifest.json`` → ``status``: how the run ended (``contract.OUTCOMES``), or ``running`` for an apply written
    ahead and not closed yet, ``interrupted`` for one closed by ``recovery``."""

    RUNNING = "running"
    PLANNED = "planned"
    APPLIED = "applied"
    INVALID = "invalid"
    DRIFTED = "drifted"
    FAILED = "failed"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    INTERRUPTED = "interrupted"


class FailureKind(enum.StrEnum):
    """Why a run failed (``runner.RunResult.failure_kind``; ``contract.OUTCOMES`` maps it to status and exit code):
    a role refused the input (``INVALID INPUT:``), found drift since the plan (``DRIFT:``), failed otherwise, the
    run timed out, or a read-only task would have changed something."""

    INVALID = "invalid"
    DRIFT = "drift"
    FAILED = "failed"
    TIMEOUT = "timeout"
    READ_ONLY = "read_only"


class ChangeEntry(TypedDict):
    """One entry of ``changes.json`` (``contract.change_entries``): one host × resource.

    ``before``/``after`` are the resource's state (a mapping, or None where it does not exist); ``match`` names a
    resource the run creates the same way in plan and apply; ``note`` says why nothing changed; ``failed`` (only
    ever true) marks the resource a failure is about.
    """

    host: str
    task: str
    resource: str | None
    name: str
    action: str | None
    before: Any
    after: Any
    changed: bool
    match: NotRequired[str]
    note: NotRequired[str]
    failed: NotRequired[Literal[True]]


class Comparison(TypedDict):
    """An apply's changes against its plan's prediction (``contract.compare``): lists of resources."""

    matched: list[str]
    unpredicted: list[str]
    not_done: list[str]


class ApprovalSummary(TypedDict):
    """An approval as an apply records it (``governance.Approval.summary``); ``at`` is a UTC ISO time."""

    approval_id: str
    run_id: str
    by: str
    at: str
    comment: str
    manifest_sha256: str
    after_the_fact: bool


class Process(TypedDict):
    """A driver process (``processes.this_process``): ``start_ticks`` in clock ticks since boot, None when
    unreadable; ``boot_id`` the kernel's boot ID ("" when unreadable)."""

    host: str
    pid: int
    start_ticks: int | None
    boot_id: str | None


class Place(TypedDict):
    """Where an apply keeps its private files (``runner.RunPlace.as_record``)."""

    private_dir: str
    marker: str
    ansible_tmp: str


class Interrupted(TypedDict):
    """How ``recovery`` closed an apply whose driver died (manifest key ``interrupted``)."""

    detected_at: str
    by: Process
    killed: list[Any]
    removed: list[str]
    part_files: list[str]
    unfinished: list[dict[str, Any]]
    unparsed_event_lines: int


class Schedule(TypedDict):
    """The schedule guard's record (``guards.check_schedule``); dates are ``YYYY-MM-DD``."""

    name: str
    file: str
    file_sha256: str
    scheduled: bool
    scheduled_date: str | None
    today: str
    today_source: str
    today_overridden: bool
    emergency: bool
    reason: str | None


class Window(TypedDict):
    """A plan's maintenance window (``plan --window``, :mod:`ops_driver.evidence.window`): the text given, start
    and end in UTC and in JST, the duration in seconds."""

    text: str
    start: str
    end: str
    start_jst: str
    end_jst: str
    duration_s: int


class Manifest(TypedDict, total=False):
    """``manifest.json`` of an evidence bundle (``evidence.bundles``; architecture.md "Evidence").

    Times are UTC ISO strings (``2026-12-07T05:34:44Z``), ``*_s`` seconds, ``*_sha256`` hex digests. Always present:
    the keys marked Required. A finished run (any ``status`` but ``running``) also has :data:`FINISHED_KEYS`.
    Groups of keys, by who adds them:

    - every run: ``run_id`` … ``versions``, ``files`` (``{file name: SHA-256}``, added by the bundle writer);
    - a plan: ``request_path``, ``request_sha256``, ``plan_max_age_s``, ``apply_extravars`` (planned only);
    - an apply: ``plan_id``, ``plan_operator``, ``approvals``, ``lock_wait_s``, ``comparison``, ``process`` and
      ``place`` (written ahead), ``pending_post_approval`` (emergency), ``interrupted`` (closed by recovery);
    - who acted (``identity.Actor.manifest``): ``operator_source``, ``os_account``; what the run read
      (``inputs.Bound.manifest``): ``inputs`` … ``project_dir``, ``overrides``;
    - an imported AWX job: ``source``, ``awx_job``, ``awx_url``, ``awx_workflow_job``, ``awx_approvals``.
    """

    run_id: Required[str]
    kind: Required[RunKind]
    task: Required[str]
    environment: Required[str]
    ticket: Required[str]
    requested_by: Required[str]
    operator: Required[str]
    change_class: Required[str]
    change_class_catalog: str
    emergency_reason: str
    timeout_s: Required[int | float]
    started_at: Required[str]
    ended_at: str
    status: Required[RunStatus]
    exit_code: int
    ansible_status: str
    ansible_rc: int | None
    check_mode: Required[bool]
    message: str
    targets: list[dict[str, Any]]
    api_calls: dict[str, Any]
    versions: Required[dict[str, Any]]
    evidence: dict[str, Any]
    comparison: Comparison
    apply_extravars: dict[str, Any]
    attachments: list[str]
    files: dict[str, str]
    read_only: bool
    # a plan
    window: Window
    change_class_floor: str
    request_path: str
    request_sha256: str
    approvals_required: int
    plan_max_age_s: int | float
    schedule: Schedule
    # who acted, what the run read
    operator_source: str
    os_account: str
    inputs: dict[str, str]
    inputs_sha256: str
    project_commit: str
    project_clean: bool | None
    project_dirty: list[str]
    project_dir: str
    overrides: list[str]
    # an apply
    plan_id: str
    plan_operator: str | None
    approvals: list[ApprovalSummary]
    lock_wait_s: int | float
    pending_post_approval: bool
    process: Process
    place: Place
    interrupted: Interrupted
    # an imported AWX job
    source: str
    awx_job: dict[str, Any]
    awx_url: str
    awx_workflow_job: Any
    awx_approvals: list[dict[str, Any]]


class RecordAttachment(TypedDict):
    """A file attached to the record of a manual task: its name as given, its file in the bundle, SHA-256, bytes."""

    name: str
    file: str
    sha256: str
    bytes: int


class RecordManifest(TypedDict, total=False):
    """``manifest.json`` of the record of a manual task (``ops-driver record``, :mod:`ops_driver.records.manual`):
    what was done (``result``: done, ng, skipped; ``status`` the same), on which day (``date``, JST), by whom, with
    which note and attachments. No playbook ran: no ticket, class, targets or versions."""

    run_id: Required[str]
    kind: Required[Literal["record"]]
    task: Required[str]
    environment: Required[str]
    date: Required[str]
    result: Required[Literal["done", "ng", "skipped"]]
    status: Required[Literal["done", "ng", "skipped"]]
    note: Required[str]
    exit_code: Required[int]
    started_at: Required[str]
    ended_at: Required[str]
    operator: Required[str]
    operator_source: Required[str]
    os_account: Required[str]
    attachments: Required[list[RecordAttachment]]
    today_override: str
    files: Required[dict[str, str]]


#: Keys every finished run's manifest has (every status but ``running``).
FINISHED_KEYS = ("ended_at", "exit_code", "ansible_status", "ansible_rc", "message", "targets", "api_calls")

SCHEMA_ID = "https://example.invalid/ops-automation/run-manifest.schema.json"


def _schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one annotation (str, int, float, bool, None, Any, Literal, a StrEnum, list[X],
    dict[str, X], a union, or a TypedDict, which goes to ``$defs``)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return {}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if isinstance(tp, type) and issubclass(tp, enum.StrEnum):
        return {"enum": [m.value for m in tp]}
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if set(args) == {int, float}:
            return {"type": "number"}
        return {"anyOf": [_schema_of(a, defs) for a in args]}
    if origin is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": _schema_of(item, defs)} if item is not Any else {"type": "array"}
    if origin is dict:
        _, value = typing.get_args(tp)
        return {"type": "object", "additionalProperties": _schema_of(value, defs)} if value is not Any \
            else {"type": "object"}
    if typing.is_typeddict(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder: a recursive type refers to itself
            defs[tp.__name__] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"no JSON Schema for the annotation {tp!r}")


def _object_schema(td: Any, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(td)
    doc = " ".join((td.__doc__ or "").split("\n\n")[0].split())
    return {"description": doc, "type": "object",
            "properties": {k: _schema_of(v, defs) for k, v in hints.items()},
            "required": sorted(td.__required_keys__), "additionalProperties": False}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``manifest.json`` as written: :class:`Manifest` with ``files`` required
    and, unless ``status`` is ``running``, :data:`FINISHED_KEYS`. No key outside the type is allowed: a new manifest
    key is added to :class:`Manifest` first."""
    defs: dict[str, Any] = {}
    top = _object_schema(Manifest, defs)
    top["required"] = sorted({*top["required"], "files"})
    top["allOf"] = [{"if": {"properties": {"status": {"not": {"const": RunStatus.RUNNING.value}}}},
                     "then": {"required": list(FINISHED_KEYS)}}]
    defs["Manifest"] = top
    _schema_of(RecordManifest, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "ops-driver run manifest (manifest.json of an evidence bundle)",
            "description": "A plan's or an apply's manifest (Manifest), or the record of a manual task's "
                           "(RecordManifest, kind record).",
            "if": {"properties": {"kind": {"const": "record"}}, "required": ["kind"]},
            "then": {"$ref": "#/$defs/RecordManifest"}, "else": {"$ref": "#/$defs/Manifest"},
            "$defs": dict(sorted(defs.items()))}


def schema_text() -> str:
    """:func:`json_schema` as the text of ``docs/schema/run-manifest.schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
