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
  catalog_task: {description: CatalogTask tag., type: str, default: INFO-012}
  retention: {description: Generations to keep per volume (>= 1)., type: int, default: 2}
  wait_timeout: {description: Seconds to wait for all new snapshots to complete., type: int, default: 3600}
extends_documentation_fragment: [ops_backup, amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
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
pruned: {description: Snapshot IDs deleted (or that would be)., returned: always, type: list}
ops_changes: {description: Evidence entries., returned: always, type: list}
api_calls: {description: EC2 API calls by operation name., returned: always, type: dict}
"""

from ansible.module_utils.ops_aws import aws_errors, chunks, tag_value
from ansible.module_utils.ops_backup import CREATED_BY, Backup, backup_argument_spec
from ansible.module_utils.ops_ec2 import Ec2Instances
from ansible.module_utils.ops_refusal import fail_invalid
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

ARGUMENT_SPEC = backup_argument_spec(
    "INFO-012",
    3600,
    volume_ids=dict(type="list", elements="str", default=[]),
    instance_ids=dict(type="list", elements="str", default=[]),
    environment=dict(type="str", required=True),
)


def _unknown_volume(code, message):
    return "volumes: %s" % message if "NotFound" in code else None


class SnapshotBackup(Backup):
    """EBS snapshots of volumes: a source is {id: volume ID, instance, device, instance_name, name: the label,
    description}."""

    resource, id_key, id_field, items_key = "ec2:snapshot", "SnapshotId", "snapshot_id", "snapshots"
    source_key, ready, failed_states = "SourceVolume", "completed", ("error",)
    create_call, created_unit, waited_unit, failed_key, plural = (
        "CreateSnapshot", "snapshot(s)", "Snapshot(s)", "failed_snapshots", "snapshots")
    pruned_after = (("state", "deleted"),)

    def read(self):
        p = self.p
        if not p["volume_ids"] and not p["instance_ids"]:
            fail_invalid(self.module, "volumes / instances: name at least one volume ID or instance")
        self.volumes = {}
        with aws_errors(self.module, "Could not read the volumes", dict(api_calls=self.calls), invalid=_unknown_volume):
            for chunk in chunks(sorted(set(p["volume_ids"]))):
                self.volumes.update((v["VolumeId"], v) for v in self.ec2.describe_volumes(
                    VolumeIds=chunk, aws_retry=True)["Volumes"])
            for chunk in chunks(sorted(set(p["instance_ids"])), 200):
                self.volumes.update((v["VolumeId"], v) for v in self.ec2.describe_volumes(
                    Filters=[{"Name": "attachment.instance-id", "Values": chunk}], aws_retry=True)["Volumes"])
            self.instances = Ec2Instances(self.module, self.ec2, self.calls).describe(
                {a["InstanceId"] for v in self.volumes.values() for a in v.get("Attachments", [])})
        self.refuse_foreign_volumes()
        with aws_errors(self.module, "Could not read the snapshots", dict(api_calls=self.calls)):
            for chunk in chunks(sorted(self.volumes), 200):
                self.ours += self.ec2.describe_snapshots(OwnerIds=["self"], aws_retry=True, Filters=[
                    {"Name": "tag:CreatedBy", "Values": [CREATED_BY]},
                    {"Name": "tag:SourceVolume", "Values": chunk}])["Snapshots"]

    def owner(self, volume):
        """(instance ID, device, instance Name tag, environment) of a volume (its first attachment)."""
        att = (volume.get("Attachments") or [{}])[0]
        inst = self.instances.get(att.get("InstanceId"), {})
        return (att.get("InstanceId"), att.get("Device"), tag_value(inst, "Name"),
                tag_value(volume, "Environment") or tag_value(inst, "Environment"))

    def refuse_foreign_volumes(self):
        """INVALID INPUT for a volume of another environment and an instance without a volume."""
        errors = []
        for vid, v in sorted(self.volumes.items()):
            iid, _dev, iname, env = self.owner(v)
            if env != self.p["environment"]:
                errors.append("%s (%s) belongs to environment %s, not %s" % (
                    vid, iname or iid or "not attached", env or "(no Environment tag)", self.p["environment"]))
        for iid in self.p["instance_ids"]:
            if not any(a.get("InstanceId") == iid for v in self.volumes.values() for a in v.get("Attachments", [])):
                errors.append("instance %s has no attached volume" % iid)
        if errors:
            fail_invalid(self.module, "volumes: " + "; ".join(errors), api_calls=self.calls)

    def sources(self):
        p = self.p
        for vid in sorted(self.volumes):
            iid, dev, iname, _env = self.owner(self.volumes[vid])
            yield dict(id=vid, instance=iid, device=dev, instance_name=iname,
                       name="%s-%s-%s" % (iname or vid, (dev or "detached").rsplit("/", 1)[-1], p["generation"]),
                       description="%s %s %s %s %s" % (iname or "-", dev or "detached", p["catalog_task"], p["ticket"],
                                                        p["generation"]))

    def created(self, res):
        return str(res.get("StartTime", ""))

    def entry(self, source, backup_id, action, state, existing=None):
        return dict(volume_id=source["id"], instance_id=source["instance"], device=source["device"],
                    snapshot_id=backup_id, action=action, state=state)

    def reused(self, source, res):
        return source["name"], dict(volume=source["id"])

    def to_prune(self, source, res):
        return (dict(snapshot_id=res["SnapshotId"], volume_id=source["id"]), tag_value(res, "Name"),
                dict(volume=source["id"], created=str(res.get("StartTime", ""))))

    def create_facts(self, source):
        return dict(volume=source["id"], instance=source["instance"], device=source["device"],
                    generation=self.p["generation"], ticket=self.p["ticket"])

    def diff_label(self, source):
        return source["description"]

    def create_one(self, source):
        tags = self.tags(source)
        if source["instance"]:
            tags.append({"Key": "SourceInstance", "Value": source["instance"]})
        resp = self.ec2.create_snapshot(VolumeId=source["id"], Description=source["description"], aws_retry=True,
                                        TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])
        return resp["SnapshotId"]

    def describe_new(self, ids):
        out = {}
        for chunk in chunks(ids):
            for s in self.ec2.describe_snapshots(SnapshotIds=chunk, aws_retry=True)["Snapshots"]:
                out[s["SnapshotId"]] = s.get("State")
        return out

    def delete(self, entry):
        self.ec2.delete_snapshot(SnapshotId=entry["snapshot_id"], aws_retry=True)


def main():
    SnapshotBackup(AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)).run()


if __name__ == "__main__":
    main()
