#!/usr/bin/python
# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Manual AMIs with generations (INFO-011, CORE-012), idempotent per ticket and generation label."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_ami_backup
short_description: Create tagged AMIs of instances, idempotently, and prune old generations
description:
  - For each instance, creates one AMI (CreateImage with TagSpecifications for the image and its snapshots)
    named C(<Name tag>-<generation>-<ticket>-<yyyymmdd>) and tagged C(Name), C(Ticket), C(CatalogTask),
    C(Generation), C(CreatedBy=ops-automation-collection) and C(SourceInstance).
  - Idempotent - an AMI of ours with the same instance, ticket and generation label is reused, not made again
    (C(amazon.aws.ec2_ami) alone is not - AMI names are not unique everywhere, moto included).
  - Waits until every new AMI is C(available), polling them together (one DescribeImages call per 100 images
    per poll). On timeout it fails with the AMI IDs and states and deletes nothing.
  - Then keeps I(retention) generations per instance, newest first, and prunes the rest - DeregisterImage
    and DeleteSnapshot of its snapshots. Only AMIs that carry this project's CreatedBy tag and the same
    SourceInstance are counted or touched.
  - AMI names are unique per account and region (CreateImage refuses a second one with
    C(InvalidAMIName.Duplicate)). Before any change, in check mode too, the module fails with C(INVALID INPUT:)
    when two instances would get the same name (the same Name tag, or none) or when an AMI of the account
    already has the name of an AMI to create (one DescribeImages call per 200 names). An AMI already made for
    the instance, ticket and generation is reused as before and is no conflict.
  - Check mode reports what would be created and pruned, with no mutating call.
  - Amazon EC2 API Reference - CreateImage, DescribeImages, DeregisterImage, DeleteSnapshot; User Guide
    "Create an Amazon EBS-backed AMI" (NoReboot - without it EC2 reboots the instance to get a consistent image).
options:
  instance_ids:
    description: Instance IDs (already resolved and environment-checked).
    type: list
    elements: str
    required: true
  ticket: {description: Work request number (Ticket tag, part of the name)., type: str, required: true}
  catalog_task: {description: CatalogTask tag., type: str, default: INFO-011}
  no_reboot:
    description: Create the image without rebooting the instance (a crash-consistent image).
    type: bool
    default: true
  retention: {description: Generations to keep per instance (>= 1)., type: int, default: 2}
  wait_timeout: {description: Seconds to wait for all new AMIs to be available., type: int, default: 1800}
