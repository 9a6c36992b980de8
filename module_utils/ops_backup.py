# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""Shared by the backup modules (ec2_ami_backup, ec2_snapshot_backup): names, tags and generations.

Catalog tasks INFO-011 (AMI), INFO-012 (EBS snapshot) and CORE-012 (システムバックアップ: "構成変更前後で
1世代ずつ(合計2世代分)" - one generation before and one after a configuration change, two in all).
"""

from __future__ import annotations

import re

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


def wait_until(ids, poll, done, failed, timeout_s, interval_s, sleep, clock):
    """Poll ``poll(ids) -> {id: state}`` (batched by the caller) until every id is ``done(state)``.

    Returns (states, pending, failures): pending is empty on success; failures lists ids whose state is
    ``failed(state)`` (polling stops for them). ``sleep`` and ``clock`` are injected (time.sleep, time.monotonic).
    """
    deadline = clock() + timeout_s
    states, pending, failures = {}, list(ids), []
    while pending:
        states.update(poll(pending))
        failures += [i for i in pending if failed(states.get(i))]
        pending = [i for i in pending if not done(states.get(i)) and i not in failures]
        if not pending or clock() >= deadline:
            break
        sleep(max(0, min(interval_s, deadline - clock())))
    return states, pending, failures


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
        module.fail_json(msg="INVALID INPUT: generation: %r - use letters, digits, '.', '_' and '-' "
                             "(up to 40), e.g. pre-change" % p["generation"])
    if p["retention"] < 1:
        module.fail_json(msg="INVALID INPUT: retention: must be at least 1 (the generation just made)")


def check_expected_prune(module, pruned_ids, calls):
    """With ``expected_prune`` set (by an apply), fail with DRIFT when the rule now prunes anything else."""
    expected = module.params["expected_prune"]
    if expected is None:
        return
    unplanned = sorted(set(pruned_ids) - set(expected))
    if unplanned:
        module.fail_json(msg="DRIFT: the retention rule now prunes %s, which the plan did not list; plan again"
                             % ", ".join(unplanned), api_calls=calls)
