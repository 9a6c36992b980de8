"""Change governance: change classes, approvals bound to the exact plan, emergency changes, the ledger's checks.

The rules live in ``policy/change.yml`` (see its comments), not here. What this module enforces:

- the operator is the OS account that runs the command (``$SUDO_USER`` through sudo); a declared ``--operator`` /
  ``$OPS_OPERATOR`` only in the sandbox environment (:func:`operator`, :mod:`ops_driver.evidence.identity`); people are
  compared by :func:`ops_driver.evidence.identity.same_person` (NFKC, case folded, trimmed);
- a work request may raise its task's change class (catalog ``change_class``), never lower it, by the ranks of
  the policy file; ``emergency`` needs ``emergency_reason`` (request.py, exit 2);
- an approval (``ops-driver approve RUN_ID``) is a record in ``$OPS_EVIDENCE_DIR/approvals/<RUN_ID>/``
  holding the approver, the UTC time, the comment and the SHA-256 of the approved bundle's ``manifest.json``,
  signed with the approver's SSH key (:mod:`ops_driver.evidence.signing`); it counts only while the ledger holds it with
  that hash, its signature verifies against ``policy/allowed_signers`` for the approver, and the class's
  ``approvers`` in ``policy/change.yml`` let that principal approve in that environment (:func:`approve`,
  :func:`approval_checks`);
- ``apply`` runs a plan only when the ledger holds the plan as it is now, the plan has as many approvals by
  distinct people as its class needs (the larger of the plan's recorded ``approvals_required`` and today's policy:
  :func:`approvals_needed`), every one for the plan's manifest as it is now, and the apply's operator
  is none of them (:func:`check_apply`, exit 4);
- an emergency apply needs no approval and is *pending* until approved after the fact (:func:`pending`);
- a reviewer may reject a plan (``ops-driver reject PLAN --reason TEXT``, :func:`reject`): a record in
  ``$OPS_EVIDENCE_DIR/rejections/<RUN_ID>/`` made under the identity rules of an approval (the signing key's
  principal, not the operator or the requester, one the class's ``approvers`` allow) and signed the same way, with a
  ``reject`` ledger line; a plan the ledger holds a rejection of is never approved or applied after (exit 4).

Reference points: Atlantis ``apply_requirements: [approved]``, AWS Systems Manager Change Manager (approval levels;
the ``aws:approve`` step's minimum approvals), Terraform saved plans (an apply refuses a plan that changed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from ops_driver import processes, untrusted
from ops_driver.catalog import CHANGE_CLASSES
from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles, guards, identity, ledger, signing, window
from ops_driver.i18n import N_
from ops_driver.paths import ENVIRONMENTS, project_root
from ops_driver.run.manifest import Manifest

CLASSES = CHANGE_CLASSES  # the names; what each needs is policy/change.yml
APPROVALS = "approvals"
REJECTIONS = "rejections"
OPERATOR_ENV = identity.OPERATOR_ENV


@dataclass(frozen=True)
class ChangeClass:
    """One class of ``policy/change.yml``. ``rank`` is None for emergency (outside the order)."""

    name: str
    ja: str
    rank: int | None
    approvals: int
    post_approvals: int
    requires: tuple[str, ...]
    description: str
    approvers: dict[str, tuple[str, ...]] | None = None  # environment (or ``default``) → principals / group:NAME


@dataclass(frozen=True)
class ChangePolicy:
    classes: dict[str, ChangeClass]
    approval_timeout_s: int
    source: str
    plan_max_age_s: int = guards.DEFAULT_PLAN_MAX_AGE_S
    groups: dict[str, tuple[str, ...]] | None = None  # ``approver_groups``: name → principals
    window_max_s: int = window.DEFAULT_WINDOW_MAX_S  # the longest maintenance window of `plan --window`
    class_floor: dict[str, str] | None = None  # ``class_floor``: environment → the lowest class of its changes

    def floor(self, environment: str) -> str | None:
        """The lowest change class of a change in ``environment`` (``class_floor``), None when it has none."""
        return (self.class_floor or {}).get(environment)

    def get(self, name: str) -> ChangeClass:
        return self.classes[name]

    def may_approve(self, change_class: str, environment: str, principal: str) -> bool:
        """Whether ``principal`` may approve a ``change_class`` change in ``environment``: a class without
        ``approvers`` lets every principal of the allowed-signers file approve; else the environment's list (or
        ``default``'s) must hold ``*``, the principal, or ``group:NAME`` of a group holding it (names compared by
        :func:`ops_driver.evidence.identity.same_person`)."""
        c = self.classes.get(change_class)
        if c is None:
            return False
        if c.approvers is None:
            return True
        allowed = c.approvers.get(environment, c.approvers.get("default", ()))
        for who in allowed:
            names = (self.groups or {}).get(who[6:], ()) if who.startswith("group:") else (who,)
            if who == "*" or any(identity.same_person(n, principal) for n in names):
                return True
        return False


def _approvers(value: Any, where: str, groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]] | None:
    """``classes.<name>.approvers``: a mapping of environment (or ``default``) to a list of principals,
    ``group:NAME`` or ``*``; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidInput(f"{where}: must map an environment (or default) to a list of approvers")
    out = {}
    for env, names in value.items():
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise InvalidInput(f"{where}.{env}: must be a list of principals, group:NAME or *")
        for n in names:
            if n.startswith("group:") and n[6:] not in groups:
                raise InvalidInput(f"{where}.{env}: {n}: no such group in approver_groups")
        out[env] = tuple(names)
    return out


