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
extends_documentation_fragment: [ops_ec2, amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
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
diff: {description: "Instance ID to state, before and after, sorted.", returned: when diff mode is on, type: dict}
api_calls:
  description: EC2 API calls made, by operation name (for the benchmark and the evidence).
  returned: always
  type: dict
"""

from ansible.module_utils.ops_aws import aws_errors, tag_value
from ansible.module_utils.ops_ec2 import GONE, Ec2Instances, check_wait_params, instance_label
from ansible.module_utils.ops_refusal import fail_drift, fail_invalid
from ansible.module_utils.ops_wait import WaitTimeout, wait_for
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

ARGUMENT_SPEC = dict(
    instance_ids=dict(type="list", elements="str", required=True),
    state=dict(type="str", choices=["running", "stopped", "rebooted"], required=True),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=900),
    poll_interval=dict(type="int", default=15),
    status_checks=dict(type="bool", default=True),
    reboot_settle=dict(type="int", default=20),
    expected_states=dict(type="dict"),
)

#: The instance state each requested state ends in.
TARGET = {"running": "running", "stopped": "stopped", "rebooted": "running"}


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


def _unknown_instance(code, message):
    return "instance_ids: %s" % message if code.startswith("InvalidInstanceID") else None


class Ec2Power(Ec2Instances):
    """One run: ``read`` the instances, ``plan`` the actions (refusing what EC2 would refuse), ``apply`` them,
    ``wait`` for the target state. ``before``/``after``: {instance_id: state}; ``actions``: {instance_id: action}."""

    def __init__(self, module, ec2=None, calls=None):
        super().__init__(module, ec2, calls)
        self.ids, self.current, self.before, self.actions, self.after = [], {}, {}, {}, {}

    def read(self):
        """Check the parameters, read the instances and refuse a drift from the plan's ``expected_states``."""
        p = self.p
        self.ids = sorted(set(p["instance_ids"]))
        if not self.ids:
            fail_invalid(self.module, "instance_ids: no instance given")
        check_wait_params(self.module)
        with aws_errors(self.module, "Could not describe the instances", dict(api_calls=self.calls),
                        invalid=_unknown_instance):
            self.current = self.describe(self.ids)
        missing = [i for i in self.ids if i not in self.current]
        if missing:
            fail_invalid(self.module, "instance_ids: not found: %s" % ", ".join(missing),
                                  api_calls=self.calls)
        self.before = {i: self.current[i]["State"]["Name"] for i in self.ids}
        self.after = dict(self.before)
        expected = p["expected_states"]
        drift = ["%s: planned %s, now %s" % (i, expected[i], self.before[i])
                 for i in self.ids if i in (expected or {}) and expected[i] != self.before[i]]
        if drift:
            fail_drift(self.module, "the estate changed since the plan: " + "; ".join(drift),
                                  api_calls=self.calls)

    def plan(self):
        """Decide each instance's action; refuse (INVALID INPUT, nothing changed) what cannot be done, a stop that
        EC2 would refuse included (read-only look-ups, only for the instances to stop, also in check mode)."""
        errors = []
        for i in self.ids:
            self.actions[i], error = decide(self.p["state"], self.before[i])
            if error:
                errors.append("%s %s" % (instance_label(i, self.current[i]), error))
        with aws_errors(self.module, "Could not read whether the instances can be stopped",
                        dict(api_calls=self.calls)):
            refusals = self.stop_refusals(self.current, [i for i in self.ids if self.actions[i] == "stop"])
        errors += ["%s %s" % (instance_label(i, self.current[i]), why) for i, why in sorted(refusals.items())]
        if errors:
            fail_invalid(self.module, "cannot bring to %s: %s. Nothing was changed"
                                  % (self.p["state"], "; ".join(errors)), api_calls=self.calls)

    @property
    def changed(self):
        return any(a != "none" for a in self.actions.values())

    def predicted(self):
        """{instance_id: state} the run leads to (what check mode reports)."""
        target = TARGET[self.p["state"]]
        return {i: (target if self.actions[i] != "none" or self.before[i] in ("pending", "stopping")
                    else self.before[i]) for i in self.ids}

    def report(self, after, failed_ids=()):
        """The module result (instances, ops_changes, api_calls, diff) with the states ``after``."""
        instances, changes = [], []
        for i in self.ids:
            entry = dict(instance_id=i, name=tag_value(self.current[i], "Name"),
                         environment=tag_value(self.current[i], "Environment"), action=self.actions[i],
                         before=self.before[i], after=after[i])
            instances.append(entry)
            changes.append(dict(resource="ec2:instance/%s" % i, name=entry["name"], action=self.actions[i],
                                before=dict(state=self.before[i]), after=dict(state=after[i]),
                                changed=self.actions[i] != "none", failed=i in failed_ids))
        result = dict(instances=instances, ops_changes=changes, api_calls=self.calls)
        if self.module._diff:
            result["diff"] = dict(before="".join("%s: %s\n" % (i, self.before[i]) for i in self.ids),
                                  after="".join("%s: %s\n" % (i, after[i]) for i in self.ids),
                                  before_header="instance states", after_header="instance states")
        return result

    def apply(self):
        """StartInstances, StopInstances, RebootInstances of the instances that need them (one call per 100)."""
        for action in ("start", "stop", "reboot"):
            todo = [i for i in self.ids if self.actions[i] == action]
            if todo:
                with aws_errors(self.module, "%s failed" % action, lambda todo=todo: self.report(self.before, todo)):
                    self.act(action, todo)

    def wait(self):
        """Wait for every instance to reach the target state (and pass its status checks); fail on timeout with
        every instance not there and its state."""
        p = self.p
        target = TARGET[p["state"]]
        checks = p["status_checks"] and p["state"] in ("running", "rebooted")
        waiter = self.waiter(target, checks, settle_s=p["reboot_settle"] if p["state"] == "rebooted" else 0)
        try:
            with aws_errors(self.module, "Could not poll the instances", lambda: self.report(self.after)):
                wait_for(waiter, self.ids, states=self.after)
        except WaitTimeout as e:
            detail = ", ".join("%s is %s%s" % (i, self.after[i], " (status checks not ok)" if i in e.unconfirmed
                                               else "") for i in e.pending)
            self.module.fail_json(msg="Timed out after %ss waiting for %s: %s" % (p["wait_timeout"], target, detail),
                                  changed=self.changed, timed_out=e.pending, **self.report(self.after, e.pending))


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    power = Ec2Power(module)
    power.read()
    power.plan()
    if module.check_mode:
        module.exit_json(changed=power.changed, msg="check mode: no call made", **power.report(power.predicted()))
    power.apply()
    if not module.params["wait"]:
        module.exit_json(changed=power.changed, msg="not waited", **power.report(power.predicted()))
    power.wait()
    module.exit_json(changed=power.changed, **power.report(power.after))


if __name__ == "__main__":
    main()
