#!/usr/bin/python
# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""ESA (Cisco Secure Email Gateway) HAT sender groups: inventory, add/delete, reconcile (COMM-025, CORE-023)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: esa_sender_group
short_description: Read, add to, delete from and reconcile the HAT sender groups (WHITELIST, BLACKLIST) of an ESA
description:
  - Seed 000, コミュニケーションツール row 25 (COMM-025) and core row 23 (CORE-023) - ESAのホワイトリスト、
    ブラックリストの棚卸・登録・削除. The Host Access Table (HAT) of a listener is edited through the AsyncOS CLI
    over SSH (Cisco "CLI Reference Guide for AsyncOS for Cisco Secure Email Gateway" - C(listenerconfig) >
    C(EDIT) listener > C(HOSTACCESS) > C(EDIT) > C(1) (Edit Sender Group) > group > C(NEW) / C(DELETE), then
    C(commit)); the AsyncOS REST API does not write sender groups. The dialogue is written down in
    tools/esa_sim/DIALOGUE.md.
  - Entries are validated as AsyncOS accepts them (User Guide for AsyncOS, "Sender Group Syntax") before the
    appliance is contacted - IPv4/IPv6 addresses, CIDR, ranges (10.1.1.10-20), partial addresses (10.1.1.),
    host names, partial domains (.example.com), SBRS[..], SBO:n, dnslist[..]; e-mail addresses are refused.
    Duplicates collapse. Bad input fails with C(INVALID INPUT:) and nothing is sent to the appliance.
  - C(inventory) reads the groups (HOSTACCESS > PRINT) and returns them with their difference from I(desired);
    nothing changes. C(change) adds I(add) and deletes I(delete) in one sender group; deleting an entry that is not
    there and adding one that is already there are reported (C(not_present), C(already_present), warnings), not
    silently ignored. C(reconcile) makes the groups equal to I(desired), refusing more than I(max_changes)
    additions plus deletions (a desired-state file emptied by mistake must not wipe a whitelist).
  - Before a change the whole HAT as PRINT shows it is returned (C(hat_before)) for the evidence. All additions
    (comma separated, as few NEW as fit in a line) and deletions (one DELETE each) of all groups are made in one
    session and committed once with I(comment). If the edit or the commit fails, the pending changes are cleared
    (C(clear)); the HAT is then read again in a new session, and if it differs from the saved one the saved
    entries are put back and committed (comment C(ROLLBACK <comment>)). The result says what was restored and
    whether the restored HAT was verified.
  - Check mode reads the appliance (PRINT only) and returns the same changes and diff the real run would make.
