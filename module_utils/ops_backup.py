# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""Shared by the backup modules (ec2_ami_backup, ec2_snapshot_backup): names, tags, generations, and the run.

Catalog tasks INFO-011 (AMI), INFO-012 (EBS snapshot) and CORE-012 (システムバックアップ: "構成変更前後で
1世代ずつ(合計2世代分)" - one generation before and one after a configuration change, two in all).

``Backup`` is one run of either module: read, plan (reuse, create, prune per source), refuse, create, wait,
prune, report. A subclass (AmiBackup, SnapshotBackup in the modules) says what differs - the resource, its
calls and the fields of its entries.
"""

from __future__ import annotations

import re

from ansible.module_utils.ops_aws import AWS_ERRORS, counted_ec2_client
from ansible.module_utils.ops_refusal import fail_drift, fail_invalid
from ansible.module_utils.ops_wait import Waiter, WaitTimeout, wait_for

#: Value of the CreatedBy tag on every image and snapshot this project makes. Pruning touches nothing else.
CREATED_BY = "ops-automation-collection"

#: A generation label: valid in an AMI name and in a tag value (letters, digits, '.', '_', '-').
GENERATION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
_AMI_NAME_BAD = re.compile(r"[^A-Za-z0-9()\[\] ./'@_-]")


def tag_dict(tags):
    """AWS tag list [{Key, Value}] -> dict."""
    return {t["Key"]: t["Value"] for t in tags or []}


def backup_tags(name, ticket, task, generation, source_key, source_id):
    """Tags for an AMI or a snapshot. ``source_key`` is SourceInstance or SourceVolume.

    Returns a list of {Key, Value} sorted by key.
    """
    tags = {"Name": name, "Ticket": ticket, "CatalogTask": task, "Generation": generation,
            "CreatedBy": CREATED_BY, source_key: source_id}
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def ami_name(instance_name, generation, ticket, date):
    """``<instance name>-<generation>-<ticket>-<yyyymmdd>``, made valid for an AMI name (3-128 characters).

    ``date`` is a datetime.date. Characters AMI names refuse become '-'.
    """
    raw = "%s-%s-%s-%s" % (instance_name or "instance", generation, ticket, date.strftime("%Y%m%d"))
    return _AMI_NAME_BAD.sub("-", raw)[:128]


def duplicate_names(named):
    """Names that more than one target would get: ``named`` is a list of (target ID, name).

    AMI names are unique per account and region (CreateImage refuses a second one with
    InvalidAMIName.Duplicate), and ``ami_name`` gives the same name to two instances with the same Name tag
    (or none). Returns {name: [target IDs, sorted]} for every name used twice or more; empty when none is.
    """
    by_name = {}
    for target, name in named:
        by_name.setdefault(name, set()).add(target)
    return {name: sorted(targets) for name, targets in sorted(by_name.items()) if len(targets) > 1}


def is_ours(tags, source_key, source_id):
    """True when a resource carries our CreatedBy tag and belongs to ``source_id``."""
    t = tag_dict(tags) if isinstance(tags, list) else (tags or {})
    return t.get("CreatedBy") == CREATED_BY and t.get(source_key) == source_id


def select_prunable(existing, keep, source_key, source_id):
    """Which existing backups of one source to prune so that ``keep`` generations remain.

    Args:
        existing: resources as {"id", "created" (ISO 8601 str, sortable), "tags" (list or dict)}; may include
            foreign resources - they are never returned.
        keep: generations to keep (>= 1), counting every backup of ours for the source, the new one included.
        source_key, source_id: SourceInstance / SourceVolume and its ID.

    Returns (kept, pruned): lists of ids, newest first. Only resources of ours for that source are counted.
    """
    if keep < 1:
        raise ValueError("retention must be at least 1")
    ours = [e for e in existing if is_ours(e.get("tags"), source_key, source_id)]
    ours.sort(key=lambda e: (e.get("created") or "", e["id"]), reverse=True)
    return [e["id"] for e in ours[:keep]], [e["id"] for e in ours[keep:]]


#: The ID of a backup the plan would create, among the existing ones given to select_prunable.
NEW = "(new)"


def backup_argument_spec(catalog_task, wait_timeout, **extra):
    """The options both backup modules take (see their DOCUMENTATION), plus ``extra``."""
    spec = dict(
        state=dict(type="str", choices=["present", "pruned"], default="present"),
        ticket=dict(type="str", required=True),
        generation=dict(type="str", default="pre-change"),
        catalog_task=dict(type="str", default=catalog_task),
        retention=dict(type="int", default=2),
        prune=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=wait_timeout),
        poll_interval=dict(type="int", default=15),
        expected_prune=dict(type="list", elements="str"),
    )
    spec.update(extra)
    return spec


def check_backup_params(module):
    """Fail with INVALID INPUT on a generation label AWS would refuse or a retention below 1."""
    p = module.params
    if not re.match(GENERATION_PATTERN, p["generation"]):
        fail_invalid(module, "generation: %r - use letters, digits, '.', '_' and '-' "
                             "(up to 40), e.g. pre-change" % p["generation"])
    if p["retention"] < 1:
        fail_invalid(module, "retention: must be at least 1 (the generation just made)")


def check_expected_prune(module, pruned_ids, calls):
    """With ``expected_prune`` set (by an apply), fail with DRIFT when the rule now prunes anything else."""
    expected = module.params["expected_prune"]
    if expected is None:
        return
    unplanned = sorted(set(pruned_ids) - set(expected))
    if unplanned:
        fail_drift(module, "the retention rule now prunes %s, which the plan did not list; plan again"
                             % ", ".join(unplanned), api_calls=calls)


class Backup:
    """One run of a backup module. ``sources()`` yields one dict per instance (AMIs) or volume (snapshots) with
    at least ``id`` (the source ID) and ``name`` (the new backup's name); the other methods a subclass provides
    are marked "subclass". Results: ``items`` (images / snapshots), ``changes`` (ops_changes), ``pruned``
    (entries of what is deleted), ``creates`` (sources without a backup for this ticket and generation),
    ``new`` {new backup ID: source}, ``calls`` (API calls by operation name).
    """

    #: Data of the resource (set by the subclass).
    resource = ""  # ops_changes resource prefix, e.g. ec2:image
    id_key = ""  # ID field of the AWS entries, e.g. ImageId
    id_field = ""  # ID field of items and pruned entries, e.g. image_id
    items_key = ""  # result key of items, e.g. images
    source_key = ""  # SourceInstance or SourceVolume
    ready = ""  # the state a new backup must reach, e.g. available
    failed_states = ()  # states a new backup never leaves
    create_call = ""  # e.g. CreateImage (messages)
    created_unit = ""  # e.g. image(s) (messages)
    waited_unit = ""  # e.g. AMI(s) (messages)
    failed_key = ""  # result key of the new backups that failed, e.g. failed_images
    plural = ""  # e.g. AMIs (messages, diff headers)
    pruned_after = ()  # the ``after`` of a prune change, as (key, value) pairs

    def __init__(self, module, ec2=None, calls=None):
        self.module, self.p = module, module.params
        self.ec2, self.calls = counted_ec2_client(module, ec2, calls)
        self.ours, self.items, self.changes, self.pruned, self.creates, self.new = [], [], [], [], [], {}

    def run(self):
        """The steps in order; ends the module (exit_json / fail_json)."""
        check_backup_params(self.module)
        self.read()
        self.plan()
        self.refuse()
        if self.module.check_mode:
            self.predict()
            self.finish()
        self.create()
        self.wait()
        self.after_ready()
        self.prune()
        self.finish()

    # -- subclass ------------------------------------------------------------------------------------------
    def read(self):
        """Read the sources and ``self.ours`` (every backup of ours of them); fail with INVALID INPUT on bad ones."""
        raise NotImplementedError

    def sources(self):
        raise NotImplementedError

    def created(self, res):
        """The creation time of an AWS entry as a sortable string."""
        raise NotImplementedError

    def entry(self, source, backup_id, action, state, existing=None):
        """The ``items`` entry of a backup of ``source`` (``existing``: its AWS entry when it is reused)."""
        raise NotImplementedError

    def reused(self, source, res):
        """(name, facts) of an ops_changes entry of a backup reused for ``source``."""
        raise NotImplementedError

    def to_prune(self, source, res):
        """(pruned entry, name, facts) of the backup ``res`` of ``source`` that the retention rule deletes."""
        raise NotImplementedError

    def create_facts(self, source):
        """The ``after`` fields (besides the state) of the ops_changes entry of a new backup of ``source``."""
        raise NotImplementedError

    def create_one(self, source):
        """Create the backup of ``source``; returns its ID."""
        raise NotImplementedError

    def describe_new(self, ids):
        """{backup ID: state} of the new backups ``ids`` (one poll)."""
        raise NotImplementedError

    def delete(self, entry):
        """Delete one pruned backup (``entry`` from ``to_prune``)."""
        raise NotImplementedError

    def diff_label(self, source):
        """The diff line of a backup to create for ``source``, after "(new) "."""
        return source["name"]

    def warn_create(self, source):
        """Warn about a backup to create (nothing by default)."""

    def after_ready(self):
        """What to do once every new backup is ready, before the prune (nothing by default)."""

    def live(self, res):
        """True when an existing backup counts (it is not in one of ``failed_states``)."""
        return res.get("State") not in self.failed_states

    # -- shared ------------------------------------------------------------------------------------------
    def tags(self, source):
        return backup_tags(source["name"], self.p["ticket"], self.p["catalog_task"], self.p["generation"],
                           self.source_key, source["id"])

    def plan(self):
        """Per source: reuse the backup made for this ticket and generation or plan a new one, and (with prune
        or state pruned) select what the retention rule deletes."""
        p = self.p
        for source in self.sources():
            mine = [r for r in self.ours if is_ours(r.get("Tags"), self.source_key, source["id"]) and self.live(r)]
            same = [r for r in mine if tag_dict(r.get("Tags")).get("Ticket") == p["ticket"]
                    and tag_dict(r.get("Tags")).get("Generation") == p["generation"]]
            candidates = [{"id": r[self.id_key], "created": self.created(r), "tags": r.get("Tags")} for r in mine]
            if p["state"] == "present" and same:
                r = same[0]
                name, facts = self.reused(source, r)
                self.items.append(self.entry(source, r[self.id_key], "none", r.get("State"), existing=r))
                self.changes.append(dict(resource="%s/%s" % (self.resource, r[self.id_key]), name=name, action="none",
                                         before=dict(state=r.get("State"), **facts),
                                         after=dict(state=r.get("State"), **facts), changed=False,
                                         note="already made for this ticket and generation"))
            elif p["state"] == "present":
                self.creates.append(source)
                candidates.append({"id": NEW, "created": "9999", "tags": self.tags(source)})
                self.warn_create(source)
            if p["prune"] or p["state"] == "pruned":
                _kept, drop = select_prunable(candidates, p["retention"], self.source_key, source["id"])
                for r in [r for r in mine if r[self.id_key] in drop]:
                    entry, name, facts = self.to_prune(source, r)
                    t = tag_dict(r.get("Tags"))
                    self.pruned.append(entry)
                    self.changes.append(dict(resource="%s/%s" % (self.resource, r[self.id_key]), name=name,
                                             action="prune", before=dict(state=r.get("State"),
                                                                         generation=t.get("Generation"),
                                                                         ticket=t.get("Ticket"), **facts),
                                             after=dict(self.pruned_after), changed=True))

    def refuse(self):
        """Fail before any change (in check mode too) with what the run would be refused: DRIFT of the prune."""
        check_expected_prune(self.module, [x[self.id_field] for x in self.pruned], self.calls)

    def create_change(self, source, backup_id, state):
        return dict(resource="%s/%s" % (self.resource, backup_id or "(new for %s)" % source["id"]),
                    match="%s/new-for/%s" % (self.resource, source["id"]), name=source["name"], action="create",
                    before=None, after=dict(state=state, **self.create_facts(source)), changed=True)

    def add_created(self, source, backup_id, state):
        self.items.append(self.entry(source, backup_id, "create", state))
        self.changes.append(self.create_change(source, backup_id, state))

    def predict(self):
        """Check mode: the backups that would be created."""
        for source in self.creates:
            self.items.append(self.entry(source, None, "create", "would be created"))
            self.changes.append(self.create_change(source, None, self.ready))

    def create(self):
        """Create every planned backup; on an error report those made and fail."""
        try:
            for source in self.creates:
                self.new[self.create_one(source)] = source
        except AWS_ERRORS as e:
            for backup_id, source in self.new.items():
                self.add_created(source, backup_id, "pending")
            self.finish("%s failed after %d %s: %s" % (self.create_call, len(self.new), self.created_unit, e))

    def wait(self):
        """Wait until every new backup is ready (polled together); on a timeout or a failed one, fail with each
        ID and state, and prune nothing."""
        p = self.p
        waiter = Waiter(self.ready, self.describe_new, lambda s: s == self.ready,
                        failed=lambda s: s in self.failed_states, interval_s=p["poll_interval"],
                        timeout_s=p["wait_timeout"])
        pending = []
        try:
            states, failures = wait_for(waiter, list(self.new))
        except WaitTimeout as e:
            states, pending, failures = e.states, e.pending, e.failures
        except AWS_ERRORS as e:
            states, pending, failures = {}, list(self.new), []
            self.module.warn("Polling the new %s failed: %s" % (self.plural, e))
        for backup_id, source in sorted(self.new.items()):
            self.add_created(source, backup_id, states.get(backup_id))
        if pending or failures:
            # Nothing is deleted: the operator decides about a backup that is late or failed.
            self.changes[:] = [c for c in self.changes if c["action"] != "prune"]
            self.pruned[:] = []
            self.finish("%s not %s after %ss (left in place, nothing pruned): %s" % (
                self.waited_unit, self.ready, p["wait_timeout"],
                ", ".join("%s is %s" % (i, states.get(i, "unknown")) for i in pending + failures)),
                timed_out=pending, **{self.failed_key: failures})

    def prune(self):
        """Delete what the retention rule selected; fail at the first error."""
        entry = None
        try:
            for entry in self.pruned:
                self.delete(entry)
        except AWS_ERRORS as e:
            self.finish("Pruning failed at %s: %s" % (entry[self.id_field], e))

    def finish(self, fail_msg=None, **extra):
        """End the module with the result (and the diff in diff mode); fail with ``fail_msg`` when given."""
        result = {"changed": bool(self.creates or self.pruned), self.items_key: self.items, "pruned": self.pruned,
                  "api_calls": self.calls,
                  "ops_changes": sorted(self.changes, key=lambda c: (c["resource"], c["action"]))}
        result.update(extra)
        if self.module._diff:
            ids = sorted(r[self.id_key] for r in self.ours)
            gone = {x[self.id_field] for x in self.pruned}
            result["diff"] = dict(before="".join("%s\n" % i for i in ids),
                                  after="".join("%s\n" % i for i in ids if i not in gone)
                                  + "".join("(new) %s\n" % self.diff_label(s) for s in self.creates),
                                  before_header="%s of ours" % self.plural, after_header="%s of ours" % self.plural)
        if fail_msg:
            self.module.fail_json(msg=fail_msg, **result)
        self.module.exit_json(**result)