def policy_path() -> Path:
    return project_root() / "policy" / "change.yml"


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{where}: must be an integer >= {minimum}, not {value!r}")
    return value


def parse_policy(data: Any, source: str) -> ChangePolicy:
    """Validate ``policy/change.yml``; InvalidInput (exit 2) naming the field otherwise."""
    if not isinstance(data, dict) or not isinstance(data.get("classes"), dict):
        raise InvalidInput(f"{source}: needs a mapping 'classes' with {', '.join(CLASSES)}")
    raw = data["classes"]
    if set(raw) != set(CLASSES):
        raise InvalidInput(f"{source}: classes must be exactly {', '.join(CLASSES)} (found {', '.join(map(str, raw))})")
    raw_groups = data.get("approver_groups") or {}
    if not isinstance(raw_groups, dict) or not all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in raw_groups.values()):
        raise InvalidInput(f"{source}: approver_groups: must map a group name to a list of principals")
    groups = {str(k): tuple(v) for k, v in raw_groups.items()}
    classes = {}
    for name in CLASSES:
        c = raw[name]
        where = f"{source}: classes.{name}"
        if not isinstance(c, dict):
            raise InvalidInput(f"{where}: must be a mapping")
        rank = None if name == "emergency" else _int(c.get("rank"), f"{where}.rank")
        requires = c.get("requires") or []
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            raise InvalidInput(f"{where}.requires: must be a list of request field names")
        classes[name] = ChangeClass(name=name, ja=str(c.get("ja", "")), rank=rank,
                                    approvals=_int(c.get("approvals"), f"{where}.approvals"),
                                    post_approvals=_int(c.get("post_approvals", 0), f"{where}.post_approvals"),
                                    requires=tuple(requires), description=str(c.get("description", "")),
                                    approvers=_approvers(c.get("approvers"), f"{where}.approvers", groups))
    ranks = [classes[n].rank for n in CLASSES if n != "emergency"]
    if len(set(ranks)) != len(ranks):
        raise InvalidInput(f"{source}: classes standard, minor and major need different ranks")
    if classes["emergency"].post_approvals < 1:
        raise InvalidInput(f"{source}: classes.emergency.post_approvals must be at least 1")
    timeout = _int(data.get("approval_timeout_s", 86400), f"{source}: approval_timeout_s", 60)
    max_age = _int(data.get("plan_max_age_s", guards.DEFAULT_PLAN_MAX_AGE_S), f"{source}: plan_max_age_s", 60)
    window_max = _int(data.get("window_max_s", window.DEFAULT_WINDOW_MAX_S), f"{source}: window_max_s", 60)
    return ChangePolicy(classes=classes, approval_timeout_s=timeout, source=source, plan_max_age_s=max_age,
                        groups=groups, window_max_s=window_max, class_floor=_class_floor(data, source, classes))


def _class_floor(data: dict[str, Any], source: str, classes: dict[str, ChangeClass]) -> dict[str, str] | None:
    """``class_floor`` (optional): environment → a ranked class (standard, minor, major); InvalidInput naming the
    entry otherwise. Every change in that environment is recorded at least at that class (request.parse_request)."""
    raw = data.get("class_floor")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{source}: class_floor: must map an environment to a change class, e.g. {{prod: minor}}")
    ranked = [n for n in CLASSES if classes[n].rank is not None]
    out = {}
    for env, cls in raw.items():
        if env not in ENVIRONMENTS:
            raise InvalidInput(f"{source}: class_floor.{env}: not an environment; use one of {', '.join(ENVIRONMENTS)}")
        if cls not in ranked:
            raise InvalidInput(f"{source}: class_floor.{env}: {cls!r} is not a ranked class; use one of "
                               f"{', '.join(ranked)}")
        out[str(env)] = str(cls)
    return out


def load_policy(path: Path | None = None) -> ChangePolicy:
    path = path or policy_path()
    try:
        # the project's own file, not request data: libyaml's parser (0.7 ms against 6.7 ms, issue #28) where
        # PyYAML was built with it; the same safe constructors either way
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInput(f"{path}: cannot read the change policy ({e})") from None
    return parse_policy(data, str(path))


def operator(given: str | None = None, environment: str | None = None) -> str:
    """Who is acting in ``environment``: the OS account that runs the command, or in the sandbox a declared
    ``given`` (``--operator``) or ``$OPS_OPERATOR`` (:func:`ops_driver.evidence.identity.acting`, which also says how it
    was decided). InvalidInput (exit 2) for an empty declared name, PolicyRefused (exit 4) for a declared name
    outside the sandbox."""
    return identity.acting(environment or "", given).name


# ---------------------------------------------------------------- approvals


@dataclass(frozen=True)
class Approval:
    """An approval record (``approvals/<run_id>/<approval_id>.json``) and its SHA-256 as a file."""

    approval_id: str
    run_id: str
    approver: str
    at: str
    comment: str
    manifest_sha256: str
    after_the_fact: bool
    sha256: str
    path: Path

    def summary(self) -> dict[str, Any]:
        return {"approval_id": self.approval_id, "run_id": self.run_id, "by": self.approver, "at": self.at,
                "comment": self.comment, "manifest_sha256": self.manifest_sha256,
                "after_the_fact": self.after_the_fact}


