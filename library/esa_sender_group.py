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
  - Every text sent to the CLI (entries, the commit comment that carries the ticket, names) is refused with
    C(INVALID INPUT) if it holds a control character (CR, LF, ESC, ...), before the appliance is contacted.
  - The sender groups WHITELIST / BLACKLIST are called ALLOWED_LIST / BLOCKED_LIST from AsyncOS 14.0 on; the
    version is read with C(version) and either spelling in a request is mapped to the appliance's.
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
  cluster_mode:
    description:
      - The configuration level the HAT is kept at, set per appliance group in the inventory
        (C(esa_sender_groups_cluster_mode)). C(standalone) - an appliance outside any cluster (prompt C(host> )).
        C(cluster), C(group), C(machine) - a clustered appliance (prompt C((Cluster NAME)> ) / C((Machine HOST)> ));
        the CLI is switched to that level with C(clustermode) and changes are committed there. If listenerconfig is
        configured at another level the appliance asks which mode to use; the run stops there, unanswered
        (C(INVALID INPUT)).
    type: str
    choices: [standalone, cluster, group, machine]
    default: standalone
  cluster_name:
    description: The group (C(cluster_mode=group)) or machine (C(cluster_mode=machine)) to configure; empty takes
      the only one offered.
    type: str
    default: ""
  changed_through:
    description: At C(cluster) or C(group) level one commit changes every appliance of the cluster; the change is
      made once, through the appliance named here. On any other appliance the module reads the sender groups,
      reports the same additions and deletions as made through it (not as its own change) and, in a real run,
      verifies that they are there. Empty - this appliance makes its own change.
    type: str
    default: ""
  appliance:
    description: Name of the appliance in the evidence when its prompt names none (a cluster-level prompt).
    type: str
    default: ""
  planned_changes:
    description: The additions and deletions per sender group a plan made for this appliance
      (C({WHITELIST - {add - [...], delete - [...]}}), from the plan's apply extra vars). When given, the module
      makes exactly those; a change the plan did not predict (or a predicted one that is no longer needed) fails
      with C(DRIFT:) before anything is sent. Null - no plan (a direct run).
    type: dict
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
pages: {description: Pager stops answered with a space., returned: always, type: int}
changes:
  description: Per sender group the additions and deletions this appliance makes (or, with I(changed_through),
    that the change through the other appliance makes here); what a plan hands to the apply as I(planned_changes).
  returned: always
  type: dict
asyncos:
  description: "The appliance's version (C(version)), the sender group names used there and the CLI level."
  returned: always
  type: dict
committed: {description: The appliance's "Changes committed" line, or null., returned: always, type: str}
restore:
  description: What happened after a failed edit or commit (cleared, restored, verified).
  returned: on failure
  type: dict
ops_changes: {description: One evidence entry per sender group., returned: always, type: list}
ops_check_mode:
  description: True when the module ran in check mode (a plan, or the preflight of a real run) - its ops_changes
    are what a real run would change, not changes made (ops-driver's recovery of a killed apply reads the streamed
    results and must not record the preflight's as made, issue 23).
  returned: always
  type: bool
"""

import csv
import io
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.esa_cli import (
    ASYNCSSH_IMPORT_ERROR,
    CONTROL,
    HAS_ASYNCSSH,
    EsaCliError,
    EsaSession,
    Hat,
    appliance_group_name,
    clear,
    commit,
    read_version,
    set_level,
)
from ansible.module_utils.esa_entries import EntryError, diff, kind, normalize, normalize_all, sort_key
from ansible.module_utils.ops_refusal import DRIFT_PREFIX, INVALID_PREFIX, InvalidInput, fail_invalid, refusal_message

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


class Invalid(InvalidInput):
    """Bad input: the module fails with INVALID INPUT (module_utils/ops_refusal.py) and the appliance is not
    touched."""


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


def _no_controls(p):
    """Invalid naming the field when any text the CLI would receive holds a control character (issue #22)."""
    def walk(value, field):
        if isinstance(value, str):
            m = CONTROL.search(value)
            if m:
                raise Invalid("%s: holds the control character %r; give one line of printable text (no line breaks, "
                              "tabs or escape sequences)" % (field, m.group(0)))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k, field)
                walk(v, "%s: %s" % (field, k))
        elif isinstance(value, list):
            for v in value:
                walk(v, field)
    for field in ("comment", "listener", "sender_groups", "add", "delete", "desired", "desired_source",
                  "cluster_name", "appliance", "changed_through", "planned_changes"):
        walk(p.get(field), field)


def validate(p):
    """Check the parameters before any connection. Returns ``{group: {"add": [...], "delete": [...]}}`` for
    change, ``{group: [desired...]}`` for reconcile/inventory (normalised). Raises Invalid."""
    _no_controls(p)
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
    expected_fingerprints=dict(type="dict", default={}),
    cluster_mode=dict(type="str", default="standalone", choices=["standalone", "cluster", "group", "machine"]),
    cluster_name=dict(type="str", default=""), changed_through=dict(type="str", default=""),
    appliance=dict(type="str", default=""), planned_changes=dict(type="dict", default=None))


class SenderGroups:
    """One run: ``check`` the request, ``read`` the listener's HAT, ``plan`` each sender group, ``apply`` the
    changes (edit, commit, read back; ``recover`` on a failure). ``result`` is the module's result."""

    def __init__(self, module):
        self.module, self.p = module, module.params
        self.result = dict(changed=False, groups={}, summary={}, fingerprints={}, inventory_csv="", round_trips=0,
                           pages=0, committed=None, ops_changes=[], hat_before="", transcript=[], changes={},
                           asyncos={}, ops_check_mode=bool(module.check_mode))
        self.sessions, self.wanted, self.groups, self.changes = [], {}, {}, {}
        self.s = self.hat = self.current = self.version = None
        self.names = {}  # requested sender group name -> the appliance's name for it
        self.name = self.p["appliance"] or "%s:%s" % (self.p["host"], self.p["port"])

    def session(self):
        """A new session at the configured level (``cluster_mode``); the version is read in the first one."""
        p = self.p
        s = EsaSession(p["host"], p["port"], p["username"], p["password"], p["known_hosts"],
                       p["connect_timeout"], p["command_timeout"])
        self.sessions.append(s)
        s.open()
        if p["cluster_mode"] == "standalone":
            if s.level != "standalone":
                raise EsaCliError("cluster_mode: %s:%s is in a cluster (its prompt names the %s %s); set "
                                  "esa_sender_groups_cluster_mode for its appliance group to the level the HAT is "
                                  "kept at (cluster, group or machine)" % (p["host"], p["port"], s.level,
                                                                          s.level_name), kind="invalid")
        else:
            set_level(s, p["cluster_mode"], p["cluster_name"] or None)
        if self.version is None:
            self.version = read_version(s)
        return s

    def round_trips(self):
        return sum(s.round_trips for s in self.sessions)

    def _counts(self):
        return dict(round_trips=self.round_trips(), pages=sum(s.pages for s in self.sessions),
                    transcript=[t for s in self.sessions for t in s.transcript])

    def fail(self, msg, **extra):
        for s in self.sessions:
            s.close()
        self.result.update(extra, **self._counts())
        self.module.fail_json(msg=msg, **self.result)

    def exit(self):
        """Close the first session and end the module with the transcript of every session."""
        self.s.close()
        self.result.update(**self._counts())
        self.module.exit_json(**self.result)

    def check(self):
        """asyncssh is there; the entries are valid; a change has a commit comment."""
        if not HAS_ASYNCSSH:
            self.module.fail_json(msg=missing_required_lib("asyncssh"), exception=str(ASYNCSSH_IMPORT_ERROR),
                                  **self.result)
        try:
            self.wanted = validate(self.p)
        except Invalid as e:
            fail_invalid(self.module, str(e), **self.result)
        if self.p["operation"] != "inventory" and not self.p["comment"].strip():
            fail_invalid(self.module, "comment: a change needs a commit comment (the ticket)",
                                  **self.result)

    def read(self):
        """Read the HAT; refuse unknown sender groups and, for a change, a drift from the plan's fingerprints."""
        p, result = self.p, self.result
        try:
            self.s = self.session()
            self.hat = Hat(self.s, p["listener"])
            hat_text, current = self.hat.read()
        except EsaCliError as e:
            self.fail(refusal_message(e.kind, str(e)))
        result["hat_before"] = hat_text
        self.name = self.s.hostname or self.name
        major = self.version["major"]
        for g in p["sender_groups"]:
            alt = appliance_group_name(g, major)
            self.names[g] = alt if alt in current else g
        result["asyncos"] = dict(self.version, sender_groups=self.names, level=self.s.level,
                                 level_name=self.s.level_name)
        unknown = [g for g in p["sender_groups"] if self.names[g] not in current]
        if unknown:
            self.fail(INVALID_PREFIX + "sender_groups: %s not a sender group of listener %s on %s (AsyncOS %s; groups: "
                      "%s)" % (", ".join(unknown), p["listener"], self.name, self.version["version"],
                               ", ".join(current)))
        self.current = {g: current[self.names[g]] for g in p["sender_groups"]}
        result["fingerprints"] = {g: fingerprint(self.current[g]["entries"]) for g in p["sender_groups"]}
        if p["changed_through"] and not self.module.check_mode and p["operation"] != "inventory":
            return  # the shared configuration was changed through another appliance a moment ago: verified below
        drift = [g for g, want in (p["expected_fingerprints"] or {}).items()
                 if g in result["fingerprints"] and want != result["fingerprints"][g]]
        if drift and p["operation"] != "inventory":
            self.fail(DRIFT_PREFIX + "%s %s/%s changed since the plan (someone edited the sender group); nothing was "
                      "changed - plan again and review the new difference"
                      % (self.name, p["listener"], ", ".join(drift)))

    def plan(self):
        """Each group's additions and deletions, the inventory CSV, the evidence entries and the diff."""
        p, result, name = self.p, self.result, self.name
        if (p["changed_through"] and not self.module.check_mode and p["planned_changes"] is not None
                and p["operation"] != "inventory"):
            self.verify_shared()
            return
        self.groups = {g: plan_group(g, self.current[g]["entries"], p["operation"], self.wanted.get(g))
                       for g in p["sender_groups"]}
        result["groups"] = self.groups
        result["summary"] = {g: dict({k: v for k, v in x.items() if k not in ("before", "after")},
                                     before=len(x["before"]), after=len(x["after"])) for g, x in self.groups.items()}
        desired = self.wanted if p["operation"] != "change" else {}
        result["inventory_csv"] = to_csv(inventory_rows(name, p["listener"], self.groups, desired))
        total = sum(len(x["add"]) + len(x["delete"]) for x in self.groups.values())
        if p["operation"] == "reconcile" and total > p["max_changes"]:
            self.fail(INVALID_PREFIX + "%s: reconciling %s would make %d additions and deletions, more than "
                      "max_changes %d; check the desired-state file, or raise max_changes in the request if this is "
                      "intended"
                      % (p["desired_source"], name, total, p["max_changes"]))
        for g, x in self.groups.items():
            for e in x["not_present"]:
                self.module.warn("%s %s/%s: %s is not in the sender group; nothing to delete" % (name, p["listener"],
                                                                                                g, e))
            for e in x["already_present"]:
                self.module.warn("%s %s/%s: %s is already in the sender group; not added again" % (
                    name, p["listener"], g, e))
        self.changes = {g: {"add": x["add"], "delete": x["delete"]} for g, x in self.groups.items()
                        if x["add"] or x["delete"]}
        if p["operation"] != "inventory" and p["planned_changes"] is not None:
            self.check_planned()
        result["changes"] = self.changes
        result["ops_changes"] += [self.evidence(g, x) for g, x in self.groups.items()]
        result["changed"] = bool(self.changes) and p["operation"] != "inventory" and not p["changed_through"]
        if self.module._diff and result["changed"]:
            result["diff"] = [dict(before_header="%s %s/%s" % (name, p["listener"], g),
                                   after_header="%s %s/%s" % (name, p["listener"], g),
                                   before="".join(e + "\n" for e in self.groups[g]["before"]),
                                   after="".join(e + "\n" for e in self.groups[g]["after"])) for g in self.changes]

    def check_planned(self):
        """The changes computed now must be the plan's, entry for entry; else DRIFT before anything is sent. The
        run then makes the plan's changes (in the appliance's spelling of each entry to delete)."""
        p, name = self.p, self.name
        planned = p["planned_changes"] or {}
        problems = []
        for g in sorted(set(planned) | set(self.changes)):
            want = planned.get(g) or {}
            have = self.changes.get(g) or {}
            for op in ("add", "delete"):
                w = {_norm_or_text(e) for e in want.get(op) or []}
                h = {_norm_or_text(e) for e in have.get(op) or []}
                if h - w:
                    problems.append("%s %s not planned: %s" % (g, op, ", ".join(_sorted(h - w))))
                if w - h:
                    problems.append("%s %s planned but no longer to do: %s" % (g, op, ", ".join(_sorted(w - h))))
        if problems:
            self.fail(DRIFT_PREFIX + "%s %s: the change differs from the reviewed plan (%s); nothing was changed - the "
                      "desired state or the request was edited after the plan: plan again and review the new "
                      "difference" % (name, p["listener"], "; ".join(problems)))

    def verify_shared(self):
        """On an appliance that shares the cluster's configuration: the planned changes made through
        ``changed_through`` must be seen here too."""
        p, name, result = self.p, self.name, self.result
        missing = []
        for g, change in (p["planned_changes"] or {}).items():
            have = {_norm_or_text(e) for e in self.current.get(g, {}).get("entries", [])}
            missing += ["%s: %s not added" % (g, e) for e in change.get("add") or [] if _norm_or_text(e) not in have]
            missing += ["%s: %s not deleted" % (g, e) for e in change.get("delete") or []
                        if _norm_or_text(e) in have]
        if missing:
            self.fail("%s %s: the %s-level change made through %s is not seen here (%s); compare the appliances of "
                      "the cluster" % (name, p["listener"], p["cluster_mode"], p["changed_through"],
                                       "; ".join(missing)))
        result["changes"] = p["planned_changes"] or {}
        result["hat_before"] = ""  # read after the change through the other appliance: not a "before"
        for g in p["sender_groups"]:
            entries = self.current[g]["entries"]
            change = (p["planned_changes"] or {}).get(g) or {}
            result["summary"][g] = dict(add=[], delete=[], already_present=[], not_present=[],
                                        unchanged=len(entries), before=len(entries), after=len(entries),
                                        made_through=p["changed_through"], verified_add=change.get("add") or [],
                                        verified_delete=change.get("delete") or [])
            result["ops_changes"].append(dict(
                resource="esa:%s/%s/%s" % (name, p["listener"], g), name=g, action="none", changed=False,
                before=dict(entries=len(entries)), after=dict(entries=len(entries), add=[], delete=[]),
                note="%s level: %d additions and %d deletions made through %s, verified here" % (
                    p["cluster_mode"], len(change.get("add") or []), len(change.get("delete") or []),
                    p["changed_through"])))

    def evidence(self, g, x):
        """The ops_changes entry of sender group ``g`` planned as ``x``."""
        p = self.p
        changed = bool(x["add"] or x["delete"])
        action = "inventory" if p["operation"] == "inventory" else ("update" if changed else "none")
        through = p["changed_through"] and p["operation"] != "inventory"
        entry = dict(resource="esa:%s/%s/%s" % (self.name, p["listener"], self.names.get(g, g)), name=g,
                     action="none" if through else action, changed=changed and not through and
                     p["operation"] != "inventory",
                     before=dict(entries=len(x["before"])),
                     after=dict(entries=len(x["after"]), add=x["add"], delete=x["delete"]))
        notes = []
        if through and changed:
            entry["after"] = dict(entries=len(x["before"]), add=[], delete=[])
            notes.append("%s level: made once through %s (%d additions, %d deletions)" % (
                p["cluster_mode"], p["changed_through"], len(x["add"]), len(x["delete"])))
        if x["not_present"]:
            notes.append("not present (not deleted): " + ", ".join(x["not_present"]))
        if x["already_present"]:
            notes.append("already present (not added): " + ", ".join(x["already_present"]))
        if notes:
            entry["note"] = "; ".join(notes)
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
        on = self.names
        saved = {on[g]: self.current[g]["entries"] for g in self.changes}
        expected = {on[g]: self.groups[g]["after"] for g in self.changes}
        try:
            self.hat.edit({on[g]: c for g, c in self.changes.items()}, p["comment"])
            self.result["committed"] = commit(self.s, p["comment"])
            if self.result["committed"] is None:
                self.fail("%s: the appliance had nothing to commit after the edit (There is no data to commit.); "
                          "read the sender groups with an inventory" % name)
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
                self.fail(refusal_message(e.kind, "%s: %s; %s" % (name, e, restore["summary"])))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run = SenderGroups(module)
    run.check()
    run.read()
    run.plan()
    if not module.check_mode and run.result["changed"] and run.changes:
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
