#!/usr/bin/python
# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Batched EC2 power operations (start, stop, real OS reboot) with check mode and diff."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_power
short_description: Start, stop or reboot (RebootInstances) EC2 instances in batches, with check mode and diff
description:
  - Brings a set of EC2 instances to a power state - C(running) (StartInstances), C(stopped)
    (StopInstances) or C(rebooted) (RebootInstances, an operating-system reboot; the instance keeps its
    host, its public IP and its instance store).
  - C(amazon.aws.ec2_instance) is not used because its C(rebooted) state is a stop and a start, and it
    sends one StartInstances/StopInstances call per instance. This module sends one call per batch of
    up to 100 instances and polls all of them with one DescribeInstances / DescribeInstanceStatus call
    per batch and poll.
  - Decides first, then acts - it reads the current states, computes the actions, and in check mode
    returns the same C(changed), C(diff) and C(ops_changes) the real run would, before any mutating call.
  - Behaviour follows the Amazon EC2 API Reference (StartInstances, StopInstances, RebootInstances,
    DescribeInstances, DescribeInstanceStatus) and the EC2 User Guide "Instance state changes".
  - A stop that EC2 would refuse is refused before any mutating call, in check mode too
    (C(INVALID INPUT:)), naming the instance and the reason - stop protection on (attribute
    C(disableApiStop), read with one DescribeInstanceAttribute call per instance to stop), an
    instance-store root device, or a Spot Instance whose Spot request is not C(persistent) (read with
    DescribeSpotInstanceRequests, only for Spot Instances to stop). StopInstances would otherwise fail
    part-way through a batch, leaving the instances before the refused one stopped.
  - Catalog tasks INFO-004 (start), INFO-005 (stop), INFO-006 (reboot).
version_added: "0.1.0"
author: Operations automation collection
options:
  instance_ids:
    description: Instance IDs to act on. Resolve Name tags before calling this module.
    type: list
    elements: str
    required: true
  state:
    description:
      - C(running) starts stopped instances and waits for C(running) and, with I(status_checks), for
        passed system and instance status checks.
      - C(stopped) stops running instances and waits for C(stopped).
      - C(rebooted) reboots running instances through RebootInstances. Not idempotent - every run
        reboots. A stopped instance is refused.
    type: str
    choices: [running, stopped, rebooted]
    required: true
  wait:
    description: Wait until every instance has reached the target state.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait in all, for all instances together. On timeout the module fails and
      lists every instance that is not yet there with its current state.
    type: int
    default: 900
  poll_interval:
    description: Seconds between two polls.
    type: int
    default: 15
  status_checks:
    description: For C(running) and C(rebooted), also wait until the system and instance status checks
      are C(ok).
    type: bool
    default: true
  reboot_settle:
    description: For C(rebooted), seconds to wait after RebootInstances before polling the status
      checks (the API returns before the reboot begins).
    type: int
    default: 20
  expected_states:
    description:
      - Instance ID to state name as recorded by the plan. When given, the module fails with a message
        starting C(DRIFT:) before any change if a current state differs - the plan no longer describes
        the estate.
    type: dict
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stop two instances and wait for stopped
  ec2_power:
    instance_ids: [i-0123456789abcdef0, i-0fedcba9876543210]
    state: stopped
    wait_timeout: 600

- name: OS reboot, then wait for the status checks
  ec2_power:
    instance_ids: [i-0123456789abcdef0]
    state: rebooted
"""

RETURN = r"""
instances:
  description: One entry per instance, sorted by instance ID.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id: {description: Instance ID, type: str}
    name: {description: Value of the Name tag, empty when none, type: str}
    environment: {description: Value of the Environment tag, type: str}
    action: {description: "start, stop, reboot or none", type: str}
    before: {description: State before, type: str}
    after: {description: State after (predicted in check mode), type: str}
ops_changes:
  description: Evidence entries, one per instance - resource, action, before, after, changed.
  returned: always
  type: list
  elements: dict
diff:
  description: Instance ID to state, before and after, sorted.
  returned: when diff mode is on
  type: dict
api_calls:
  description: EC2 API calls made, by operation name (for the benchmark and the evidence).
  returned: always
  type: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.ops_aws import chunks, counted_ec2_client, status_ok, tag_value
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

TARGET = {"running": "running", "stopped": "stopped", "rebooted": "running"}
GONE = ("shutting-down", "terminated")