def approvals_dir(base: Path) -> Path:
    return base / APPROVALS


def manifest_sha256(b: bundles.Bundle) -> str:
    return bundles.sha256_file(b.path / bundles.MANIFEST)


def _read_approval(path: Path) -> Approval:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Approval(approval_id=str(data["approval_id"]), run_id=str(data["run_id"]), approver=str(data["approver"]),
                    at=str(data["at"]), comment=str(data.get("comment") or ""),
                    manifest_sha256=str(data["manifest_sha256"]), after_the_fact=bool(data.get("after_the_fact")),
                    sha256=hashlib.sha256(path.read_bytes()).hexdigest(), path=path)


def approvals_of(run_id: str, base: Path, entries: list[ledger.Entry] | None = None,
                 rules: ChangePolicy | None = None) -> list[Approval]:
    """The approvals of ``run_id`` that count (:func:`approval_checks`), in the order they were given."""
    return approval_checks(run_id, base, entries, rules)[0]


def approval_checks(run_id: str, base: Path, entries: list[ledger.Entry] | None = None,
                    rules: ChangePolicy | None = None) -> tuple[list[Approval], list[tuple[str, str]]]:
    """(the approvals of ``run_id`` that count, [(approval file name, why one does not count)]).

    An approval counts when the ledger holds its record as it is now (one edited or added outside
    ``ops-driver approve`` does not), its signature ``<id>.json.sig`` verifies for its approver against the
    allowed-signers files of the run's environment (:func:`.signing.verify`: ``ssh-keygen -Y verify``),
    it names the run's environment, and ``rules`` (default: ``policy/change.yml``) let that principal approve the
    run's change class there (an emergency apply approved after the fact: class ``emergency``).
    """
    entries = ledger.entries(base) if entries is None else entries
    held = {(e.run_id, e.sha256): e.seq for e in entries if e.kind == "approval" and e.ref == run_id}
    folder = approvals_dir(base) / run_id
    if not folder.is_dir():
        return [], []
    rules = rules or load_policy()
    m: Mapping[str, Any]
    try:
        m = bundles.bundle(run_id, base).manifest()
    except InvalidInput:
        m = {}
    environment = str(m.get("environment") or "")
    cls = "emergency" if m.get("kind") == "apply" else str(m.get("change_class") or "")
    files = signing.signers_files(environment, base)
    out, rejected = [], []
    for p in sorted(folder.glob("*.json")):
        try:
            a = _read_approval(p)
            record = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            rejected.append((p.name, "not an approval record"))
            continue
        if (a.approval_id, a.sha256) not in held or a.run_id != run_id:
            rejected.append((p.name, "not in the ledger as it is (added or edited outside `ops-driver approve`)"))
            continue
        sig = signing.sig_path(p)
        why = None
        if not sig.is_file():
            why = "unsigned (no .json.sig)"
        elif record.get("environment") != environment:
            why = f"approves environment {record.get('environment')!r}, the run is in {environment!r}"
        elif not signing.verify(p.read_bytes(), sig.read_bytes(), a.approver, files):
            why = (f"its signature does not verify for {a.approver} against "
                   f"{', '.join(str(f) for f in files) or signing.policy_signers_path()} (a key not listed there, "
                   "or a record edited after it was signed)")
        elif not rules.may_approve(cls, environment, a.approver):
            why = f"{a.approver} may not approve a {cls} change in {environment} ({rules.source}: approvers)"
        if why:
            rejected.append((p.name, f"approval by {a.approver}: {why}"))
        else:
            out.append(a)
    return sorted(out, key=lambda a: held[a.approval_id, a.sha256]), rejected


def ledger_entry(run_id: str, kind: str, entries: list[ledger.Entry]) -> ledger.Entry | None:
    return next((e for e in entries if e.kind == kind and e.run_id == run_id), None)


def _held_as_is(b: bundles.Bundle, kind: str, entries: list[ledger.Entry]) -> str:
    """The SHA-256 of the bundle's manifest; PolicyRefused unless the ledger holds the bundle with it, intact."""
    problems = bundles.verify(b)
    if problems:
        raise PolicyRefused(f"{kind} {b.run_id}: evidence bundle does not verify ({'; '.join(problems)})")
    digest = manifest_sha256(b)
    entry = ledger_entry(b.run_id, kind, entries)
    if entry is None:
        raise PolicyRefused(f"{kind} {b.run_id} is not in the ledger ({ledger.LEDGER}): it was not made by "
                            "`ops-driver`; plan again")
    if entry.sha256 != digest:
        raise PolicyRefused(f"{kind} {b.run_id}: manifest.json differs from the ledger (line {entry.line_no}): the "
                            "bundle was edited after it was recorded; plan again")
    return digest


def forbidden_approvers(manifest: Manifest) -> list[str]:
    """Who may not approve a run: its operator, the request's requested_by (and, for an apply, the plan's
    operator); one name per person (:func:`.identity.distinct`)."""
    names = [manifest.get("operator"), manifest.get("requested_by"), manifest.get("plan_operator")]
    return identity.distinct(str(n) for n in names if n)


