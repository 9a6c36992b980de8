#!/usr/bin/python
# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""Monthly Dedicated Host reboot of one environment (CORE-049): power-cycle every instance on its hosts."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_host_reboot
short_description: Power-cycle the instances on the Dedicated Hosts of one environment in order, bring back what ran
description:
  - EC2 has no API that reboots a Dedicated Host. The monthly reboot (seed 000, core row 49, CORE-049) stops
    every running instance placed on the environment's hosts, checks that each host is C(available), and
    starts them again - with host affinity an instance comes back on its host (EC2 User Guide, "Dedicated
    Hosts - Host affinity" and "Stop and start Amazon EC2 instances").
  - Hosts are the environment's Dedicated Hosts (DescribeHosts, matched on the I(host_tag_key) tag - done here
    because tag filters are not honoured everywhere). Their instances are found by matching
    C(Placement.HostId) of DescribeInstances, which works on AWS and on moto (whose DescribeHosts lists no
    instances and has no C(host-id) filter).
  - For each host in turn, the state of every instance is recorded; running instances stop in I(order) (by
    their C(Role) tag; roles not listed stop last), one role group at a time, each waited for; the host must be
    C(available); then they start in the reverse order, each group waited for until C(running) with passed
    status checks. An instance that was stopped stays stopped. Mode C(reboot) reboots running instances
    (RebootInstances) in I(order) instead, waiting for the status checks after each group.
  - If an instance fails to stop or start, no further host is touched; every instance of the hosts already
    begun is brought back to its recorded state (started again if it ran), and the module fails with the
    list of instances that are not back.
  - Check mode reads the hosts and instances and returns the whole sequence per host and the C(ops_changes)
    the real run would record, before any mutating call.
  - In mode C(stop-start), a host that is to be cycled must be C(available) already (state from
    DescribeHosts), otherwise check mode and the real run fail with C(INVALID INPUT:) naming the host and
    its state before any instance is stopped. The real run also reads each host's state again just before
    its first stop (an earlier host may take a while) and stops nothing on a host that is no longer
    C(available).
  - In mode C(stop-start), an instance to cycle that EC2 would refuse to stop is refused the same way, in check
    mode too, as by C(ec2_power) - stop protection on (attribute C(disableApiStop), one
    DescribeInstanceAttribute call per instance to cycle), an instance-store root device, or a Spot Instance
    whose Spot request is not C(persistent). StopInstances would otherwise fail in the middle of a host's
    cycle.
author: Operations automation collection
options:
  environment:
    description: Environment whose hosts to reboot (value of the I(host_tag_key) tag of the hosts).
    type: str
    required: true
  host_tag_key:
    description: Tag of a Dedicated Host that names its environment.
    type: str
    default: Environment
  mode:
    description: C(stop-start) or C(reboot) (OS reboot only; the instances stay on their hosts anyway).
    type: str
    choices: [stop-start, reboot]
    default: stop-start
  order:
    description: Stop order by the instances' C(Role) tag; the start runs it backwards.
    type: list
    elements: str
    default: [web, ap, db]
  wait_timeout:
    description: Seconds to wait for each group to stop, and for each group to start (or reboot).
    type: int
    default: 900
  ticket:
    description:
      - Work request ticket. A host whose power cycle completed is tagged C(OpsLastReboot=<ticket>); a run with
        the same ticket leaves such a host alone (no change), so a retried job never power-cycles a host twice
        and a re-run after a failure resumes with the hosts not yet done.
    type: str
  expected:
    description:
      - Instance ID to state recorded by the plan. When given, the module fails with C(DRIFT:) before any change
        if the set of instances on the hosts or one of their states differs.
    type: dict