class Ec2Power:
    def __init__(self, module):
        self.module = module
        self.ec2, self.calls = counted_ec2_client(module)

    def describe(self, ids):
        """Return {instance_id: instance dict} for the given IDs (one call per batch of 100)."""
        found = {}
        for chunk in chunks(ids):
            try:
                pages = self.ec2.describe_instances(InstanceIds=chunk, aws_retry=True)
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"].startswith("InvalidInstanceID"):
                    self.module.fail_json(msg="INVALID INPUT: instance_ids: %s" % e.response["Error"]["Message"],
                                          api_calls=self.calls)
                raise
            for reservation in pages.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    found[inst["InstanceId"]] = inst
        return found

    def status_ok(self, ids):
        """Return the set of IDs whose system and instance status checks are both ok."""
        return status_ok(self.ec2, ids)

    def stop_protected(self, ids):
        """The IDs of ``ids`` whose stop protection is on (one DescribeInstanceAttribute call per instance)."""
        out = set()
        for i in ids:
            resp = self.ec2.describe_instance_attribute(InstanceId=i, Attribute="disableApiStop", aws_retry=True)
            if (resp.get("DisableApiStop") or {}).get("Value"):
                out.add(i)
        return out

    def spot_request_types(self, request_ids):
        """Spot request ID -> type (one-time or persistent), one call per 100; requests not found are left out."""
        out = {}
        todo = list(chunks(sorted(request_ids)))
        while todo:
            chunk = todo.pop(0)
            try:
                resp = self.ec2.describe_spot_instance_requests(SpotInstanceRequestIds=chunk, aws_retry=True)
            except botocore.exceptions.ClientError as e:
                if not e.response["Error"]["Code"].startswith("InvalidSpotInstanceRequestID"):
                    raise
                if len(chunk) > 1:  # one unknown ID fails the whole call: ask for each one alone
                    todo.extend([r] for r in chunk)
                continue  # gone: its type is unknown, and stop_refusal refuses the instance
            for req in resp.get("SpotInstanceRequests", []):
                out[req["SpotInstanceRequestId"]] = req.get("Type")
        return out

    def act(self, action, ids):
        call = {"start": self.ec2.start_instances, "stop": self.ec2.stop_instances,
                "reboot": self.ec2.reboot_instances}[action]
        for chunk in chunks(ids):
            call(InstanceIds=chunk, aws_retry=True)



def decide(state, current):
    """Return (action, error) for one instance in state `current` asked to reach `state`.

    action is 'start', 'stop', 'reboot' or 'none'; error is a message when the request cannot be
    carried out from this state (the instance is terminated, or a reboot of a stopped instance).
    """
    if current in GONE:
        return None, "is %s" % current
    if state == "stopped":
        return ("stop" if current in ("pending", "running") else "none"), None
    if state == "running":
        if current == "stopping":
            return None, "is stopping; start it once it is stopped"
        return ("start" if current == "stopped" else "none"), None
    # rebooted
    if current in ("stopped", "stopping"):
        return None, "is %s; a reboot needs a running instance (start it with INFO-004)" % current
    return "reboot", None


def stop_refusal(inst, protected, spot_types):
    """Why EC2 would refuse StopInstances for ``inst`` (a DescribeInstances entry), or None when it would not.

    ``protected`` is True when the instance's stop protection (attribute disableApiStop) is on; ``spot_types``
    maps Spot request IDs to their type. Only a Spot Instance of a persistent Spot request can be stopped.
    """
    if protected:
        return ("has stop protection on (attribute disableApiStop) and StopInstances would fail with "
                "OperationNotPermitted; turn it off first (ModifyInstanceAttribute DisableApiStop=false) or "
                "leave the instance out")
    if inst.get("RootDeviceType") == "instance-store":
        return "has an instance-store root device and cannot be stopped (only terminated); leave it out"
    if inst.get("InstanceLifecycle") == "spot":
        request = inst.get("SpotInstanceRequestId")
        kind = spot_types.get(request) if request else None
        if kind != "persistent":
            return ("is a Spot Instance of %s; only a Spot Instance of a persistent Spot request can be "
                    "stopped; leave it out" % ("the %s Spot request %s" % (kind, request) if kind else
                                              "a Spot request whose type could not be read (%s)" % (
                                                  request or "no SpotInstanceRequestId")))
    return None