def approvals_needed(manifest: Manifest, rules: ChangePolicy) -> int:
    """The approvals a plan needs before its apply: the larger of what its manifest recorded when it was planned
    (``approvals_required``) and what ``rules`` (today's policy) say for its class — a requirement never falls
    after the plan. A class the policy no longer has counts as the plan's record alone."""
    cls = str(manifest.get("change_class") or "standard")
    recorded = manifest.get("approvals_required")
    planned = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else 0
    return max(planned, rules.get(cls).approvals if cls in rules.classes else 0)


def applies_of(plan_id: str, base: Path, entries: list[ledger.Entry] | None = None) -> list[Mapping[str, Any]]:
    """The manifests of the applies of ``plan_id`` (started, running, interrupted or ended), found through the ledger
    (not by reading every bundle)."""
    entries = ledger.entries(base) if entries is None else entries
    out: list[Mapping[str, Any]] = []
    seen = set()
    for e in entries:
        # a start line consumes the plan: its apply is running, was interrupted, or ended (its apply line follows)
        if e.kind in ("start", "apply") and e.ref == plan_id and e.run_id not in seen:
            seen.add(e.run_id)
            try:
                out.append(bundles.bundle(e.run_id, base).manifest())
            except InvalidInput:
                out.append({"run_id": e.run_id, "status": "bundle missing"})
    return out



