"""What a change reviewer asks of the evidence store (issue #29): what waits for me, where is a ticket's work, what
is the state of this plan now.

- :func:`resolve`: a run ID as typed: the whole ID, a unique prefix of one (an ambiguous prefix is refused naming
  the candidates, exit 2) or ``last``, the newest plan of the current operator;
- :func:`live_status`: a plan's (or an emergency apply's) approval status computed now from the ledger — approved
  k of N and by whom, rejected (by whom, why), applied (by which run), expired, failed — never the text written
  into ``report.md`` at plan time;
- :func:`waiting`: the plans waiting for approval (ledger order: not applied, not expired, not rejected, fewer
  approvals than the class needs) and the emergency applies waiting for approval after the fact, each with its
  environment, class, age, approvals k/N and approvers; :func:`may_decide` says whether a principal may approve one;
- :func:`runs_of_ticket`: the runs whose request names a ticket; :func:`ticket_reuse`: the earlier runs of a
  plan's ticket, when one of them acted on another target (a ticket number copied from an earlier request).

Everything is read from ``$OPS_EVIDENCE_DIR`` (the ledger, bundles, approval and rejection records); nothing here
writes. Approvals count as :func:`ops_driver.evidence.governance.approval_checks` counts them (signed, held by the
ledger, for the manifest as it is now); rejections as :func:`ops_driver.evidence.governance.rejections_of`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import bundles, governance, guards, identity, ledger
from ops_driver.run.manifest import Manifest

#: The word that names the newest plan of the current operator wherever a run ID is asked for.
LAST = "last"
#: Run kinds a ledger line names by a bundle (the others, approval and reject, name a record).
RUN_KINDS = ("plan", "start", "apply")
WAITING, APPROVED, NO_APPROVAL, REJECTED, APPLIED, EXPIRED, FAILED, PENDING = (
    "waiting", "approved", "no approval needed", "rejected", "applied", "expired", "failed", "pending post-approval")


def _run_ids(found: list[ledger.Entry]) -> list[str]:
    """The run IDs of the ledger's plans and applies, oldest first, each once."""
    return list(dict.fromkeys(e.run_id for e in found if e.kind in RUN_KINDS))


def current_operator(environment: str) -> str:
    """Who runs this command, as a plan in ``environment`` would record it (:func:`identity.acting`: the OS
    account, or ``$OPS_OPERATOR`` in the sandbox); the OS account where a declared name is refused."""
    try:
        return identity.acting(environment).name
    except (InvalidInput, PolicyRefused):
        return identity.system_operator()


def resolve(text: str, base: Path, found: list[ledger.Entry] | None = None) -> str:
    """The run ID that ``text`` names: ``text`` itself when a bundle has that name; ``last``: the newest plan
    (ledger order) whose operator is the current operator (:func:`current_operator` of the plan's environment);
    else the one bundle whose run ID starts with ``text``. ``text`` unchanged when nothing matches (the command
    then says there is no such run, or looks it up as a ticket).

    Raises InvalidInput (exit 2) for ``last`` when the current operator has no plan, and for a prefix more than one
    run ID starts with, listing them (the newest first, at most 10).
    """
    if (base / text / bundles.MANIFEST).is_file():
        return text
    found = ledger.read(base)[0] if found is None else found  # the lines that parse: `evidence verify` names the rest
    if text == LAST:
        me = {identity.system_operator()}
        for e in reversed(found):
            if e.kind != "plan":
                continue
            try:
                m = bundles.bundle(e.run_id, base).manifest()
            except InvalidInput:
                continue
            who = current_operator(str(m.get("environment") or ""))
            me.add(who)
            if identity.same_person(str(m.get("operator") or ""), who):
                return e.run_id
        raise InvalidInput(f"{LAST}: {' / '.join(sorted(me))} has no plan in {ledger.path_of(base)}; give a run ID "
                           "(`ops-driver review` lists the plans waiting for approval)")
    if not text or "/" in text or text.startswith("."):
        return text
    known = set(_run_ids(found)) | {b.run_id for b in bundles.all_bundles(base)}
    matches = sorted((r for r in known if r.startswith(text)), reverse=True)
    if len(matches) > 1:
        shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
        raise InvalidInput(f"run ID {text!r} is ambiguous: {len(matches)} runs start with it ({shown}); type more "
                           "of it")
    return matches[0] if matches else text