extends_documentation_fragment: [ops_backup, amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Pre-change AMI of two instances, keep two generations
  ec2_ami_backup:
    instance_ids: [i-0123456789abcdef0, i-0fedcba9876543210]
    ticket: REQ-2026-1122-001
    generation: pre-change
"""

RETURN = r"""
images:
  description:
    - One entry per instance - instance_id, name, image_id (null in check mode when new),
      action (create/none), state.
  returned: always
  type: list
pruned: {description: "AMI IDs deregistered (or that would be), with their snapshot IDs.", returned: always, type: list}
ops_changes: {description: "Evidence entries - resource, action, before, after, changed.", returned: always, type: list}
api_calls: {description: EC2 API calls by operation name., returned: always, type: dict}
"""

import datetime

from ansible.module_utils.ops_aws import AWS_ERRORS, aws_errors, chunks, tag_value
from ansible.module_utils.ops_backup import Backup, ami_name, backup_argument_spec, duplicate_names, tag_dict
from ansible.module_utils.ops_ec2 import Ec2Instances
from ansible.module_utils.ops_refusal import fail_invalid
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

ARGUMENT_SPEC = backup_argument_spec(
    "INFO-011",
    1800,
    instance_ids=dict(type="list", elements="str", required=True),
    no_reboot=dict(type="bool", default=True),
)


def _snapshot_ids(image):
    """The snapshot IDs of an image's block device mappings, sorted."""
    return sorted(b["Ebs"]["SnapshotId"] for b in image.get("BlockDeviceMappings", [])
                  if b.get("Ebs", {}).get("SnapshotId"))


class AmiBackup(Backup):
    """AMIs of instances: a source is {id: instance ID, instance_name: its Name tag, name: the AMI's name}."""

    resource, id_key, id_field, items_key = "ec2:image", "ImageId", "image_id", "images"
    source_key, ready, failed_states = "SourceInstance", "available", ("deregistered", "invalid", "error", "failed")
    create_call, created_unit, waited_unit, failed_key, plural = (
        "CreateImage", "image(s)", "AMI(s)", "failed_images", "AMIs")
    pruned_after = (("state", "deregistered"), ("snapshots", "deleted"))

    def read(self):
        self.ids = sorted(set(self.p["instance_ids"]))
        with aws_errors(self.module, "Could not read the instances and their AMIs", dict(api_calls=self.calls)):
            self.instances = Ec2Instances(self.module, self.ec2, self.calls).describe(self.ids)
            missing = [i for i in self.ids if i not in self.instances]
            if missing:
                fail_invalid(self.module, "instances: not found: " + ", ".join(missing),
                                      api_calls=self.calls)
            for chunk in chunks(self.ids, 200):
                self.ours += self.ec2.describe_images(Owners=["self"], aws_retry=True, Filters=[
                    {"Name": "tag:CreatedBy", "Values": ["ops-automation-collection"]},
                    {"Name": "tag:SourceInstance", "Values": chunk}])["Images"]
        self.described = {}

    def sources(self):
        today = datetime.datetime.now(datetime.timezone.utc).date()
        for iid in self.ids:
            instance_name = tag_value(self.instances[iid], "Name")
            yield dict(id=iid, instance_name=instance_name,
                       name=ami_name(instance_name, self.p["generation"], self.p["ticket"], today))

    def created(self, res):
        return res.get("CreationDate", "")

    def entry(self, source, backup_id, action, state, existing=None):
        return dict(instance_id=source["id"], name=existing.get("Name") if existing else source["name"],
                    image_id=backup_id, action=action, state=state)

    def reused(self, source, res):
        return res.get("Name"), dict(ticket=self.p["ticket"])

    def to_prune(self, source, res):
        snaps = _snapshot_ids(res)
        return (dict(image_id=res["ImageId"], instance_id=source["id"], snapshots=snaps), res.get("Name"),
                dict(created=res.get("CreationDate"), snapshots=snaps))

    def create_facts(self, source):
        p = self.p
        return dict(instance=source["id"], generation=p["generation"], ticket=p["ticket"], no_reboot=p["no_reboot"])

    def warn_create(self, source):
        if not self.p["no_reboot"]:
            self.module.warn("Creating the AMI of %s (%s) with no_reboot=false REBOOTS the instance: its services "
                             "are interrupted while EC2 takes the image." % (source["instance_name"] or source["id"],
                                                                            source["id"]))

    def refuse(self):
        """AMI names are unique per account and region (CreateImage refuses a second one with
        InvalidAMIName.Duplicate): refuse two instances getting one name, or a name an AMI has (read-only)."""
        if self.creates:
            self.refuse_taken_names()
        super().refuse()

    def refuse_taken_names(self):
        label = {s["id"]: "%s (%s)" % (s["id"], s["instance_name"] or "no Name tag") for s in self.creates}
        conflicts = ["%s would be the name of the AMIs of %s" % (name, " and ".join(label[i] for i in targets))
                     for name, targets in duplicate_names([(s["id"], s["name"]) for s in self.creates]).items()]
        wanted = {}
        for s in self.creates:
            wanted.setdefault(s["name"], []).append(s["id"])
        taken = []
        with aws_errors(self.module, "Could not read the AMIs that have the names to create",
                        dict(api_calls=self.calls)):
            for chunk in chunks(sorted(wanted), 200):
                taken += self.ec2.describe_images(Owners=["self"], aws_retry=True,
                                                  Filters=[{"Name": "name", "Values": chunk}])["Images"]
        for im in sorted(taken, key=lambda x: (x.get("Name", ""), x["ImageId"])):
            if im.get("Name") not in wanted or im.get("State") == "deregistered":
                continue
            source = tag_dict(im.get("Tags")).get("SourceInstance")
            conflicts.append("%s (the AMI to make of %s) is already the name of %s (%s, %s)" % (
                im["Name"], " and ".join(label[i] for i in wanted[im["Name"]]), im["ImageId"],
                im.get("State") or "unknown state", "made of %s" % source if source else "no SourceInstance tag"))
        if conflicts:
            fail_invalid(self.module, "instances: AMI names must be unique in the account and region, nothing was "
                    "created: %s. Give each instance a Name tag of its own, deregister an AMI that is no longer "
                    "needed, or back the instances up under another ticket" % "; ".join(conflicts),
                api_calls=self.calls)

    def create_one(self, source):
        p = self.p
        resp = self.ec2.create_image(
            InstanceId=source["id"], Name=source["name"], NoReboot=p["no_reboot"], aws_retry=True,
            Description="%s %s %s (%s)" % (p["catalog_task"], p["ticket"], p["generation"],
                                           source["instance_name"] or source["id"]),
            TagSpecifications=[{"ResourceType": "image", "Tags": self.tags(source)}])
        return resp["ImageId"]

    def describe_new(self, ids):
        out = {}
        for chunk in chunks(ids):
            for im in self.ec2.describe_images(ImageIds=chunk, aws_retry=True)["Images"]:
                self.described[im["ImageId"]] = im
                out[im["ImageId"]] = im.get("State")
        return out

    def after_ready(self):
        # The image's snapshots get the same tags once they are known (CreateTags, one call per image;
        # CreateImage's snapshot TagSpecifications would do it at once on AWS, but moto does not implement it).
        try:
            for image_id, source in sorted(self.new.items()):
                snaps = _snapshot_ids(self.described.get(image_id, {}))
                if snaps:
                    self.ec2.create_tags(Resources=snaps, aws_retry=True, Tags=self.tags(source))
        except AWS_ERRORS as e:
            self.finish("Tagging the snapshots of the new AMIs failed: %s" % e)

    def delete(self, entry):
        self.ec2.deregister_image(ImageId=entry["image_id"], aws_retry=True)
        for snap in entry["snapshots"]:
            self.ec2.delete_snapshot(SnapshotId=snap, aws_retry=True)


def main():
    AmiBackup(AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)).run()


if __name__ == "__main__":
    main()