def _write_decision(folder: Path, kind: str, record_id: str, record: dict[str, Any], who: signing.Signer,
                    base: Path, run_id: str, now: dt.datetime) -> Path:
    """Write a reviewer's decision (an approval or a rejection of ``run_id``) as ``folder/<record_id>.json`` (created,
    never overwritten), sign it (``<id>.json.sig``; the record is removed when signing fails) and append its
    ``kind`` ledger line (``sha256`` of the record, ``ref`` the run). Returns the record's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record_id}.json"
    text = json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    with path.open("x", encoding="utf-8") as f:
        f.write(text)
    try:
        signing.sign_as(who, path, base)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    ledger.append(base, kind, record_id, hashlib.sha256(text.encode("utf-8")).hexdigest(), ref=run_id, now=now)
    return path

def approve(run_id: str, by: str | None, comment: str | None, base: Path, now: dt.datetime | None = None,
            key: Path | None = None) -> Approval:
    """Record a signed approval of a plan (or, after the fact, of an emergency apply) and append it to the ledger.

    The approver is the principal of the signing key (:func:`.signing.signer`): ``key`` (``--key``), else
    ``$OPS_SIGNING_KEY``, else the ssh-agent; ``by`` then only checks it is that person. In the sandbox, ``by``
    without a key signs with NAME's demo key. The record (approval ID, run, approver, UTC time, comment, the
    manifest's SHA-256, task, environment, change class) is written as ``approvals/<run>/<id>.json`` and its bytes
    signed into ``<id>.json.sig``.

    Raises InvalidInput (exit 2): no such run, a run that is neither a plan nor an emergency apply, an empty name,
    an unusable key. PolicyRefused (exit 4): a plan that failed, expired or was applied (guards.check_plan); a
    bundle the ledger does not hold as it is; a key no allowed-signers file lists; an approver who is the run's
    operator or the request's requested_by, who already approved, or whom ``policy/change.yml`` does not let
    approve this class in this environment. Nothing is written when it raises (a sandbox demo key excepted).
    """
    if by is not None and not by.strip():
        raise InvalidInput("--by: the approver's name is empty; give the name of the person approving")
    b = bundles.bundle(run_id, base)
    m = b.manifest()
    kind = m.get("kind")
    after = kind == "apply"
    if kind not in ("plan", "apply") or (after and m.get("change_class") != "emergency"):
        raise InvalidInput(f"run {run_id} is {'an apply of class ' + str(m.get('change_class')) if after else kind}: "
                           "approve a plan (its run ID printed by `plan`) or an emergency apply")
    entries = ledger.entries(base)
    digest = _held_as_is(b, str(kind), entries)
    now = now or bundles.utc_now()
    if not after:
        refuse_rejected(run_id, base, entries)
        guards.check_plan(m, now, applies_of(run_id, base, entries), load_policy().plan_max_age_s,
                          before_window=True)
    environment = str(m.get("environment") or "")
    who = signing.signer(environment, base, by, key)
    name = who.principal
    forbidden = forbidden_approvers(m)
    if any(identity.same_person(name, f) for f in forbidden):
        raise PolicyRefused(f"approval must come from someone other than {' and '.join(forbidden)} (the operator and "
                            f"the requester of {run_id}); ask another reviewer")
    rules = load_policy()
    cls = "emergency" if after else str(m.get("change_class") or "")
    if not rules.may_approve(cls, environment, name):
        raise PolicyRefused(f"{name} may not approve a {cls} change in {environment} ({rules.source}: "
                            f"classes.{cls}.approvers); ask an approver of that class")
    done = approvals_of(run_id, base, entries, rules)
    if any(identity.same_person(a.approver, name) for a in done):
        raise PolicyRefused(f"{name} has already approved {run_id}; a second approval must come from another person")
    approval_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
    record = {"approval_id": approval_id, "run_id": run_id, "approver": name, "at": bundles.iso(now),
              "comment": comment or "", "manifest_sha256": digest, "after_the_fact": after,
              "task": m.get("task"), "environment": m.get("environment"), "change_class": m.get("change_class"),
              "signed_with": who.source, "namespace": signing.NAMESPACE}
    return _read_approval(_write_decision(approvals_dir(base) / run_id, "approval", approval_id, record, who, base,
                                          run_id, now))


def check_apply(plan: bundles.Bundle, apply_operator: str, base: Path,
                policy: ChangePolicy) -> tuple[str, list[Approval]]:
    """Before an apply runs: (the plan's change class, the approvals that release it); PolicyRefused (exit 4) when
    the ledger does not hold the plan as it is, the plan was rejected (:func:`refuse_rejected`), approvals are
    missing or for another manifest, or the apply's operator approved it."""
    entries = ledger.entries(base)
    digest = _held_as_is(plan, "plan", entries)
    refuse_rejected(plan.run_id, base, entries)
    m = plan.manifest()
    cls = str(m.get("change_class") or "standard")
    if cls not in policy.classes:
        raise PolicyRefused(f"plan {plan.run_id}: change class {cls!r} is not in {policy.source}; plan again")
    need = approvals_needed(m, policy)
    held, rejected = approval_checks(plan.run_id, base, entries, policy)
    stale = [a for a in held if a.manifest_sha256 != digest]
    if stale:
        raise PolicyRefused(f"plan {plan.run_id}: the approval by {', '.join(a.approver for a in stale)} is for "
                            "another version of the plan (its manifest SHA-256 differs); plan again and approve again")
    unheld = sum(1 for _, why in rejected if "not in the ledger" in why)
    unsigned = [why for _, why in rejected if "not in the ledger" not in why]
    approvers = identity.distinct(a.approver for a in held)
    if len(approvers) < need:
        forbidden = forbidden_approvers(m)
        raise PolicyRefused(
            f"plan {plan.run_id} is a {cls} change ({policy.get(cls).ja}): it needs {need} approval(s) by different "
            f"people, it has {len(approvers)} of {need}" + (f" ({', '.join(approvers)})" if approvers else "")
            + (f"; {unheld} approval file(s) not in the ledger do not count" if unheld > 0 else "")
            + "".join(f"; does not count: {why}" for why in unsigned)
            + f"; approve with `ops-driver approve {plan.run_id} --by NAME` (not {' or '.join(forbidden)})")
    if identity.among(apply_operator, approvers):
        raise PolicyRefused(f"plan {plan.run_id}: {apply_operator} approved it and may not also apply it; another "
                            "operator applies")
    return cls, held


def pending(base: Path) -> list[dict[str, Any]]:
    """Emergency applies still waiting for approval after the fact: run ID, task, environment, operator, time,
    reason, approvals so far and how many are needed. One that is running, was interrupted, or whose bundle is
    missing (status ``bundle missing``) stays listed until approved."""
    policy = load_policy()
    entries = ledger.entries(base)
    need = policy.get("emergency").post_approvals
    out = []
    seen = set()
    for e in entries:
        if e.kind not in ("start", "apply") or e.run_id in seen:
            continue
        seen.add(e.run_id)
        m: Mapping[str, Any]
        try:
            m = bundles.bundle(e.run_id, base).manifest()
        except InvalidInput:  # a missing bundle cannot show it was not an emergency: it stays pending
            m = {"change_class": "emergency", "status": "bundle missing", "ended_at": e.at}
        if m.get("change_class") != "emergency":
            continue
        got = len(identity.distinct(a.approver for a in approvals_of(e.run_id, base, entries, policy)))
        if got < need:
            out.append({"run_id": e.run_id, "task": m.get("task"), "environment": m.get("environment"),
                        "operator": m.get("operator"), "ended_at": m.get("ended_at"), "status": m.get("status"),
                        "emergency_reason": m.get("emergency_reason"), "approvals": got, "needed": need})
    return out


def _status(b: bundles.Bundle) -> str:
    try:
        return str(b.manifest().get("status") or "")
    except InvalidInput:
        return ""


def _check_start(e: ledger.Entry, b: bundles.Bundle | None, found: list[ledger.Entry]) -> list[str]:
    """Problems of an apply's ``start`` line: its ``start.json`` removed or edited, or no ``apply`` line closing it
    while its driver is gone (an interrupted apply that ``ops-driver evidence recover`` has not closed yet)."""
    where = f"({ledger.LEDGER} line {e.line_no})"
    if b is None:
        return [] if any(x.kind == "apply" and x.run_id == e.run_id for x in found) else [
            f"bundle removed (its start is recorded on {ledger.LEDGER} line {e.line_no})"]
    start = b.path / bundles.START
    if not start.is_file():
        return [f"{bundles.START} removed {where}"]
    if bundles.sha256_file(start) != e.sha256:
        return [f"{bundles.START} edited after it was recorded {where}"]
    if any(x.kind == "apply" and x.run_id == e.run_id for x in found):
        return []
    try:
        process: Mapping[str, Any] = b.manifest().get("process") or {}
    except InvalidInput:
        process = {}
    if processes.is_alive(process):
        return []  # running now: its own end closes it
    return [f"apply started {where} and never closed: interrupted (its driver, pid {process.get('pid')}, is gone); "
            "close it with `ops-driver evidence recover`"]


def approval_shortfall(apply_manifest: Mapping[str, Any], plan_manifest: Mapping[str, Any] | None,
                       held: list[Approval]) -> str | None:
    """The flag of an apply that ran with fewer approvals than its plan required, else None.

    Required: the larger of the apply's recorded ``approvals_required`` and its plan's (None: the plan bundle is
    gone, its record alone). Counted: distinct people (:func:`.identity.distinct`) among the approvals
    the apply names (``approvals``) that ``held`` (:func:`approvals_of` its plan) still holds as they were.
    """
    need = 0
    for m in (apply_manifest, plan_manifest or {}):
        value = m.get("approvals_required")
        if isinstance(value, int) and not isinstance(value, bool):
            need = max(need, value)
    ids = {a.approval_id for a in held}
    named = apply_manifest.get("approvals") or []
    got = identity.distinct(str(a.get("by")) for a in named if isinstance(a, dict) and a.get("approval_id") in ids)
    if len(got) >= need:
        return None
    return (SHORTFALL_BY if got else SHORTFALL).format(got=len(got), need=need, plan_id=apply_manifest.get("plan_id"),
                                                       names=", ".join(got))


#: The flag of :func:`approval_shortfall`, with the approvers' names and without (the monthly record shows it).
SHORTFALL_BY = N_("applied with {got} approval(s) of the {need} its plan {plan_id} required ({names})")
SHORTFALL = N_("applied with {got} approval(s) of the {need} its plan {plan_id} required")


def shortfalls(base: Path, entries: list[ledger.Entry]) -> dict[str, str]:
    """Every apply of the ledger that ran with fewer approvals than its plan required (:func:`approval_shortfall`):
    ``{apply run ID: flag}``. Bundles that cannot be read are left to the other checks."""
    out: dict[str, str] = {}
    for e in entries:
        if e.kind != "apply":
            continue
        try:
            m = bundles.bundle(e.run_id, base).manifest()
        except InvalidInput:
            continue
        plan_id = str(m.get("plan_id") or e.ref or "")
        try:
            pm: Manifest | None = bundles.bundle(plan_id, base).manifest() if plan_id else None
        except InvalidInput:
            pm = None
        flag = approval_shortfall(m, pm, approvals_of(plan_id, base, entries) if plan_id else [])
        if flag:
            out[e.run_id] = flag
    return out


_APPROVAL_FILE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}\.json$")