def main():
    argument_spec = dict(
        instance_ids=dict(type="list", elements="str", required=True),
        state=dict(type="str", choices=["running", "stopped", "rebooted"], required=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
        poll_interval=dict(type="int", default=15),
        status_checks=dict(type="bool", default=True),
        reboot_settle=dict(type="int", default=20),
        expected_states=dict(type="dict"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    ids = sorted(set(p["instance_ids"]))
    if not ids:
        module.fail_json(msg="INVALID INPUT: instance_ids: no instance given")
    if p["wait_timeout"] < 1 or p["poll_interval"] < 0:
        module.fail_json(msg="INVALID INPUT: wait_timeout must be >= 1 and poll_interval >= 0 (seconds)")

    power = Ec2Power(module)
    try:
        current = power.describe(ids)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not describe the instances")
    missing = [i for i in ids if i not in current]
    if missing:
        module.fail_json(msg="INVALID INPUT: instance_ids: not found: %s" % ", ".join(missing), api_calls=power.calls)

    before = {i: current[i]["State"]["Name"] for i in ids}
    expected = p["expected_states"]
    if expected:
        drift = ["%s: planned %s, now %s" % (i, expected[i], before[i])
                 for i in ids if i in expected and expected[i] != before[i]]
        if drift:
            module.fail_json(msg="DRIFT: the estate changed since the plan: " + "; ".join(drift),
                             api_calls=power.calls)

    actions, errors = {}, []
    for i in ids:
        action, error = decide(p["state"], before[i])
        if error:
            errors.append("%s (%s) %s" % (i, tag_value(current[i], "Name") or "no Name tag", error))
        actions[i] = action
    to_stop = [i for i in ids if actions[i] == "stop"]
    if to_stop:
        # Read-only look-ups, only for the instances that would be stopped (also in check mode).
        try:
            protected = power.stop_protected(to_stop)
            spot_types = power.spot_request_types(
                {current[i]["SpotInstanceRequestId"] for i in to_stop
                 if current[i].get("InstanceLifecycle") == "spot" and current[i].get("SpotInstanceRequestId")})
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not read whether the instances can be stopped", api_calls=power.calls)
        for i in to_stop:
            error = stop_refusal(current[i], i in protected, spot_types)
            if error:
                errors.append("%s (%s) %s" % (i, tag_value(current[i], "Name") or "no Name tag", error))
    if errors:
        module.fail_json(msg="INVALID INPUT: cannot bring to %s: %s. Nothing was changed"
                         % (p["state"], "; ".join(errors)), api_calls=power.calls)

    target = TARGET[p["state"]]
    predicted = {i: (target if actions[i] != "none" or before[i] in ("pending", "stopping") else before[i])
                 for i in ids}

    def report(after, failed_ids=()):
        instances, changes = [], []
        for i in ids:
            entry = dict(instance_id=i, name=tag_value(current[i], "Name"),
                         environment=tag_value(current[i], "Environment"), action=actions[i], before=before[i],
                         after=after[i])
            instances.append(entry)
            changes.append(dict(resource="ec2:instance/%s" % i, name=entry["name"], action=actions[i],
                                before=dict(state=before[i]), after=dict(state=after[i]),
                                changed=actions[i] != "none", failed=i in failed_ids))
        result = dict(instances=instances, ops_changes=changes, api_calls=power.calls)
        if module._diff:
            result["diff"] = dict(before="".join("%s: %s\n" % (i, before[i]) for i in ids),
                                  after="".join("%s: %s\n" % (i, after[i]) for i in ids),
                                  before_header="instance states", after_header="instance states")
        return result

    changed = any(a != "none" for a in actions.values())
    if module.check_mode:
        module.exit_json(changed=changed, msg="check mode: no call made", **report(predicted))

    for action in ("start", "stop", "reboot"):
        todo = [i for i in ids if actions[i] == action]
        if todo:
            try:
                power.act(action, todo)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg="%s failed" % action, **report(before, todo))

    after = dict(before)
    if not p["wait"]:
        module.exit_json(changed=changed, msg="not waited", **report(predicted))

    deadline = time.monotonic() + p["wait_timeout"]
    if p["state"] == "rebooted" and p["reboot_settle"] > 0:
        time.sleep(min(p["reboot_settle"], p["wait_timeout"]))
    pending = list(ids)
    need_checks = p["status_checks"] and p["state"] in ("running", "rebooted")
    while True:
        try:
            now = power.describe(pending)
            after.update({i: now[i]["State"]["Name"] for i in pending if i in now})
            at_target = [i for i in pending if after[i] == target]
            if need_checks and at_target:
                ok = power.status_ok(at_target)
                at_target = [i for i in at_target if i in ok]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not poll the instances", **report(after))
        pending = [i for i in pending if i not in at_target]
        if not pending:
            break
        if time.monotonic() >= deadline:
            detail = ", ".join("%s is %s%s" % (i, after[i], " (status checks not ok)" if after[i] == target else "")
                               for i in pending)
            module.fail_json(msg="Timed out after %ss waiting for %s: %s" % (p["wait_timeout"], target, detail),
                             changed=changed, timed_out=pending, **report(after, pending))
        time.sleep(max(0, min(p["poll_interval"], deadline - time.monotonic())))

    module.exit_json(changed=changed, **report(after))


if __name__ == "__main__":
    main()