extends_documentation_fragment: [ops_ec2, amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Monthly Dedicated Host reboot of the maintenance environment
  ec2_host_reboot:
    environment: maint
    order: [web, ap, db]
"""

RETURN = r"""
hosts:
  description: One entry per Dedicated Host - host_id, state, and its instances (id, name, role, before, after).
  returned: always
  type: list
  elements: dict
sequence:
  description: Human-readable steps per host, in order (what would run in check mode, what ran otherwise).
  returned: always
  type: list
  elements: str
not_back:
  description: Instances that are not in their recorded state at the end (empty on success).
  returned: always
  type: list
  elements: dict
ops_changes:
  description: Evidence entries, one per instance on the hosts.
  returned: always
  type: list
  elements: dict
api_calls: {description: "EC2 API calls made, by operation name.", returned: always, type: dict}
"""

from ansible.module_utils.ops_aws import AWS_ERRORS, aws_errors, tag_value
from ansible.module_utils.ops_ec2 import GONE, Ec2Instances, check_wait_params, instance_label
from ansible.module_utils.ops_refusal import fail_drift, fail_invalid
from ansible.module_utils.ops_wait import WaitTimeout, wait_for
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ARGUMENT_SPEC = dict(
    environment=dict(type="str", required=True),
    host_tag_key=dict(type="str", default="Environment"),
    mode=dict(type="str", choices=["stop-start", "reboot"], default="stop-start"),
    order=dict(type="list", elements="str", default=["web", "ap", "db"]),
    wait_timeout=dict(type="int", default=900),
    poll_interval=dict(type="int", default=15),
    expected=dict(type="dict"),
    ticket=dict(type="str"),
)

DONE_TAG = "OpsLastReboot"


def groups_in_order(instances, order):
    """Running instances as [(role, [ids])] in stop order: roles of ``order`` first, then the others by name."""
    rank = {role: n for n, role in enumerate(order)}
    roles = sorted({i["role"] for i in instances}, key=lambda r: (rank.get(r, len(order)), r))
    return [(r, sorted(i["id"] for i in instances if i["role"] == r)) for r in roles]


@AWSRetry.jittered_backoff(retries=10, delay=1, max_delay=30)
def _all_pages(client, operation, **kwargs):
    """Every page of a paginated call, merged (retried as a whole on throttling)."""
    return client.get_paginator(operation).paginate(**kwargs).build_full_result()


def plan_host(host, members, order, mode):
    """The steps for one host: list of (kind, role, [ids]) and the readable lines."""
    running = [m for m in members if m["before"] == "running"]
    others = [m for m in members if m["before"] != "running"]
    steps, lines = [], []
    groups = groups_in_order(running, order)
    if mode == "stop-start":
        for role, ids in groups:
            steps.append(("stop", role, ids))
        steps.append(("host", None, []))
        for role, ids in reversed(groups):
            steps.append(("start", role, ids))
    else:
        for role, ids in groups:
            steps.append(("reboot", role, ids))
    name = {m["id"]: "%s (%s)" % (m["name"] or m["id"], m["id"]) for m in members}
    for kind, role, ids in steps:
        if kind == "host":
            lines.append("%s: check the host is available" % host)
        else:
            lines.append("%s: %s %s: %s" % (host, kind, role or "no role", ", ".join(name[i] for i in ids)))
    for m in others:
        lines.append("%s: %s stays %s" % (host, name[m["id"]], m["before"]))
    if not members:
        lines.append("%s: no instance on this host" % host)
    return steps, lines


class HostReboot(Ec2Instances):
    """One run: ``read`` the hosts and their instances, ``plan`` the steps per host (refusing what would fail),
    ``cycle`` the hosts in turn, ``recover`` after a failure. ``members``: {instance_id: dict(id, host, name,
    role, before)}; ``after``: {instance_id: state}; ``cycled``: the instances this run stops and starts (or
    reboots); ``log``: what ran."""

    def __init__(self, module, ec2=None, calls=None):
        super().__init__(module, ec2, calls)
        self.log, self.hosts, self.members, self.raw, self.plans, self.sequence = [], [], {}, {}, [], []
        self.after, self.cycled, self.done_hosts, self.begun = {}, set(), set(), []

    def read(self):
        """Check the parameters, read the environment's hosts and their instances, refuse a drift from the plan."""
        p = self.p
        check_wait_params(self.module)
        with aws_errors(self.module, "Could not read the Dedicated Hosts and their instances"):
            hosts = _all_pages(self.ec2, "describe_hosts")["Hosts"]
            self.hosts = sorted((h for h in hosts if tag_value(h, p["host_tag_key"]) == p["environment"]),
                                key=lambda h: h["HostId"])
            if not self.hosts:
                fail_invalid(self.module, "environment: no Dedicated Host tagged %s=%s"
                                      % (p["host_tag_key"], p["environment"]), api_calls=self.calls)
            self.instances_on({h["HostId"] for h in self.hosts})
        expected = p["expected"]
        if expected is not None:
            now = {i: m["before"] for i, m in self.members.items()}
            drift = ["%s: planned %s, now %s" % (i, expected.get(i, "not on the hosts"),
                                                 now.get(i, "not on the hosts"))
                     for i in sorted(set(expected) | set(now)) if expected.get(i) != now.get(i)]
            if drift:
                fail_drift(self.module, "the hosts' instances changed since the plan: " + "; ".join(drift),
                                      api_calls=self.calls)

    def instances_on(self, host_ids):
        """Find the instances placed on ``host_ids`` (Placement.HostId of DescribeInstances; gone ones left out)."""
        for r in _all_pages(self.ec2, "describe_instances")["Reservations"]:
            for i in r.get("Instances", []):
                host = (i.get("Placement") or {}).get("HostId")
                if host in host_ids and i["State"]["Name"] not in GONE:
                    self.raw[i["InstanceId"]] = i
                    self.members[i["InstanceId"]] = dict(id=i["InstanceId"], host=host, name=tag_value(i, "Name"),
                                                         role=tag_value(i, "Role"), before=i["State"]["Name"])

    def plan(self):
        """The steps per host; refuse (INVALID INPUT, nothing stopped) a stop-start of a host that is not
        available or of an instance that EC2 would refuse to stop (read-only, also in check mode)."""
        p = self.p
        self.done_hosts = {h["HostId"] for h in self.hosts if p["ticket"] and tag_value(h, DONE_TAG) == p["ticket"]}
        for h in self.hosts:
            on_host = sorted((m for m in self.members.values() if m["host"] == h["HostId"]), key=lambda m: m["id"])
            if h["HostId"] in self.done_hosts:
                steps, lines = [], ["%s: already done for %s (tag %s) - nothing to do" % (h["HostId"], p["ticket"],
                                                                                           DONE_TAG)]
            else:
                steps, lines = plan_host(h["HostId"], on_host, p["order"], p["mode"])
            self.plans.append((h, on_host, steps))
            self.sequence.extend(lines)
        self.after = {i: m["before"] for i, m in self.members.items()}
        self.cycled = {i for i, m in self.members.items() if m["before"] == "running"
                       and m["host"] not in self.done_hosts}
        if self.cycled and p["mode"] == "stop-start":
            self.refuse_unavailable_hosts()
            self.refuse_unstoppable()

    def refuse_unavailable_hosts(self):
        # The apply checks the host after stopping its instances and then fails; refuse now instead, while
        # nothing is stopped: the state is the one DescribeHosts gave above.
        unavailable = [h for h, _on_host, steps in self.plans if steps and h.get("State") != "available"]
        if unavailable:
            fail_invalid(
                self.module, "environment: Dedicated Host not available, nothing was stopped: %s. A stop-start "
                    "needs each host it cycles in state available; plan again once the host is available (see its "
                    "state in the EC2 console or DescribeHosts)" % "; ".join(
                        "%s (%s) is %s, not available" % (h["HostId"], tag_value(h, "Name") or "no Name",
                                                          h.get("State") or "unknown") for h in unavailable),
                **self.report())

    def refuse_unstoppable(self):
        # StopInstances would fail for such an instance in the middle of a host's cycle (ec2_power refuses the same).
        with aws_errors(self.module, "Could not read whether the instances can be stopped", self.report):
            refusals = self.stop_refusals(self.raw, self.cycled)
        if refusals:
            fail_invalid(
                self.module, "environment: the stop-start of the Dedicated Hosts of %s would stop instances that "
                    "EC2 refuses to stop, nothing was stopped: %s" % (self.p["environment"], "; ".join(
                        "%s %s" % (instance_label(i, self.raw[i]), why) for i, why in sorted(refusals.items()))),
                **self.report())

    def report(self, not_back=()):
        """The module result (hosts, sequence, not_back, ops_changes, expected, api_calls, log)."""
        bad = {n["id"] for n in not_back}
        action = "stop-start" if self.p["mode"] == "stop-start" else "reboot"
        out_hosts, changes = [], []
        for h, on_host, _steps in self.plans:
            out_hosts.append(dict(host_id=h["HostId"], state=h.get("State"), instances=[
                dict(id=m["id"], name=m["name"], role=m["role"], before=m["before"], after=self.after[m["id"]])
                for m in on_host]))
            for m in on_host:
                changes.append(dict(resource="ec2:instance/%s" % m["id"], name=m["name"],
                                    action=action if m["id"] in self.cycled else "none",
                                    before=dict(state=m["before"], host=h["HostId"]),
                                    after=dict(state=self.after[m["id"]], host=h["HostId"]),
                                    changed=m["id"] in self.cycled, failed=m["id"] in bad))
        return dict(hosts=out_hosts, sequence=self.sequence, not_back=list(not_back), ops_changes=changes,
                    expected={i: m["before"] for i, m in self.members.items()}, api_calls=self.calls, log=self.log)

    def host_state(self, host_id):
        resp = self.ec2.describe_hosts(HostIds=[host_id], aws_retry=True)
        return (resp.get("Hosts") or [{}])[0].get("State", "unknown")

    def late(self, ids, target, checks):
        """Wait for ``ids`` to reach ``target``; {id: state} of those that did not within wait_timeout."""
        try:
            wait_for(self.waiter(target, checks), ids)
        except WaitTimeout as e:
            return {i: e.states.get(i, "unknown") for i in e.pending}
        return {}

    def cycle(self):
        """Run the steps host by host, tagging each host done; returns why it stopped, None when every host is
        done. ``begun`` lists the hosts whose instances it may have stopped."""
        try:
            for h, _on_host, steps in self.plans:
                failure = self.cycle_host(h["HostId"], steps)
                if failure:
                    return failure
                if self.p["ticket"] and steps:
                    self.ec2.create_tags(Resources=[h["HostId"]], Tags=[{"Key": DONE_TAG, "Value": self.p["ticket"]}],
                                         aws_retry=True)
        except AWS_ERRORS as e:
            return "EC2 refused a call: %s" % e
        return None

    def cycle_host(self, host_id, steps):
        if self.p["mode"] == "stop-start" and any(kind == "stop" for kind, _role, _ids in steps):
            # Read again just before the first stop: an earlier host's cycle may have taken a while.
            state = self.host_state(host_id)
            self.log.append("%s: host %s before the stop" % (host_id, state))
            if state != "available":
                return "host %s is %s, not available - nothing was stopped on it" % (host_id, state)
        self.begun.append(host_id)
        for kind, role, ids in steps:
            if kind == "host":
                state = self.host_state(host_id)
                self.log.append("%s: host %s" % (host_id, state))
                if state != "available":
                    return "host %s is %s, not available" % (host_id, state)
                continue
            self.act(kind, ids)
            target = "stopped" if kind == "stop" else "running"
            late = self.late(ids, target, checks=kind != "stop")
            for i in ids:
                self.after[i] = late.get(i, target)
            self.log.append("%s: %s %s: %s" % (host_id, kind, role, ", ".join("%s %s" % (i, self.after[i])
                                                                              for i in ids)))
            if late:
                return "%s of %s timed out after %ss: %s" % (kind, role, self.p["wait_timeout"], ", ".join(
                    "%s is %s" % (i, s) for i, s in sorted(late.items())))
        return None

    def recover(self, failure):
        """Bring every instance of the hosts begun back to its recorded state, then fail with what is not back."""
        todo = [i for i, m in self.members.items() if m["host"] in self.begun and i in self.cycled]
        try:
            current = self.states(todo)
            stopped = [i for i in todo if current.get(i) == "stopped"]
            if stopped:
                self.act("start", stopped)
                self.log.append("recovery: start %s" % ", ".join(sorted(stopped)))
            late = self.late(todo, "running", checks=True) if todo else {}
        except AWS_ERRORS as e:
            late = {i: "unknown (%s)" % e for i in todo}
        for i in todo:
            self.after[i] = late.get(i, "running")
        not_back = [dict(id=i, name=self.members[i]["name"], host=self.members[i]["host"],
                         recorded=self.members[i]["before"], now=self.after[i]) for i in sorted(late)]
        msg = "Dedicated Host reboot of %s failed: %s. " % (self.p["environment"], failure)
        if not_back:
            msg += "Not back in their recorded state: %s" % "; ".join(
                "%s (%s) is %s, was %s" % (n["id"], n["name"] or "no Name", n["now"], n["recorded"]) for n in not_back)
        else:
            msg += "Every other instance is back in its recorded state."
        self.module.fail_json(msg=msg, changed=True, **self.report(not_back))


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    hr = HostReboot(module)
    hr.read()
    hr.plan()
    if module.check_mode or not hr.cycled:
        module.exit_json(changed=bool(hr.cycled), **hr.report())
    failure = hr.cycle()
    if failure:
        hr.recover(failure)
    module.exit_json(changed=True, **hr.report())


if __name__ == "__main__":
    main()