def verify_all(base: Path, head_mark: tuple[int, str] | None = None) -> dict[str, list[str]]:
    """Everything wrong with the evidence folder, by subject (a run ID, an approval file, or ``ledger``):

    a bundle whose files do not verify; a bundle edited after its ledger line, removed, or present but not in the
    ledger; an approval or rejection record changed, removed, not in the ledger, unsigned or signed by someone who
    may not decide on that plan (:func:`rejection_problems`); a ledger line that does not parse, is out of
    sequence, breaks the hash chain or repeats a run; with ``head_mark`` (SEQ, HASH), a ledger cut short of it; an
    apply that ran with fewer approvals than its plan required (:func:`shortfalls`).
    """
    problems: dict[str, list[str]] = {}

    def add(subject: str, text: str) -> None:
        problems.setdefault(subject, []).append(text)

    found, parse_problems = ledger.read(base)
    for text in parse_problems + ledger.check_chain(found, head_mark):
        add("ledger", text)
    by_id = {b.run_id: b for b in bundles.all_bundles(base)}
    held_runs = set()
    for e in found:
        if e.kind in ledger.DECISIONS:
            continue
        held_runs.add(e.run_id)
        b = by_id.get(e.run_id)
        if e.kind == "start":
            for text in _check_start(e, b, found):
                add(e.run_id, text)
        elif b is None:
            add(e.run_id, f"bundle removed (recorded on {ledger.LEDGER} line {e.line_no})")
        elif manifest_sha256(b) != e.sha256:
            add(e.run_id, f"manifest.json edited after it was recorded ({ledger.LEDGER} line {e.line_no})")
    for run_id, b in by_id.items():
        for text in bundles.verify(b):
            add(run_id, text)
        if run_id not in held_runs:
            running = _status(b) == bundles.RUNNING
            add(run_id, "an apply written ahead without its start line (its driver died before the playbook "
                        "started); close it with `ops-driver evidence recover`" if running else
                "bundle not in the ledger (added outside ops-driver)")
    try:
        waiting = pending(base) if found and not parse_problems else []
    except (InvalidInput, KeyError):
        waiting = []
    for item in waiting:
        if item.get("status") in (bundles.INTERRUPTED, "bundle missing"):
            add(str(item["run_id"]), f"emergency apply {item.get('status')}, pending post-approval "
                                     f"({item.get('approvals')} of {item.get('needed')}): see what it changed and "
                                     f"approve it after the fact (`ops-driver approve {item['run_id']} --by NAME`)")
    approvals = {e.run_id: e for e in found if e.kind == "approval"}
    on_disk: dict[str, Path] = {}
    root = approvals_dir(base)
    for f in sorted(root.glob("*/*")) if root.is_dir() else []:
        if f.name.endswith(".json" + signing.SIG_SUFFIX) and f.with_name(f.name[:-len(signing.SIG_SUFFIX)]).is_file():
            continue  # the signature of a record (checked with it below)
        on_disk[f.stem if _APPROVAL_FILE.match(f.name) else f"{f.parent.name}/{f.name}"] = f
    for approval_id, e in approvals.items():
        record = on_disk.get(approval_id)
        subject = f"approval {approval_id}"
        if record is None or record.parent.name != e.ref:
            add(subject, f"approval record of {e.ref} removed (recorded on {ledger.LEDGER} line {e.line_no})")
        elif hashlib.sha256(record.read_bytes()).hexdigest() != e.sha256:
            add(subject, f"approval record of {e.ref} changed after it was recorded ({ledger.LEDGER} line {e.line_no})")
    rules = load_policy()
    for run_id in sorted({e.ref for e in approvals.values() if e.ref}):
        for name, why in approval_checks(run_id, base, found, rules)[1]:
            if why.startswith("approval by "):  # a record the ledger holds whose signature or approver fails
                add(f"approval {name.removesuffix('.json')}", f"does not count: {why}")
    for key, f in on_disk.items():
        if key not in approvals:
            add(f"approval {key}", f"{f.relative_to(base)}: not in the ledger (added outside `ops-driver approve`)")
    for subject, text in rejection_problems(base, found, rules):
        add(subject, text)
    for run_id, flag in shortfalls(base, found).items():
        add(run_id, flag)
    return problems