author: Operations automation collection
options:
  host: {description: Address of the appliance's SSH (CLI) interface., type: str, required: true}
  port: {description: SSH port., type: int, default: 22}
  username: {description: CLI user (an operator or administrator account)., type: str, required: true}
  password: {description: Its password (SSH password authentication; never logged)., type: str, required: true}
  known_hosts:
    description: OpenSSH known_hosts file with the appliance's host key (C([host]:port) for a port other than 22).
      Host keys are always checked.
    type: path
    required: true
  connect_timeout: {description: Seconds to connect and log in., type: int, default: 30}
  command_timeout:
    description: Seconds to wait for each prompt (a PRINT of a large HAT included).
    type: int
    default: 120
  listener: {description: Listener whose HAT is read and edited (for example InboundMail)., type: str, required: true}
  operation:
    description: inventory, change or reconcile.
    type: str
    choices: [inventory, change, reconcile]
    required: true
  sender_groups:
    description: Sender groups to read or reconcile; for C(change) exactly one. The built-in C(ALL) can be read
      (C(inventory)) but is refused for C(change) and C(reconcile) - it takes no senders.
    type: list
    elements: str
    default: [WHITELIST, BLACKLIST]
  add: {description: Entries to add (C(change))., type: list, elements: str, default: []}
  delete: {description: Entries to delete (C(change))., type: list, elements: str, default: []}
  desired:
    description: Desired entries per sender group, C({WHITELIST - [...], BLACKLIST - [...]}) (C(reconcile); for
      C(inventory) optional, to report the difference).
    type: dict
    default: {}
  desired_source: {description: Where I(desired) comes from (for messages only)., type: str, default: desired}
  comment: {description: Commit comment and comment of added senders (carry the ticket)., type: str, default: ""}
  max_changes:
    description: Most additions plus deletions one C(reconcile) may make on one appliance.
    type: int
    default: 500
  expected_fingerprints:
    description: Sender group to the C(fingerprints) a plan returned. When given, a group whose entries differ
      fails with C(DRIFT:) before any change (the appliance was changed since the plan).
    type: dict
    default: {}
  allow_broad:
    description: Allow a C(change) to add an entry broader than a /16 (IPv4) or /32 (IPv6) network, a one-octet
      partial address or a public-suffix domain (.jp, .co.jp); refused otherwise as a likely typo.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Add two senders to the WHITELIST of InboundMail
  esa_sender_group:
    host: esa01.example.jp
    username: opsadmin
    password: "{{ vault_esa_password }}"
    known_hosts: /etc/ops/esa_known_hosts
    listener: InboundMail
    operation: change
    sender_groups: [WHITELIST]
    add: [203.0.113.25, .partner.example.jp]
    comment: "REQ-2026-1122-007 COMM-025"
"""

RETURN = r"""
hat_before:
  description: The HAT of the listener as HOSTACCESS PRINT showed it before any change.
  returned: success, and failure after login
  type: str
groups:
  description: Per sender group - before/after entries (sorted), add, delete, already_present, not_present
    (change), missing_from_appliance and not_in_desired (inventory against a desired state), unchanged (count).
  returned: always
  type: dict
summary: {description: The same without the before/after lists (their lengths instead)., returned: always, type: dict}
fingerprints: {description: "Per sender group, SHA-256 of its sorted normalised entries.", returned: always, type: dict}
inventory_csv:
  description: "CSV of the groups' entries: appliance,listener,sender_group,entry,kind,state."
  returned: always
  type: str
round_trips: {description: CLI exchanges (one line sent, answer read to the next prompt)., returned: always, type: int}
committed: {description: The appliance's "Changes committed" line, or null., returned: always, type: str}
restore:
  description: What happened after a failed edit or commit (cleared, restored, verified).
  returned: on failure
  type: dict
ops_changes: {description: One evidence entry per sender group., returned: always, type: list}
"""

import csv
import io
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.esa_cli import (
    ASYNCSSH_IMPORT_ERROR,
    HAS_ASYNCSSH,
    EsaCliError,
    EsaSession,
    Hat,
    clear,
    commit,
)
from ansible.module_utils.esa_entries import EntryError, diff, kind, normalize, normalize_all, sort_key

GROUP_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: Second-level public suffixes under which one partial domain would cover countless unrelated senders.
PUBLIC_SUFFIXES = frozenset(("co.jp", "ne.jp", "or.jp", "go.jp", "ac.jp", "ad.jp", "ed.jp", "gr.jp", "lg.jp",
                             "co.uk", "ac.uk", "gov.uk", "com.cn", "com.au", "co.kr", "com.tw", "com.br"))


def too_broad(entry):
    """Why a normalised entry covers more than one organisation's senders, or None.

    Broader than a /16 (IPv4) or a /32 (IPv6) network, a partial address of one octet, a range over the first or
    second octet, or a partial domain that is a top-level domain or a public suffix (.jp, .co.jp). In a WHITELIST
    such an entry exempts all those senders from anti-spam scanning; in a BLACKLIST it rejects all their mail.
    """
    import ipaddress

    k = kind(entry)
    if k in ("cidr4", "cidr6"):
        length = int(entry.rsplit("/", 1)[1])
        if length < (16 if k == "cidr4" else 32):
            return "a /%d network (%s addresses)" % (length, format(2 ** ((32 if k == "cidr4" else 128) - length),
                                                                    ","))
    elif k == "partial4" and entry.count(".") < 2:
        return "every address under %s (%s addresses)" % (entry, format(256 ** (4 - entry.count(".")), ","))
    elif k == "range4" and entry.split("-", 1)[0].count(".") < 2:
        return "a range over the first or second octet"
    elif k == "range6":
        lo, hi = (ipaddress.IPv6Address(x) for x in entry.split("-", 1))
        if int(hi) - int(lo) >= 2 ** 96:
            return "a range of more than a /32"
    elif k == "partial_domain":
        name = entry.strip(".")
        if "." not in name or name in PUBLIC_SUFFIXES:
            return "every host under the public suffix .%s" % name
    return None


class Invalid(Exception):
    """Bad input: the module fails with INVALID INPUT and the appliance is not touched."""


def _norm_or_text(entry):
    try:
        return normalize(entry)
    except EntryError:
        return entry.strip()


def _sorted(entries):
    return sorted(entries, key=sort_key)


def _validated(entries, field):
    """Normalised entries of a list parameter, duplicates collapsed; Invalid naming every bad entry."""
    good, errors = normalize_all(entries)
    if errors:
        raise Invalid("%s: %s" % (field, "; ".join(str(e) for e in errors)))
    return good


def validate(p):
    """Check the parameters before any connection. Returns ``{group: {"add": [...], "delete": [...]}}`` for
    change, ``{group: [desired...]}`` for reconcile/inventory (normalised). Raises Invalid."""
    groups = p["sender_groups"] or []
    for g in groups:
        if not GROUP_NAME.match(g or ""):
            raise Invalid("sender_groups: %r is not a sender group name (letters, digits, _ . -; e.g. WHITELIST)" % g)
    if len(set(groups)) != len(groups):
        raise Invalid("sender_groups: %s named twice" % ", ".join(sorted({g for g in groups if groups.count(g) > 1})))
    if not groups:
        raise Invalid("sender_groups: give at least one sender group (e.g. WHITELIST)")
    if p["operation"] in ("change", "reconcile") and "ALL" in groups:
        # AsyncOS offers no NEW / DELETE for the built-in ALL: the edit would fail on the appliance (exit 3)
        raise Invalid("sender_groups: ALL is the built-in catch-all sender group; it takes no senders")
    if p["operation"] == "change":
        if len(groups) != 1:
            raise Invalid("sender_groups: a change edits exactly one sender group; give one (e.g. [WHITELIST]) "
                          "and make one request per group")
        add = _validated(p["add"], "add")
        delete = _validated(p["delete"], "delete")
        if not add and not delete:
            raise Invalid("add/delete: the change is empty; list the entries to add and/or to delete")
        broad = [(e, too_broad(e)) for e in add]
        broad = ["%s is %s" % (e, why) for e, why in broad if why]
        if broad and not p["allow_broad"]:
            raise Invalid("add: %s; an entry this broad in %s affects the mail of many organisations: check for a "
                          "typo, or set allow_broad: true in the request if it is really meant"
                          % ("; ".join(broad), groups[0]))
        both = sorted(set(add) & set(delete), key=sort_key)
        if both:
            raise Invalid("add/delete: %s both added and deleted in one request; keep each entry in one list"
                          % ", ".join(both))
        return {groups[0]: {"add": add, "delete": delete}}
    if p["add"] or p["delete"]:
        raise Invalid("add/delete: only a change takes add/delete; %s uses the desired-state file" % p["operation"])
    desired = p["desired"] or {}
    if p["operation"] == "reconcile":
        missing = [g for g in groups if g not in desired]
        if missing:
            raise Invalid("%s: no entry list for %s (listener %s); add it (an empty group is written []) or leave "
                          "the group out of sender_groups" % (p["desired_source"], ", ".join(missing), p["listener"]))
    out = {}
    for g in groups:
        if g in desired:
            if not isinstance(desired[g], list):
                raise Invalid("%s: %s must be a list of entries" % (p["desired_source"], g))
            out[g] = _validated(desired[g], "%s: %s" % (p["desired_source"], g))  # a YAML number is refused
    return out


def plan_group(group, current, op, wanted):
    """What to do in one group. ``current``: entries as the appliance lists them. Returns a dict with the sorted
    ``before``/``after`` lists, ``add`` (to send), ``delete`` (appliance spellings), ``already_present`` and
    ``not_present`` (change), ``unchanged`` (count)."""
    by_norm = {}
    for e in current:
        by_norm.setdefault(_norm_or_text(e), e)
    result = {"add": [], "delete": [], "already_present": [], "not_present": []}
    if op == "change":
        result["add"] = [a for a in wanted["add"] if a not in by_norm]
        result["already_present"] = [by_norm[a] for a in wanted["add"] if a in by_norm]
        result["delete"] = [by_norm[d] for d in wanted["delete"] if d in by_norm]
        result["not_present"] = [d for d in wanted["delete"] if d not in by_norm]
    elif op == "reconcile":
        d = diff(current, wanted)
        result["add"], result["delete"] = d["add"], d["delete"]
    elif wanted is not None:  # inventory against the desired state: report only
        d = diff(current, wanted)
        result["missing_from_appliance"], result["not_in_desired"] = d["add"], d["delete"]
    gone = set(result["delete"])
    after = [e for e in current if e not in gone] + result["add"]
    for k in ("add", "delete", "already_present", "not_present"):
        result[k] = _sorted(result[k])
    result["before"] = _sorted(current)
    result["after"] = _sorted(after)
    result["unchanged"] = len(current) - len(result["delete"])
    return result


def inventory_rows(appliance, listener, groups, desired):
    """CSV rows: every entry of every group, with its state against the desired list (when there is one)."""
    rows = []
    for g, plan in groups.items():
        want = set(desired.get(g, [])) if g in desired else None
        have = set()
        for e in plan["before"]:
            n = _norm_or_text(e)
            have.add(n)
            state = "present" if want is None else ("in_desired" if n in want else "not_in_desired")
            rows.append([appliance, listener, g, e, _kind(e), state])
        if want is not None:
            for n in _sorted(want - have):
                rows.append([appliance, listener, g, n, _kind(n), "missing_from_appliance"])
    return rows


def _kind(entry):
    try:
        return kind(entry)
    except EntryError:
        return "unrecognised"


def to_csv(rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["appliance", "listener", "sender_group", "entry", "kind", "state"])
    w.writerows(rows)
    return buf.getvalue()


def fingerprint(entries):
    """SHA-256 of a group's sorted normalised entries: what a plan saw, compared again by the apply."""
    import hashlib

    return hashlib.sha256("\n".join(sorted(_norm_or_text(e) for e in entries)).encode("utf-8")).hexdigest()


def same_groups(groups, expected):
    """True when every group of ``expected`` ``{group: [entries]}`` holds the same entries (normalised)."""
    for g, entries in expected.items():
        have = sorted(_norm_or_text(e) for e in groups.get(g, {}).get("entries", []))
        if have != sorted(_norm_or_text(e) for e in entries):
            return False
    return True


ARGUMENT_SPEC = dict(
    host=dict(type="str", required=True), port=dict(type="int", default=22),
    username=dict(type="str", required=True), password=dict(type="str", required=True, no_log=True),
    known_hosts=dict(type="path", required=True), connect_timeout=dict(type="int", default=30),
    command_timeout=dict(type="int", default=120), listener=dict(type="str", required=True),
    operation=dict(type="str", required=True, choices=["inventory", "change", "reconcile"]),
    sender_groups=dict(type="list", elements="str", default=["WHITELIST", "BLACKLIST"]),
    add=dict(type="list", elements="str", default=[]), delete=dict(type="list", elements="str", default=[]),
    desired=dict(type="dict", default={}), desired_source=dict(type="str", default="desired"),
    comment=dict(type="str", default=""), max_changes=dict(type="int", default=500),
    allow_broad=dict(type="bool", default=False),
    expected_fingerprints=dict(type="dict", default={}))


class SenderGroups:
    """One run: ``check`` the request, ``read`` the listener's HAT, ``plan`` each sender group, ``apply`` the
    changes (edit, commit, read back; ``recover`` on a failure). ``result`` is the module's result."""

    def __init__(self, module):
        self.module, self.p = module, module.params
        self.result = dict(changed=False, groups={}, summary={}, fingerprints={}, inventory_csv="", round_trips=0,
                           committed=None, ops_changes=[], hat_before="", transcript=[])
        self.sessions, self.wanted, self.groups, self.changes = [], {}, {}, {}
        self.s = self.hat = self.current = None
        self.name = "%s:%s" % (self.p["host"], self.p["port"])

    def session(self):
        p = self.p
        s = EsaSession(p["host"], p["port"], p["username"], p["password"], p["known_hosts"],
                       p["connect_timeout"], p["command_timeout"])
        self.sessions.append(s)
        s.open()
        return s

    def round_trips(self):
        return sum(s.round_trips for s in self.sessions)

    def fail(self, msg, **extra):
        for s in self.sessions:
            s.close()
        self.result.update(extra, round_trips=self.round_trips(),
                           transcript=[t for s in self.sessions for t in s.transcript])
        self.module.fail_json(msg=msg, **self.result)

    def exit(self):
        """Close the first session and end the module with the transcript of every session."""
        self.s.close()
        self.result.update(round_trips=self.round_trips(), transcript=[t for x in self.sessions for t in x.transcript])
        self.module.exit_json(**self.result)

    def check(self):
        """asyncssh is there; the entries are valid; a change has a commit comment."""
        if not HAS_ASYNCSSH:
            self.module.fail_json(msg=missing_required_lib("asyncssh"), exception=str(ASYNCSSH_IMPORT_ERROR),
                                  **self.result)
        try:
            self.wanted = validate(self.p)
        except Invalid as e:
            self.module.fail_json(msg="INVALID INPUT: %s" % e, **self.result)
        if self.p["operation"] != "inventory" and not self.p["comment"].strip():
            self.module.fail_json(msg="INVALID INPUT: comment: a change needs a commit comment (the ticket)",
                                  **self.result)

    def read(self):
        """Read the HAT; refuse unknown sender groups and, for a change, a drift from the plan's fingerprints."""
        p, result = self.p, self.result
        try:
            self.s = self.session()
            self.hat = Hat(self.s, p["listener"])
            hat_text, self.current = self.hat.read()
        except EsaCliError as e:
            self.fail(("INVALID INPUT: " if e.kind == "invalid" else "") + str(e))
        result["hat_before"] = hat_text
        self.name = self.s.hostname or self.name
        unknown = [g for g in p["sender_groups"] if g not in self.current]
        if unknown:
            self.fail("INVALID INPUT: sender_groups: %s not a sender group of listener %s on %s (groups: %s)" % (
                ", ".join(unknown), p["listener"], self.name, ", ".join(self.current)))
        result["fingerprints"] = {g: fingerprint(self.current[g]["entries"]) for g in p["sender_groups"]}
        drift = [g for g, want in (p["expected_fingerprints"] or {}).items()
                 if g in result["fingerprints"] and want != result["fingerprints"][g]]
        if drift and p["operation"] != "inventory":
            self.fail("DRIFT: %s %s/%s changed since the plan (someone edited the sender group); nothing was changed - "
                      "plan again and review the new difference" % (self.name, p["listener"], ", ".join(drift)))

    def plan(self):
        """Each group's additions and deletions, the inventory CSV, the evidence entries and the diff."""
        p, result, name = self.p, self.result, self.name
        self.groups = {g: plan_group(g, self.current[g]["entries"], p["operation"], self.wanted.get(g))
                       for g in p["sender_groups"]}
        result["groups"] = self.groups
        result["summary"] = {g: dict({k: v for k, v in x.items() if k not in ("before", "after")},
                                     before=len(x["before"]), after=len(x["after"])) for g, x in self.groups.items()}
        desired = self.wanted if p["operation"] != "change" else {}
        result["inventory_csv"] = to_csv(inventory_rows(name, p["listener"], self.groups, desired))
        total = sum(len(x["add"]) + len(x["delete"]) for x in self.groups.values())
        if p["operation"] == "reconcile" and total > p["max_changes"]:
            self.fail("INVALID INPUT: %s: reconciling %s would make %d additions and deletions, more than max_changes "
                      "%d; check the desired-state file, or raise max_changes in the request if this is intended"
                      % (p["desired_source"], name, total, p["max_changes"]))
        for g, x in self.groups.items():
            for e in x["not_present"]:
                self.module.warn("%s %s/%s: %s is not in the sender group; nothing to delete" % (name, p["listener"],
                                                                                                g, e))
            for e in x["already_present"]:
                self.module.warn("%s %s/%s: %s is already in the sender group; not added again" % (
                    name, p["listener"], g, e))
        result["ops_changes"] += [self.evidence(g, x) for g, x in self.groups.items()]
        self.changes = {g: {"add": x["add"], "delete": x["delete"]} for g, x in self.groups.items()
                        if x["add"] or x["delete"]}
        result["changed"] = bool(self.changes) and p["operation"] != "inventory"
        if self.module._diff and result["changed"]:
            result["diff"] = [dict(before_header="%s %s/%s" % (name, p["listener"], g),
                                   after_header="%s %s/%s" % (name, p["listener"], g),
                                   before="".join(e + "\n" for e in self.groups[g]["before"]),
                                   after="".join(e + "\n" for e in self.groups[g]["after"])) for g in self.changes]

    def evidence(self, g, x):
        """The ops_changes entry of sender group ``g`` planned as ``x``."""
        p = self.p
        changed = bool(x["add"] or x["delete"])
        action = "inventory" if p["operation"] == "inventory" else ("update" if changed else "none")
        entry = dict(resource="esa:%s/%s/%s" % (self.name, p["listener"], g), name=g, action=action,
                     changed=changed and p["operation"] != "inventory", before=dict(entries=len(x["before"])),
                     after=dict(entries=len(x["after"]), add=x["add"], delete=x["delete"]))
        if x["not_present"] or x["already_present"]:
            entry["note"] = "; ".join(filter(None, [
                x["not_present"] and "not present (not deleted): " + ", ".join(x["not_present"]),
                x["already_present"] and "already present (not added): " + ", ".join(x["already_present"])]))
        if p["operation"] == "inventory":
            entry["after"] = dict(entries=len(x["before"]))
            if "missing_from_appliance" in x:
                entry["after"].update(missing_from_appliance=x["missing_from_appliance"],
                                      not_in_desired=x["not_in_desired"])
                entry["note"] = "difference from %s: %d missing from the appliance, %d not in the desired state" % (
                    p["desired_source"], len(x["missing_from_appliance"]), len(x["not_in_desired"]))
        return entry

    def apply(self):
        """Edit, commit and read back; after a failure, recover (clear, or put the saved entries back)."""
        p, name = self.p, self.name
        saved = {g: self.current[g]["entries"] for g in self.changes}
        expected = {g: self.groups[g]["after"] for g in self.changes}
        try:
            self.hat.edit(self.changes, p["comment"])
            self.result["committed"] = commit(self.s, p["comment"])
            _, now = self.hat.read()
            if not same_groups(now, expected):
                self.fail("%s: after the commit the sender groups differ from the expected result; read them with an "
                          "inventory and compare with the evidence (hat_before)" % name)
        except EsaCliError as e:
            restore = recover(self.s, self.session, p, saved, expected, e)
            self.result["restore"] = restore
            if restore.get("committed_anyway"):
                self.module.warn("%s: %s, but the changes are on the appliance (verified)" % (name, e))
            else:
                self.fail(("INVALID INPUT: " if e.kind == "invalid" else "") + "%s: %s; %s"
                          % (name, e, restore["summary"]))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run = SenderGroups(module)
    run.check()
    run.read()
    run.plan()
    if not module.check_mode and run.result["changed"]:
        run.apply()
    run.exit()


def recover(s, session, p, saved, expected, error):
    """After a failed edit or commit: clear, read back in a new session, put the saved entries back if needed."""
    out = {"error": str(error), "cleared": None, "restored": False, "verified": False}
    try:
        out["cleared"] = clear(s)
    except EsaCliError as e:
        out["cleared"] = "not cleared: %s" % e
    s.close()
    try:
        s2 = session()
        hat = Hat(s2, p["listener"])
        _, now = hat.read()
        if same_groups(now, saved):
            out.update(verified=True, summary="nothing was committed: the pending changes were cleared and the "
                                              "sender groups are as saved before the change (verified)")
            return out
        if same_groups(now, expected):
            out.update(verified=True, committed_anyway=True, summary="the changes were committed")
            return out
        back = {}
        for g, entries in saved.items():
            d = diff([e for e in now.get(g, {}).get("entries", [])], [_norm_or_text(e) for e in entries])
            # put back the saved spellings
            spelled = {_norm_or_text(e): e for e in entries}
            back[g] = {"add": [spelled.get(a, a) for a in d["add"]], "delete": d["delete"]}
        hat.edit(back, "ROLLBACK " + p["comment"])
        out["restore_commit"] = commit(s2, "ROLLBACK " + p["comment"])
        _, now = hat.read()
        out["restored"] = True
        out["verified"] = same_groups(now, saved)
        out["summary"] = ("the saved sender groups were put back and committed (ROLLBACK), verified" if out["verified"]
                          else "the saved sender groups were put back and committed, but they do not read back as "
                               "saved: compare the appliance with hat_before in the evidence")
    except EsaCliError as e:
        out["summary"] = ("the sender groups could not be restored (%s): restore them by hand from hat_before in "
                          "the evidence" % e)
    return out


if __name__ == "__main__":
    main()
