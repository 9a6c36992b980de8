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
  state:
    description: C(present) creates (if missing) then prunes; C(pruned) only applies the retention rule (CORE-012).
    type: str
    choices: [present, pruned]
    default: present
  ticket: {description: Work request number (Ticket tag, part of the name)., type: str, required: true}
  generation:
    description: Generation label, e.g. pre-change or post-change (letters, digits, '.', '_', '-').
    type: str
    default: pre-change
  catalog_task: {description: CatalogTask tag., type: str, default: INFO-011}
  no_reboot:
    description: Create the image without rebooting the instance (a crash-consistent image).
    type: bool
    default: true
  retention: {description: Generations to keep per instance (>= 1)., type: int, default: 2}
  prune: {description: Apply the retention rule after creating., type: bool, default: true}
  wait_timeout: {description: Seconds to wait for all new AMIs to be available., type: int, default: 1800}
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
pruned:
  description: AMI IDs deregistered (or that would be), with their snapshot IDs.
  returned: always
  type: list
ops_changes:
  description: Evidence entries - resource, action, before, after, changed.
  returned: always
  type: list
api_calls:
  description: EC2 API calls by operation name.
  returned: always
  type: dict
"""

import datetime
import time

try:
    import botocore
except ImportError:
    pass

from ansible.module_utils.ops_aws import chunks, counted_ec2_client
from ansible.module_utils.ops_backup import (
    ami_name,
    backup_argument_spec,
    backup_tags,
    check_backup_params,
    check_expected_prune,
    duplicate_names,
    is_ours,
    select_prunable,
    tag_dict,
    wait_until,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

NEW = "(new)"
GONE_STATES = ("deregistered", "invalid", "error", "failed")


def main():
    module = AnsibleAWSModule(
        argument_spec=backup_argument_spec(
            "INFO-011",
            1800,
            instance_ids=dict(type="list", elements="str", required=True),
            no_reboot=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    check_backup_params(module)
    ids = sorted(set(p["instance_ids"]))
    ec2, calls = counted_ec2_client(module)
    try:
        instances = {}
        for chunk in chunks(ids):
            for r in ec2.describe_instances(InstanceIds=chunk, aws_retry=True)["Reservations"]:
                for i in r["Instances"]:
                    instances[i["InstanceId"]] = i
        missing = [i for i in ids if i not in instances]
        if missing:
            module.fail_json(msg="INVALID INPUT: instances: not found: " + ", ".join(missing), api_calls=calls)
        ours = []
        for chunk in chunks(ids, 200):
            ours += ec2.describe_images(
                Owners=["self"],
                aws_retry=True,
                Filters=[
                    {"Name": "tag:CreatedBy", "Values": ["ops-automation-collection"]},
                    {"Name": "tag:SourceInstance", "Values": chunk},
                ],
            )["Images"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not read the instances and their AMIs", api_calls=calls)

    today = datetime.datetime.now(datetime.timezone.utc).date()
    images, changes, pruned, creates = [], [], [], []
    for iid in ids:
        inst_name = tag_dict(instances[iid].get("Tags")).get("Name", "")
        mine = [
            im for im in ours if is_ours(im.get("Tags"), "SourceInstance", iid) and im.get("State") not in GONE_STATES
        ]
        same = [
            im
            for im in mine
            if tag_dict(im.get("Tags")).get("Ticket") == p["ticket"]
            and tag_dict(im.get("Tags")).get("Generation") == p["generation"]
        ]
        name = ami_name(inst_name, p["generation"], p["ticket"], today)
        candidates = [
            {"id": im["ImageId"], "created": im.get("CreationDate", ""), "tags": im.get("Tags")} for im in mine
        ]
        if p["state"] == "present":
            if same:
                images.append(
                    dict(
                        instance_id=iid,
                        name=same[0].get("Name"),
                        image_id=same[0]["ImageId"],
                        action="none",
                        state=same[0].get("State"),
                    )
                )
                changes.append(
                    dict(
                        resource="ec2:image/%s" % same[0]["ImageId"],
                        name=same[0].get("Name"),
                        action="none",
                        before=dict(state=same[0].get("State"), ticket=p["ticket"]),
                        after=dict(state=same[0].get("State"), ticket=p["ticket"]),
                        changed=False,
                        note="already made for this ticket and generation",
                    )
                )
            else:
                creates.append((iid, inst_name, name))
                candidates.append(
                    {
                        "id": NEW,
                        "created": "9999",
                        "tags": backup_tags(
                            name, p["ticket"], p["catalog_task"], p["generation"], "SourceInstance", iid
                        ),
                    }
                )
                if not p["no_reboot"]:
                    module.warn(
                        "Creating the AMI of %s (%s) with no_reboot=false REBOOTS the instance: its services "
                        "are interrupted while EC2 takes the image." % (inst_name or iid, iid)
                    )
        if p["prune"] or p["state"] == "pruned":
            _kept, drop = select_prunable(candidates, p["retention"], "SourceInstance", iid)
            for im in [im for im in mine if im["ImageId"] in drop]:
                snaps = sorted(
                    b["Ebs"]["SnapshotId"]
                    for b in im.get("BlockDeviceMappings", [])
                    if b.get("Ebs", {}).get("SnapshotId")
                )
                t = tag_dict(im.get("Tags"))
                pruned.append(dict(image_id=im["ImageId"], instance_id=iid, snapshots=snaps))
                changes.append(
                    dict(
                        resource="ec2:image/%s" % im["ImageId"],
                        name=im.get("Name"),
                        action="prune",
                        before=dict(
                            state=im.get("State"),
                            generation=t.get("Generation"),
                            ticket=t.get("Ticket"),
                            created=im.get("CreationDate"),
                            snapshots=snaps,
                        ),
                        after=dict(state="deregistered", snapshots="deleted"),
                        changed=True,
                    )
                )

    def create_change(iid, name, image_id, state):
        return dict(
            resource="ec2:image/%s" % (image_id or "(new for %s)" % iid),
            match="ec2:image/new-for/%s" % iid,
            name=name,
            action="create",
            before=None,
            after=dict(
                state=state, instance=iid, generation=p["generation"], ticket=p["ticket"], no_reboot=p["no_reboot"]
            ),
            changed=True,
        )

    changed = bool(creates or pruned)
    diff = dict(
        before="".join("%s\n" % im["ImageId"] for im in sorted(ours, key=lambda x: x["ImageId"])),
        after="".join("%s\n" % i for i in sorted({im["ImageId"] for im in ours} - {x["image_id"] for x in pruned}))
        + "".join("(new) %s\n" % n for _, _, n in creates),
        before_header="AMIs of ours",
        after_header="AMIs of ours",
    )

    def finish(fail_msg=None, **extra):
        result = dict(
            changed=changed,
            images=images,
            pruned=pruned,
            api_calls=calls,
            ops_changes=sorted(changes, key=lambda c: (c["resource"], c["action"])),
            **extra,
        )
        if module._diff:
            result["diff"] = diff
        if fail_msg:
            module.fail_json(msg=fail_msg, **result)
        module.exit_json(**result)

    if creates:
        # CreateImage would refuse a name that is taken (InvalidAMIName.Duplicate): find it now, read-only.
        label = {iid: "%s (%s)" % (iid, inst_name or "no Name tag") for iid, inst_name, _name in creates}
        conflicts = [
            "%s would be the name of the AMIs of %s" % (name, " and ".join(label[i] for i in targets))
            for name, targets in duplicate_names([(iid, name) for iid, _inst_name, name in creates]).items()
        ]
        wanted = {}
        for iid, _inst_name, name in creates:
            wanted.setdefault(name, []).append(iid)
        try:
            taken = []
            for chunk in chunks(sorted(wanted), 200):
                taken += ec2.describe_images(
                    Owners=["self"], aws_retry=True, Filters=[{"Name": "name", "Values": chunk}]
                )["Images"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not read the AMIs that have the names to create", api_calls=calls)
        for im in sorted(taken, key=lambda x: (x.get("Name", ""), x["ImageId"])):
            if im.get("Name") not in wanted or im.get("State") == "deregistered":
                continue
            source = tag_dict(im.get("Tags")).get("SourceInstance")
            conflicts.append(
                "%s (the AMI to make of %s) is already the name of %s (%s, %s)"
                % (
                    im["Name"],
                    " and ".join(label[i] for i in wanted[im["Name"]]),
                    im["ImageId"],
                    im.get("State") or "unknown state",
                    "made of %s" % source if source else "no SourceInstance tag",
                )
            )
        if conflicts:
            module.fail_json(
                msg="INVALID INPUT: instances: AMI names must be unique in the account and region, nothing was "
                "created: %s. Give each instance a Name tag of its own, deregister an AMI that is no longer "
                "needed, or back the instances up under another ticket" % "; ".join(conflicts),
                api_calls=calls,
            )

    check_expected_prune(module, [x["image_id"] for x in pruned], calls)

    if module.check_mode:
        for iid, _inst_name, name in creates:
            images.append(dict(instance_id=iid, name=name, image_id=None, action="create", state="would be created"))
            changes.append(create_change(iid, name, None, "available"))
        finish()

    new_ids = {}
    try:
        for iid, inst_name, name in creates:
            tags = backup_tags(name, p["ticket"], p["catalog_task"], p["generation"], "SourceInstance", iid)
            resp = ec2.create_image(
                InstanceId=iid,
                Name=name,
                NoReboot=p["no_reboot"],
                aws_retry=True,
                Description="%s %s %s (%s)" % (p["catalog_task"], p["ticket"], p["generation"], inst_name or iid),
                TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
            )
            new_ids[resp["ImageId"]] = (iid, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        for image_id, (iid, name) in new_ids.items():
            images.append(dict(instance_id=iid, name=name, image_id=image_id, action="create", state="pending"))
            changes.append(create_change(iid, name, image_id, "pending"))
        finish("CreateImage failed after %d image(s): %s" % (len(new_ids), e))

    described = {}

    def poll(batch):
        out = {}
        for chunk in chunks(batch):
            for im in ec2.describe_images(ImageIds=chunk, aws_retry=True)["Images"]:
                described[im["ImageId"]] = im
                out[im["ImageId"]] = im.get("State")
        return out

    try:
        states, pending, failures = wait_until(
            list(new_ids),
            poll,
            lambda s: s == "available",
            lambda s: s in GONE_STATES,
            p["wait_timeout"],
            p["poll_interval"],
            time.sleep,
            time.monotonic,
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        states, pending, failures = {}, list(new_ids), []
        module.warn("Polling the new AMIs failed: %s" % e)
    for image_id, (iid, name) in sorted(new_ids.items()):
        images.append(dict(instance_id=iid, name=name, image_id=image_id, action="create", state=states.get(image_id)))
        changes.append(create_change(iid, name, image_id, states.get(image_id)))
    if pending or failures:
        # Nothing is deleted: the operator decides about an image that is late or failed.
        changes[:] = [c for c in changes if c["action"] != "prune"]
        pruned[:] = []
        finish(
            "AMI(s) not available after %ss (left in place, nothing pruned): %s"
            % (p["wait_timeout"], ", ".join("%s is %s" % (i, states.get(i, "unknown")) for i in pending + failures)),
            timed_out=pending,
            failed_images=failures,
        )
    try:
        # The image's snapshots get the same tags once they are known (CreateTags, one call per image;
        # CreateImage's snapshot TagSpecifications would do it at once on AWS, but moto does not implement it).
        for image_id, (iid, name) in sorted(new_ids.items()):
            snaps = [
                b["Ebs"]["SnapshotId"]
                for b in described.get(image_id, {}).get("BlockDeviceMappings", [])
                if b.get("Ebs", {}).get("SnapshotId")
            ]
            if snaps:
                ec2.create_tags(
                    Resources=snaps,
                    aws_retry=True,
                    Tags=backup_tags(name, p["ticket"], p["catalog_task"], p["generation"], "SourceInstance", iid),
                )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        finish("Tagging the snapshots of the new AMIs failed: %s" % e)
    try:
        for entry in pruned:
            ec2.deregister_image(ImageId=entry["image_id"], aws_retry=True)
            for snap in entry["snapshots"]:
                ec2.delete_snapshot(SnapshotId=snap, aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        finish("Pruning failed at %s: %s" % (entry["image_id"], e))
    finish()


if __name__ == "__main__":
    main()