# ---------------------------------------------------------------- rejections


@dataclass(frozen=True)
class Rejection:
    """A rejection record (``rejections/<run_id>/<rejection_id>.json``) and its SHA-256 as a file."""

    rejection_id: str
    run_id: str
    by: str
    at: str
    reason: str
    manifest_sha256: str
    sha256: str
    path: Path

    def summary(self) -> dict[str, Any]:
        return {"rejection_id": self.rejection_id, "run_id": self.run_id, "by": self.by, "at": self.at,
                "reason": self.reason, "manifest_sha256": self.manifest_sha256}


#: The longest rejection reason, in characters (a ticket comment, not a document).
MAX_REASON_CHARS = 1000


def rejections_dir(base: Path) -> Path:
    return base / REJECTIONS


def _read_rejection(path: Path) -> Rejection:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Rejection(rejection_id=str(data["rejection_id"]), run_id=str(data["run_id"]), by=str(data["rejected_by"]),
                     at=str(data["at"]), reason=str(data["reason"]), manifest_sha256=str(data["manifest_sha256"]),
                     sha256=hashlib.sha256(path.read_bytes()).hexdigest(), path=path)


def rejections_of(run_id: str, base: Path, entries: list[ledger.Entry] | None = None) -> list[Rejection]:
    """The rejections of ``run_id`` the ledger holds as they are on disk (a ``reject`` line whose ``sha256`` is the
    record's), in ledger order. A held rejection stops the plan even if its signature no longer verifies (a
    rejection can only stop a change; :func:`rejection_problems` reports the signature to ``evidence verify``)."""
    entries = ledger.entries(base) if entries is None else entries
    out = []
    for e in entries:
        if e.kind != "reject" or e.ref != run_id:
            continue
        path = rejections_dir(base) / run_id / f"{e.run_id}.json"
        try:
            r = _read_rejection(path)
        except (OSError, ValueError, KeyError):
            continue
        if r.sha256 == e.sha256 and r.run_id == run_id:
            out.append(r)
    return out


def refuse_rejected(run_id: str, base: Path, entries: list[ledger.Entry] | None = None) -> None:
    """PolicyRefused (exit 4) naming who rejected ``run_id``, when, and why, if the ledger holds a rejection of it."""
    found = rejections_of(run_id, base, entries)
    if found:
        r = found[0]
        raise PolicyRefused(f"plan {run_id} was rejected by {r.by} at {r.at}: {r.reason!r} (rejection "
                            f"{r.rejection_id}); a rejected plan is never approved or applied: fix the request and "
                            "plan again")


def check_reason(reason: str | None) -> str:
    """The rejection's reason as given, checked like a free-text field of a work request (untrusted.check_string,
    multiline: line feeds and tabs allowed; no control or format character, no template delimiter) and at most
    :data:`MAX_REASON_CHARS` characters. InvalidInput (exit 2) naming ``--reason`` and the fix."""
    if reason is None or not reason.strip():
        raise InvalidInput("--reason: say why the plan is rejected (free text, e.g. --reason 'wrong instance: "
                           "web02 is the one to stop'); the requester reads it")
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"--reason: {len(reason)} characters is longer than the {MAX_REASON_CHARS} a rejection "
                           "reason may hold; shorten it and put the details on the ticket")
    problem = untrusted.check_string(reason, "--reason", multiline=True)
    if problem:
        raise InvalidInput(problem.replace("no work request field may hold", "no rejection reason may hold"))
    return reason.strip()