# ---------------------------------------------------------------- live status


@dataclass(frozen=True)
class Status:
    """A run's approval status now. ``state``: one of :data:`WAITING`, :data:`APPROVED`, :data:`NO_APPROVAL`,
    :data:`REJECTED`, :data:`APPLIED`, :data:`EXPIRED`, :data:`FAILED` (a plan) or :data:`PENDING` /
    :data:`APPROVED` / ``apply`` (an apply); ``approvals``/``needed``: distinct approvers counted / required;
    ``expires_at``: UTC ISO time a plan stops being appliable (None for an apply); ``text``: one line for a
    terminal."""

    run_id: str
    kind: str
    state: str
    approvals: int
    needed: int
    approvers: list[str]
    rejections: list[dict[str, Any]]
    applies: list[dict[str, Any]]
    expires_at: str | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "kind": self.kind, "state": self.state, "approvals": self.approvals,
                "needed": self.needed, "approved_by": self.approvers, "rejections": self.rejections,
                "applied_by": self.applies, "expires_at": self.expires_at, "text": self.text}


def _time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def max_age_s(manifest: Mapping[str, Any], rules: governance.ChangePolicy) -> int:
    """The age limit of a plan in seconds, as guards.check_plan judges it (the smaller of today's reviewed limit
    and the plan's recorded one, or ``$OPS_PLAN_MAX_AGE`` in the sandbox)."""
    limit = rules.plan_max_age_s
    recorded = manifest.get("plan_max_age_s")
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        limit = min(limit, recorded)
    env = manifest.get("environment")
    try:
        return guards.plan_max_age_s(str(env) if env else None, limit)
    except (InvalidInput, PolicyRefused):
        return limit


def _who(names: list[str]) -> str:
    return f" (by {', '.join(names)})" if names else ""


def live_status(run_id: str, base: Path, found: list[ledger.Entry] | None = None,
                rules: governance.ChangePolicy | None = None, now: dt.datetime | None = None) -> Status:
    """The approval status of ``run_id`` now (module docstring). A plan: rejected, else applied (a start line
    consumes it), else failed (it did not end ``planned``), else expired (older than :func:`max_age_s` at ``now``),
    else approved k of N / waiting k of N / no approval needed. An apply: an emergency pending post-approval or
    approved after the fact, else its status. InvalidInput (exit 2) when there is no bundle of ``run_id``."""
    found = ledger.entries(base) if found is None else found
    rules = rules or governance.load_policy()
    now = now or bundles.utc_now()
    b = bundles.bundle(run_id, base)
    m = b.manifest()
    kind = str(m.get("kind") or "")
    held = governance.approvals_of(run_id, base, found, rules)
    if kind == "apply":
        need = rules.get("emergency").post_approvals if m.get("change_class") == "emergency" else 0
        names = identity.distinct(a.approver for a in held)
        if need:
            state = APPROVED if len(names) >= need else PENDING
            text = (f"emergency apply approved after the fact {len(names)} of {need}{_who(names)}"
                    if state == APPROVED else f"emergency apply PENDING POST-APPROVAL: {len(names)} of {need}"
                                              f"{_who(names)}")
        else:
            state, text = str(m.get("status") or "apply"), f"apply of plan {m.get('plan_id')}: {m.get('status')}"
        return Status(run_id, kind, state, len(names), need, names, [], [], None, text)
    digest = governance.manifest_sha256(b)
    names = identity.distinct(a.approver for a in held if a.manifest_sha256 == digest)
    need = governance.approvals_needed(m, rules)
    rejections = [r.summary() for r in governance.rejections_of(run_id, base, found)]
    applies = [{"run_id": a.get("run_id"), "status": a.get("status"), "operator": a.get("operator")}
               for a in governance.applies_of(run_id, base, found)]
    ended = _time(m.get("ended_at"))
    expires = ended + dt.timedelta(seconds=max_age_s(m, rules)) if ended else None
    expires_at = bundles.iso(expires) if expires else None
    count = f"{len(names)} of {need}{_who(names)}"
    if rejections:
        r = rejections[0]
        state, text = REJECTED, f"rejected by {r['by']} at {r['at']}: {r['reason']}"
    elif applies:
        state = APPLIED
        text = "applied by " + ", ".join(f"{a['run_id']} ({a['status']}, {a['operator']})" for a in applies)
    elif m.get("status") != "planned":
        state, text = FAILED, f"plan ended {m.get('status')!r}: it cannot be approved or applied; plan again"
    elif expires is None or now > expires:
        state, text = EXPIRED, f"expired at {expires_at} (approved {count}); plan again"
    elif need == 0:
        state, text = NO_APPROVAL, f"no approval needed ({m.get('change_class')} change); appliable until {expires_at}"
    elif len(names) >= need:
        state, text = APPROVED, f"approved {count}; appliable until {expires_at}"
    else:
        state, text = WAITING, f"waiting for approval: approved {count}; expires at {expires_at}"
    return Status(run_id, kind, state, len(names), need, names, rejections, applies, expires_at, text)


