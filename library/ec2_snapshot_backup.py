#!/usr/bin/python
# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Manual EBS snapshots with generations (INFO-012, CORE-012), idempotent per ticket and generation label."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_snapshot_backup
short_description: Snapshot EBS volumes (by volume ID or every volume of an instance) and prune old generations
description:
  - Resolves the volumes - the given volume IDs and every volume attached to the given instances (one
    DescribeVolumes call per 100 volumes or 200 instances). A volume whose Environment tag (or, untagged, the
    Environment tag of the instance it is attached to) is not I(environment) is refused with C(INVALID INPUT:).
  - Creates one snapshot per volume (CreateSnapshot with TagSpecifications - C(Name), C(Ticket), C(CatalogTask),
    C(Generation), C(CreatedBy=ops-automation-collection), C(SourceVolume), C(SourceInstance)); the description
    names the instance and the device (C(joho-web01 /dev/sdf REQ-… pre-change)).
  - Idempotent - a snapshot of ours with the same volume, ticket and generation is reused.
  - Waits until every new snapshot is C(completed), polling them together; on timeout fails with the IDs and
    states and deletes nothing.
  - Keeps I(retention) generations per volume and deletes older snapshots of ours (CreatedBy and the same
    SourceVolume); nothing else is counted or touched.
  - Amazon EC2 API Reference - CreateSnapshot, DescribeVolumes, DescribeSnapshots, DeleteSnapshot.