def reject(run_id: str, by: str | None, reason: str | None, base: Path, now: dt.datetime | None = None,
           key: Path | None = None) -> Rejection:
    """Record a signed rejection of a plan and append a ``reject`` line to the ledger.

    The same identity rules as :func:`approve`: the person rejecting is the principal of the signing key
    (``key`` / ``$OPS_SIGNING_KEY`` / the ssh-agent; in the sandbox ``by`` without a key signs with NAME's demo
    key), is neither the plan's operator nor its requester, and is one the class's ``approvers`` let approve in
    that environment. The record (rejection ID, run, who, UTC time, reason, the manifest's SHA-256, task,
    environment, change class) is written as ``rejections/<run>/<id>.json`` and signed into ``<id>.json.sig`` in
    the approvals' namespace (the record says ``decision: reject``: it cannot pass for an approval, whose record
    lives elsewhere and has other keys).

    Raises InvalidInput (exit 2): an empty or unsafe ``reason`` (:func:`check_reason`), an empty name, no such
    run, a run that is not a plan, an unusable key. PolicyRefused (exit 4): a plan already rejected, failed,
    expired or applied (guards.check_plan); a bundle the ledger does not hold as it is; a key no allowed-signers
    file lists; the operator or the requester; a principal the policy does not let decide on this class here.
    Nothing is written when it raises (a sandbox demo key excepted).
    """
    text_reason = check_reason(reason)
    if by is not None and not by.strip():
        raise InvalidInput("--by: the reviewer's name is empty; give the name of the person rejecting")
    b = bundles.bundle(run_id, base)
    m = b.manifest()
    if m.get("kind") != "plan":
        raise InvalidInput(f"run {run_id} is {'an ' + str(m.get('kind')) if m.get('kind') else 'no run'}: only a "
                           "plan can be rejected (its run ID printed by `plan`)")
    entries = ledger.entries(base)
    digest = _held_as_is(b, "plan", entries)
    refuse_rejected(run_id, base, entries)
    now = now or bundles.utc_now()
    rules = load_policy()
    guards.check_plan(m, now, applies_of(run_id, base, entries), rules.plan_max_age_s)
    environment = str(m.get("environment") or "")
    who = signing.signer(environment, base, by, key)
    name = who.principal
    forbidden = forbidden_approvers(m)
    if any(identity.same_person(name, f) for f in forbidden):
        raise PolicyRefused(f"a rejection must come from a reviewer other than {' and '.join(forbidden)} (the "
                            f"operator and the requester of {run_id}); to drop your own plan, leave it to expire")
    cls = str(m.get("change_class") or "")
    if not rules.may_approve(cls, environment, name):
        raise PolicyRefused(f"{name} may not decide on a {cls} change in {environment} ({rules.source}: "
                            f"classes.{cls}.approvers); ask an approver of that class")
    rejection_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
    record = {"rejection_id": rejection_id, "decision": "reject", "run_id": run_id, "rejected_by": name,
              "at": bundles.iso(now), "reason": text_reason, "manifest_sha256": digest, "task": m.get("task"),
              "environment": m.get("environment"), "change_class": m.get("change_class"),
              "signed_with": who.source, "namespace": signing.NAMESPACE}
    return _read_rejection(_write_decision(rejections_dir(base) / run_id, "reject", rejection_id, record, who, base,
                                           run_id, now))


def rejection_problems(base: Path, found: list[ledger.Entry], rules: ChangePolicy) -> list[tuple[str, str]]:
    """(subject, problem) for every rejection record that does not hold, checked like an approval record: a
    ``reject`` line whose record was removed or changed, a record in ``rejections/`` the ledger does not hold, a
    record whose signature does not verify for its author against the run's allowed-signers files, that names
    another environment, or whose author the policy does not let decide on the plan's class there."""
    out: list[tuple[str, str]] = []
    lines = {e.run_id: e for e in found if e.kind == "reject"}
    root = rejections_dir(base)
    on_disk = {(f.parent.name, f.stem): f for f in sorted(root.glob("*/*.json"))} if root.is_dir() else {}
    for stray in sorted(root.glob("*/*")) if root.is_dir() else []:
        if not (stray.suffix == ".json" or stray.name.endswith(".json" + signing.SIG_SUFFIX)):
            out.append((f"rejection {stray.parent.name}/{stray.name}", "not a rejection record or its signature"))
    for rejection_id, e in lines.items():
        subject = f"rejection {rejection_id}"
        f = on_disk.get((str(e.ref), rejection_id))
        if f is None:
            out.append((subject, f"rejection record of {e.ref} removed (recorded on {ledger.LEDGER} line {e.line_no})"))
            continue
        if hashlib.sha256(f.read_bytes()).hexdigest() != e.sha256:
            out.append((subject, f"rejection record of {e.ref} changed after it was recorded ({ledger.LEDGER} line "
                                 f"{e.line_no})"))
            continue
        try:
            r = _read_rejection(f)
            record = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            out.append((subject, "not a rejection record"))
            continue
        try:
            m = bundles.bundle(r.run_id, base).manifest()
        except InvalidInput:
            m = cast(Manifest, {})
        environment = str(m.get("environment") or "")
        cls = str(m.get("change_class") or "")
        sig = signing.sig_path(f)
        if not sig.is_file():
            why = "unsigned (no .json.sig)"
        elif record.get("environment") != environment:
            why = f"rejects environment {record.get('environment')!r}, the run is in {environment!r}"
        elif not signing.verify(f.read_bytes(), sig.read_bytes(), r.by, signing.signers_files(environment, base)):
            why = (f"its signature does not verify for {r.by} (a key not listed in the allowed-signers files, or a "
                   "record edited after it was signed)")
        elif not rules.may_approve(cls, environment, r.by):
            why = f"{r.by} may not decide on a {cls} change in {environment} ({rules.source}: approvers)"
        else:
            continue
        out.append((subject, f"rejection by {r.by}: {why}"))
    for (run_id, rejection_id), f in on_disk.items():
        line = lines.get(rejection_id)
        if line is None or line.ref != run_id:
            out.append((f"rejection {run_id}/{rejection_id}", f"{f.relative_to(base)}: not in the ledger (added "
                                                              "outside `ops-driver reject`)"))
    return out