# ---------------------------------------------------------------- the reviewer's queue


def _age(now: dt.datetime, then: dt.datetime | None) -> str:
    if then is None:
        return "?"
    minutes = max(0, int((now - then).total_seconds()) // 60)
    return f"{minutes // 1440}d{minutes // 60 % 24}h" if minutes >= 1440 else f"{minutes // 60}h{minutes % 60:02d}m"


def waiting(base: Path, now: dt.datetime | None = None, rules: governance.ChangePolicy | None = None) -> list[
        dict[str, Any]]:
    """The runs waiting for a reviewer, oldest first: every plan whose :func:`live_status` is :data:`WAITING`,
    then every emergency apply pending post-approval (:func:`ops_driver.evidence.governance.pending`). Each row:
    ``run_id``, ``kind`` (``plan`` / ``emergency``), ``task``, ``environment``, ``change_class``, ``ticket``,
    ``operator``, ``requested_by``, ``at`` (the plan's end, UTC), ``age_s``, ``age`` (``3h05m``, ``2d4h``),
    ``approvals``, ``needed``, ``approved_by``, ``expires_at`` and ``forbidden`` (who may not approve it)."""
    found = ledger.entries(base)
    rules = rules or governance.load_policy()
    now = now or bundles.utc_now()
    rows: list[dict[str, Any]] = []
    for e in found:
        if e.kind != "plan":
            continue
        try:
            m = bundles.bundle(e.run_id, base).manifest()
        except InvalidInput:
            continue
        ended = _time(m.get("ended_at"))
        if m.get("status") != "planned" or ended is None or now > ended + dt.timedelta(seconds=max_age_s(m, rules)):
            continue  # failed or expired: decided from the manifest alone, before the ledger scans of live_status
        s = live_status(e.run_id, base, found, rules, now)
        if s.state != WAITING:
            continue
        rows.append({"run_id": e.run_id, "kind": "plan", "task": m.get("task"), "environment": m.get("environment"),
                     "change_class": m.get("change_class"), "ticket": m.get("ticket"), "operator": m.get("operator"),
                     "requested_by": m.get("requested_by"), "at": m.get("ended_at"),
                     "age_s": int((now - ended).total_seconds()) if ended else None, "age": _age(now, ended),
                     "approvals": s.approvals, "needed": s.needed, "approved_by": s.approvers,
                     "expires_at": s.expires_at, "forbidden": governance.forbidden_approvers(m)})
    for p in governance.pending(base):
        try:
            m = bundles.bundle(str(p["run_id"]), base).manifest()
        except InvalidInput:
            m = cast(Manifest, {"status": "bundle missing"})
        ended = _time(m.get("ended_at") or p.get("ended_at"))
        held = governance.approvals_of(str(p["run_id"]), base, found, rules)
        rows.append({"run_id": p["run_id"], "kind": "emergency", "task": p.get("task"),
                     "environment": p.get("environment"), "change_class": "emergency", "ticket": m.get("ticket"),
                     "operator": p.get("operator"), "requested_by": m.get("requested_by"), "at": p.get("ended_at"),
                     "age_s": int((now - ended).total_seconds()) if ended else None, "age": _age(now, ended),
                     "approvals": p.get("approvals"), "needed": p.get("needed"),
                     "approved_by": identity.distinct(a.approver for a in held), "expires_at": None,
                     "emergency_reason": p.get("emergency_reason"), "status": p.get("status"),
                     "forbidden": governance.forbidden_approvers(m) if m.get("kind") else []})
    return rows


def may_decide(row: dict[str, Any], principal: str, rules: governance.ChangePolicy) -> bool:
    """Whether ``principal`` may approve (or reject) the :func:`waiting` ``row`` now: not its operator or
    requester (:func:`ops_driver.evidence.governance.forbidden_approvers`), not among its approvers already, and
    allowed by the class's ``approvers`` in its environment (an emergency apply: the ``emergency`` class)."""
    if identity.among(principal, row.get("forbidden") or []) or identity.among(principal, row.get("approved_by") or []):
        return False
    return rules.may_approve(str(row.get("change_class") or ""), str(row.get("environment") or ""), principal)


# ---------------------------------------------------------------- tickets


def same_ticket(a: Any, b: Any) -> bool:
    """Whether two ticket numbers are one (NFKC, case folded, trimmed: ``ｒｅｑ-1`` is ``REQ-1``)."""
    return identity.same_person(str(a or ""), str(b or ""))


#: Where :func:`tickets` keeps what it has read, under the evidence folder: derived data, not evidence (``evidence
#: verify`` does not read it; a bundle has no ``manifest.json`` there).
TICKET_CACHE = Path(".cache") / "tickets.json"
_CACHE_VERSION = 2


def _load_ticket_cache(path: Path, fd: int, size: int) -> tuple[int, bytes, dict[str, str], dict[str, str]]:
    """(ledger bytes already read, the last line read with its newline, tickets, targets) from the cache;
    (0, b"", {}, {}) when it is missing, malformed, or does not fit the ledger as it is now (shorter, or another line
    at that place)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        done, tail = int(data["ledger_bytes"]), str(data["tail"]).encode("utf-8")
        known, targets = data["tickets"], data["targets"]
        if data.get("version") != _CACHE_VERSION or not isinstance(known, dict) or not isinstance(targets, dict) \
                or not 0 <= done <= size or len(tail) > done or os.pread(fd, len(tail), done - len(tail)) != tail \
                or not all(isinstance(k, str) and isinstance(v, str) for d in (known, targets) for k, v in d.items()):
            raise ValueError("does not fit the ledger")
        return done, tail, known, targets
    except (OSError, ValueError, KeyError, TypeError):
        return 0, b"", {}, {}


def tickets(base: Path) -> dict[str, str]:
    """Run ID → its ticket in comparison form (:func:`identity.normalise`; "" for none), for the ledger's plans and
    applies, in ledger order, from their manifests (:func:`ticket_index`)."""
    return ticket_index(base)[0]


def ticket_index(base: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``(tickets, targets)``: run ID → its ticket in comparison form (:func:`identity.normalise`; "" for none) and
    run ID → what it acted on (:func:`target_of`), for the ledger's plans and applies, in ledger order, from their
    manifests.

    Every plan asks this (the ticket-reuse warning), and a year's store holds tens of thousands of runs: reading
    the whole ledger and every run's manifest each time made a plan slower as the store grew (about 0.3 CPU-s at
    12,000 runs). What was read is kept in :data:`TICKET_CACHE` (JSON: how many bytes of the ledger were read, the
    last line read, the tickets and targets), and only the ledger lines written since are read, with the manifests
    of their runs. The cache is used only when the ledger still holds that line at that place (the ledger is
    append-only; a ledger restored from a backup or otherwise changed is read again from its start); it is written
    atomically (a temporary file renamed) and is never needed: when it cannot be read or written (a reviewer's
    read-only access) the ledger and manifests are read as before. Ledger lines that do not parse are passed over
    (``evidence verify`` reports them). Callers confirm a match against the manifest itself (:func:`runs_of_ticket`),
    so a stale or edited cache can hide a run from the warning, never put a wrong one in it."""
    cache = base / TICKET_CACHE
    try:
        fd = os.open(ledger.path_of(base), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}, {}
    try:
        size = os.fstat(fd).st_size
        done, tail, known, targets = _load_ticket_cache(cache, fd, size)
        new = os.pread(fd, size - done, done) if size > done else b""
    finally:
        os.close(fd)
    complete = new[:new.rfind(b"\n") + 1]
    for raw in complete.splitlines(keepends=True):
        tail = raw
        try:
            line = json.loads(raw)
            run_id, kind = line["run_id"], line["kind"]
        except (ValueError, KeyError, TypeError):
            continue
        if kind not in RUN_KINDS or not isinstance(run_id, str) or run_id in known:
            continue
        try:
            b = bundles.bundle(run_id, base)
            m = b.manifest()
            known[run_id], targets[run_id] = identity.normalise(str(m.get("ticket") or "")), target_of(b, m)
        except InvalidInput:
            known[run_id] = ""  # no bundle (or a bad one): no ticket to match
    if complete:
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
        try:
            cache.parent.mkdir(exist_ok=True)
            tmp.write_text(json.dumps({"version": _CACHE_VERSION, "ledger_bytes": done + len(complete),
                                       "tail": tail.decode("utf-8", "replace"), "tickets": known,
                                       "targets": targets},
                                      ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, cache)
        except OSError:  # read again next time
            tmp.unlink(missing_ok=True)
    return known, targets


def runs_of_ticket(ticket: str, base: Path, found: list[ledger.Entry] | None = None) -> list[dict[str, Any]]:
    """The runs (plans and applies, ledger order) whose manifest names ``ticket`` (:func:`same_ticket`): run ID,
    kind, task, environment, status, operator, time, targets (instance IDs or names, else the request's params).
    Only the runs whose ticket (:func:`tickets`) matches are read whole; ``found`` (the ledger's entries, when the
    caller has them) limits the runs to those."""
    wanted = identity.normalise(ticket)
    held = set(_run_ids(found)) if found is not None else None
    out = []
    for run_id, said in tickets(base).items():
        if not wanted or said != wanted or (held is not None and run_id not in held):
            continue
        try:
            b = bundles.bundle(run_id, base)
            m = b.manifest()
        except InvalidInput:
            continue
        if same_ticket(m.get("ticket"), ticket):
            out.append({"run_id": run_id, "kind": m.get("kind"), "task": m.get("task"),
                        "environment": m.get("environment"), "status": m.get("status"),
                        "operator": m.get("operator"), "at": m.get("ended_at") or m.get("started_at"),
                        "target": target_of(b, m)})
    return out


def target_of(b: bundles.Bundle, manifest: Mapping[str, Any]) -> str:
    """What a run acted on, as one comparable text: ``ENV TASK`` and the resolved EC2 targets' instance IDs (or
    names), else the request's ``params`` as recorded in the bundle's ``request.yml`` (secrets redacted)."""
    head = f"{manifest.get('environment')} {manifest.get('task')}"
    targets = manifest.get("targets") or []
    names = sorted(str(t.get("instance_id") or t.get("name")) for t in targets if isinstance(t, dict))
    if names:
        return f"{head} {', '.join(names)}"
    try:
        request = yaml.safe_load((b.path / "request.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        request = {}
    params = request.get("params") if isinstance(request, dict) else None
    if not params:
        return head
    return f"{head} " + ", ".join(f"{k}={params[k]}" for k in sorted(params))


def ticket_reuse(run_id: str, base: Path) -> list[dict[str, Any]]:
    """The earlier runs of ``run_id``'s ticket when at least one of them acted on another target than this run
    (:func:`target_of`), else []: a ticket number reused for other work is a warning to the operator at plan time,
    with the list to check it against. A run without a ticket: []."""
    b = bundles.bundle(run_id, base)
    m = b.manifest()
    if not str(m.get("ticket") or "").strip():
        return []
    mine = target_of(b, m)
    known, targets = ticket_index(base)
    wanted = identity.normalise(str(m["ticket"]))
    if all(targets.get(r) == mine for r, t in known.items() if t == wanted and r != run_id):
        # every earlier run of the ticket acted on this target (as read once into the index): no warning, and no
        # manifest read per earlier run (a standing ticket of a recurring job has hundreds: 8 ms at 300, issue #28)
        return []
    earlier = [r for r in runs_of_ticket(str(m["ticket"]), base) if r["run_id"] != run_id]
    return earlier if any(r["target"] != mine for r in earlier) else []