options:
  volume_ids: {description: EBS volume IDs., type: list, elements: str, default: []}
  instance_ids:
    description: Instances whose attached volumes are all snapshotted (already environment-checked).
    type: list
    elements: str
    default: []
  environment: {description: The inventory's environment; every volume must belong to it., type: str, required: true}
  state:
    description: C(present) creates (if missing) then prunes; C(pruned) only applies the retention rule (CORE-012).
    type: str
    choices: [present, pruned]
    default: present
  ticket: {description: Work request number., type: str, required: true}
  generation: {description: Generation label., type: str, default: pre-change}
  catalog_task: {description: CatalogTask tag., type: str, default: INFO-012}
  retention: {description: Generations to keep per volume (>= 1)., type: int, default: 2}
  prune: {description: Apply the retention rule after creating., type: bool, default: true}
  wait_timeout: {description: Seconds to wait for all new snapshots to complete., type: int, default: 3600}
  poll_interval: {description: Seconds between polls., type: int, default: 15}
  expected_prune:
    description: IDs the plan would prune. When given, pruning anything else fails with C(DRIFT:) before any change.
    type: list
    elements: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Snapshot every volume of an instance before a change
  ec2_snapshot_backup:
    instance_ids: [i-0123456789abcdef0]
    environment: maint
    ticket: REQ-2026-1122-001
    generation: pre-change
"""

RETURN = r"""
snapshots:
  description: One entry per volume - volume_id, instance_id, device, snapshot_id, action, state.
  returned: always
  type: list
pruned:
  description: Snapshot IDs deleted (or that would be).
  returned: always
  type: list
ops_changes:
  description: Evidence entries.
  returned: always
  type: list
api_calls:
  description: EC2 API calls by operation name.
  returned: always
  type: dict
"""

import time

try:
    import botocore
except ImportError:
    pass

from ansible.module_utils.ops_aws import chunks, counted_ec2_client
from ansible.module_utils.ops_backup import (
    CREATED_BY,
    backup_argument_spec,
    backup_tags,
    check_backup_params,
    check_expected_prune,
    is_ours,
    select_prunable,
    tag_dict,
    wait_until,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

NEW = "(new)"


def main():
    module = AnsibleAWSModule(
        argument_spec=backup_argument_spec(
            "INFO-012",
            3600,
            volume_ids=dict(type="list", elements="str", default=[]),
            instance_ids=dict(type="list", elements="str", default=[]),
            environment=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    check_backup_params(module)
    if not p["volume_ids"] and not p["instance_ids"]:
        module.fail_json(msg="INVALID INPUT: volumes / instances: name at least one volume ID or instance")
    ec2, calls = counted_ec2_client(module)
    volumes, instances = {}, {}
    try:
        for chunk in chunks(sorted(set(p["volume_ids"]))):
            for v in ec2.describe_volumes(VolumeIds=chunk, aws_retry=True)["Volumes"]:
                volumes[v["VolumeId"]] = v
        for chunk in chunks(sorted(set(p["instance_ids"])), 200):
            for v in ec2.describe_volumes(
                Filters=[{"Name": "attachment.instance-id", "Values": chunk}], aws_retry=True
            )["Volumes"]:
                volumes[v["VolumeId"]] = v
        attached = sorted({a["InstanceId"] for v in volumes.values() for a in v.get("Attachments", [])})
        for chunk in chunks(attached):
            for r in ec2.describe_instances(InstanceIds=chunk, aws_retry=True)["Reservations"]:
                for i in r["Instances"]:
                    instances[i["InstanceId"]] = i
    except botocore.exceptions.ClientError as e:
        if "NotFound" in e.response["Error"]["Code"]:
            module.fail_json(msg="INVALID INPUT: volumes: %s" % e.response["Error"]["Message"], api_calls=calls)
        module.fail_json_aws(e, msg="Could not read the volumes", api_calls=calls)
    except botocore.exceptions.BotoCoreError as e:
        module.fail_json_aws(e, msg="Could not read the volumes", api_calls=calls)

    def owner(v):
        att = (v.get("Attachments") or [{}])[0]
        inst = instances.get(att.get("InstanceId"), {})
        return (
            att.get("InstanceId"),
            att.get("Device"),
            tag_dict(inst.get("Tags")).get("Name", ""),
            tag_dict(v.get("Tags")).get("Environment") or tag_dict(inst.get("Tags")).get("Environment", ""),
        )

    errors = []
    for vid, v in sorted(volumes.items()):
        iid, _dev, iname, env = owner(v)
        if env != p["environment"]:
            errors.append(
                "%s (%s) belongs to environment %s, not %s"
                % (vid, iname or iid or "not attached", env or "(no Environment tag)", p["environment"])
            )
    for iid in p["instance_ids"]:
        if not any(a.get("InstanceId") == iid for v in volumes.values() for a in v.get("Attachments", [])):
            errors.append("instance %s has no attached volume" % iid)
    if errors:
        module.fail_json(msg="INVALID INPUT: volumes: " + "; ".join(errors), api_calls=calls)

    vids = sorted(volumes)
    try:
        ours = []
        for chunk in chunks(vids, 200):
            ours += ec2.describe_snapshots(
                OwnerIds=["self"],
                aws_retry=True,
                Filters=[
                    {"Name": "tag:CreatedBy", "Values": [CREATED_BY]},
                    {"Name": "tag:SourceVolume", "Values": chunk},
                ],
            )["Snapshots"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not read the snapshots", api_calls=calls)

    snapshots, changes, pruned, creates = [], [], [], []
    for vid in vids:
        iid, dev, iname, _env = owner(volumes[vid])
        mine = [s for s in ours if is_ours(s.get("Tags"), "SourceVolume", vid) and s.get("State") != "error"]
        same = [
            s
            for s in mine
            if tag_dict(s.get("Tags")).get("Ticket") == p["ticket"]
            and tag_dict(s.get("Tags")).get("Generation") == p["generation"]
        ]
        label = "%s-%s-%s" % (iname or vid, (dev or "detached").rsplit("/", 1)[-1], p["generation"])
        candidates = [
            {"id": s["SnapshotId"], "created": str(s.get("StartTime", "")), "tags": s.get("Tags")} for s in mine
        ]
        if p["state"] == "present":
            if same:
                s = same[0]
                snapshots.append(
                    dict(
                        volume_id=vid,
                        instance_id=iid,
                        device=dev,
                        snapshot_id=s["SnapshotId"],
                        action="none",
                        state=s.get("State"),
                    )
                )
                changes.append(
                    dict(
                        resource="ec2:snapshot/%s" % s["SnapshotId"],
                        name=label,
                        action="none",
                        before=dict(state=s.get("State"), volume=vid),
                        after=dict(state=s.get("State"), volume=vid),
                        changed=False,
                        note="already made for this ticket and generation",
                    )
                )
            else:
                desc = "%s %s %s %s %s" % (
                    iname or "-",
                    dev or "detached",
                    p["catalog_task"],
                    p["ticket"],
                    p["generation"],
                )
                creates.append((vid, iid, dev, label, desc))
                candidates.append(
                    {
                        "id": NEW,
                        "created": "9999",
                        "tags": [{"Key": "CreatedBy", "Value": CREATED_BY}, {"Key": "SourceVolume", "Value": vid}],
                    }
                )
        if p["prune"] or p["state"] == "pruned":
            _kept, drop = select_prunable(candidates, p["retention"], "SourceVolume", vid)
            for s in [s for s in mine if s["SnapshotId"] in drop]:
                t = tag_dict(s.get("Tags"))
                pruned.append(dict(snapshot_id=s["SnapshotId"], volume_id=vid))
                changes.append(
                    dict(
                        resource="ec2:snapshot/%s" % s["SnapshotId"],
                        name=t.get("Name", ""),
                        action="prune",
                        before=dict(
                            state=s.get("State"),
                            generation=t.get("Generation"),
                            ticket=t.get("Ticket"),
                            volume=vid,
                            created=str(s.get("StartTime", "")),
                        ),
                        after=dict(state="deleted"),
                        changed=True,
                    )
                )

    def create_change(vid, iid, dev, label, snap_id, state):
        return dict(
            resource="ec2:snapshot/%s" % (snap_id or "(new for %s)" % vid),
            match="ec2:snapshot/new-for/%s" % vid,
            name=label,
            action="create",
            before=None,
            after=dict(
                state=state, volume=vid, instance=iid, device=dev, generation=p["generation"], ticket=p["ticket"]
            ),
            changed=True,
        )

    changed = bool(creates or pruned)

    def finish(fail_msg=None, **extra):
        result = dict(
            changed=changed,
            snapshots=snapshots,
            pruned=pruned,
            api_calls=calls,
            ops_changes=sorted(changes, key=lambda c: (c["resource"], c["action"])),
            **extra,
        )
        if module._diff:
            gone = {x["snapshot_id"] for x in pruned}
            result["diff"] = dict(
                before="".join("%s\n" % s["SnapshotId"] for s in sorted(ours, key=lambda x: x["SnapshotId"])),
                after="".join(
                    "%s\n" % s["SnapshotId"]
                    for s in sorted(ours, key=lambda x: x["SnapshotId"])
                    if s["SnapshotId"] not in gone
                )
                + "".join("(new) %s\n" % c[4] for c in creates),
                before_header="snapshots of ours",
                after_header="snapshots of ours",
            )
        if fail_msg:
            module.fail_json(msg=fail_msg, **result)
        module.exit_json(**result)

    check_expected_prune(module, [x["snapshot_id"] for x in pruned], calls)

    if module.check_mode:
        for vid, iid, dev, label, _desc in creates:
            snapshots.append(
                dict(
                    volume_id=vid,
                    instance_id=iid,
                    device=dev,
                    snapshot_id=None,
                    action="create",
                    state="would be created",
                )
            )
            changes.append(create_change(vid, iid, dev, label, None, "completed"))
        finish()

    new = {}
    try:
        for vid, iid, dev, label, desc in creates:
            tags = backup_tags(label, p["ticket"], p["catalog_task"], p["generation"], "SourceVolume", vid)
            if iid:
                tags.append({"Key": "SourceInstance", "Value": iid})
            resp = ec2.create_snapshot(
                VolumeId=vid,
                Description=desc,
                aws_retry=True,
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}],
            )
            new[resp["SnapshotId"]] = (vid, iid, dev, label)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        for sid, (vid, iid, dev, label) in new.items():
            changes.append(create_change(vid, iid, dev, label, sid, "pending"))
        finish("CreateSnapshot failed after %d snapshot(s): %s" % (len(new), e))

    def poll(batch):
        out = {}
        for chunk in chunks(batch):
            for s in ec2.describe_snapshots(SnapshotIds=chunk, aws_retry=True)["Snapshots"]:
                out[s["SnapshotId"]] = s.get("State")
        return out

    try:
        states, pending, failures = wait_until(
            list(new),
            poll,
            lambda s: s == "completed",
            lambda s: s == "error",
            p["wait_timeout"],
            p["poll_interval"],
            time.sleep,
            time.monotonic,
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        states, pending, failures = {}, list(new), []
        module.warn("Polling the new snapshots failed: %s" % e)
    for sid, (vid, iid, dev, label) in sorted(new.items()):
        snapshots.append(
            dict(volume_id=vid, instance_id=iid, device=dev, snapshot_id=sid, action="create", state=states.get(sid))
        )
        changes.append(create_change(vid, iid, dev, label, sid, states.get(sid)))
    if pending or failures:
        changes[:] = [c for c in changes if c["action"] != "prune"]
        pruned[:] = []
        finish(
            "Snapshot(s) not completed after %ss (left in place, nothing pruned): %s"
            % (p["wait_timeout"], ", ".join("%s is %s" % (i, states.get(i, "unknown")) for i in pending + failures)),
            timed_out=pending,
            failed_snapshots=failures,
        )
    try:
        for entry in pruned:
            ec2.delete_snapshot(SnapshotId=entry["snapshot_id"], aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        finish("Pruning failed at %s: %s" % (entry["snapshot_id"], e))
    finish()


if __name__ == "__main__":
    main()
