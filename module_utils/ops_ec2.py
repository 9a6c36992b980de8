# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""EC2 instances as ec2_power (INFO-004/005/006) and ec2_host_reboot (CORE-049) both handle them.

One ``Ec2Instances`` per module run: describe in batches, start/stop/reboot in batches (``act``), wait for a
state with optional status checks (a ``ops_wait.Waiter``), and the refusal of a stop that EC2 would refuse
(``stop_refusals``), so that a plan fails before StopInstances would fail part-way through a batch.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

try:
    import botocore.exceptions
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.ops_aws import chunks, counted_ec2_client, error_code, status_ok, tag_value
from ansible.module_utils.ops_refusal import fail_invalid
from ansible.module_utils.ops_wait import Waiter

#: The EC2 client method of each action.
ACTIONS = {"start": "start_instances", "stop": "stop_instances", "reboot": "reboot_instances"}
#: Instance states from which nothing comes back.
GONE = ("shutting-down", "terminated")
#: Concurrent per-instance calls (DescribeInstanceAttribute, which EC2 has no batched form of). EC2 throttles it as a
#: non-mutating action: a token bucket of 100 requests, refilled at 20 per second, per account and Region
#: (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html, "Request token bucket sizes and refill
#: rates"). 8 in flight stay far from the bucket for a few hundred instances at this API's latency, and a throttled
#: call is retried with the backoff of every other call (ops_aws.ec2_retry), so a burst only slows down.
PARALLEL_CALLS = 8


def instance_label(instance_id, instance):
    """``i-... (Name tag)`` for messages, ``i-... (no Name tag)`` without one (``instance``: a DescribeInstances
    entry)."""
    return "%s (%s)" % (instance_id, tag_value(instance, "Name") or "no Name tag")


def check_wait_params(module):
    """Fail with INVALID INPUT unless wait_timeout >= 1 and poll_interval >= 0 (seconds)."""
    if module.params["wait_timeout"] < 1 or module.params["poll_interval"] < 0:
        fail_invalid(module, "wait_timeout must be >= 1 and poll_interval >= 0 (seconds)")


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


class Ec2Instances:
    """EC2 instance calls of one module run, counted in ``calls`` (operation name -> count) for the evidence.

    ``module.params`` must have ``wait_timeout`` and ``poll_interval`` (seconds) for ``waiter``. ``ec2`` and
    ``calls`` replace the counted, retrying client (unit tests pass a stub).
    """

    def __init__(self, module, ec2=None, calls=None):
        self.module, self.p = module, module.params
        self.ec2, self.calls = counted_ec2_client(module, ec2, calls)

    def describe(self, ids):
        """{instance_id: DescribeInstances entry} for ``ids`` (one call per batch of 100)."""
        found = {}
        for chunk in chunks(sorted(ids)):
            for reservation in self.ec2.describe_instances(InstanceIds=chunk, aws_retry=True).get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    found[inst["InstanceId"]] = inst
        return found

    def states(self, ids):
        """{instance_id: state name} for ``ids`` (one DescribeInstances call per 100)."""
        return {i: inst["State"]["Name"] for i, inst in self.describe(ids).items()}

    def status_ok(self, ids):
        """The set of ``ids`` whose system and instance status checks are both ok."""
        return status_ok(self.ec2, ids)

    def act(self, action, ids):
        """StartInstances, StopInstances or RebootInstances (``action`` start, stop, reboot) of ``ids``, sorted, in
        batches of 100. Errors of the calls pass through; a batch that failed may have acted in part."""
        call = getattr(self.ec2, ACTIONS[action])
        for chunk in chunks(sorted(ids)):
            call(InstanceIds=chunk, aws_retry=True)

    def waiter(self, target, checks, settle_s=0):
        """A Waiter for instances reaching state ``target`` and, with ``checks``, passed status checks; interval
        and timeout are the module's poll_interval and wait_timeout."""
        return Waiter(target, self.states, lambda state: state == target,
                      confirm=self.status_ok if checks else None, interval_s=self.p["poll_interval"],
                      timeout_s=self.p["wait_timeout"], settle_s=settle_s)

    def stop_protected(self, ids):
        """The IDs of ``ids`` whose stop protection is on: one DescribeInstanceAttribute (attribute disableApiStop)
        call per instance, since EC2 has no batched form, up to :data:`PARALLEL_CALLS` at a time, each retried when
        throttled (``aws_retry``; boto3 clients are thread-safe). The first error of a call (after its retries) is
        raised once the calls in flight have ended; the calls not yet started are not made."""
        ids = sorted(ids)
        if len(ids) <= 1:
            return {i for i in ids if self._stop_protected(i)}
        pool = ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(ids)))
        try:
            futures = {pool.submit(self._stop_protected, i): i for i in ids}
            done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = sorted((futures[f], f) for f in done if f.exception() is not None)
            if failed:  # the failure of the lowest instance ID among those that failed first
                raise failed[0][1].exception()
            return {futures[f] for f in futures if f.result()}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _stop_protected(self, instance_id):
        resp = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiStop",
                                                    aws_retry=True)
        return bool((resp.get("DisableApiStop") or {}).get("Value"))

    def spot_request_types(self, request_ids):
        """Spot request ID -> type (one-time or persistent), one call per 100; requests not found are left out."""
        out = {}
        todo = list(chunks(sorted(request_ids)))
        while todo:
            chunk = todo.pop(0)
            try:
                resp = self.ec2.describe_spot_instance_requests(SpotInstanceRequestIds=chunk, aws_retry=True)
            except botocore.exceptions.ClientError as e:
                if not error_code(e).startswith("InvalidSpotInstanceRequestID"):
                    raise
                if len(chunk) > 1:  # one unknown ID fails the whole call: ask for each one alone
                    todo.extend([r] for r in chunk)
                continue  # gone: its type is unknown, and stop_refusal refuses the instance
            for req in resp.get("SpotInstanceRequests", []):
                out[req["SpotInstanceRequestId"]] = req.get("Type")
        return out

    def stop_refusals(self, instances, ids):
        """{instance_id: why EC2 would refuse to stop it} for the ``ids`` of ``instances`` (instance_id ->
        DescribeInstances entry) that cannot be stopped; empty when all can. Read-only (also in check mode): one
        DescribeInstanceAttribute call per instance, DescribeSpotInstanceRequests only for Spot Instances."""
        ids = sorted(ids)
        if not ids:
            return {}
        protected = self.stop_protected(ids)
        spot_types = self.spot_request_types(
            {instances[i]["SpotInstanceRequestId"] for i in ids
             if instances[i].get("InstanceLifecycle") == "spot" and instances[i].get("SpotInstanceRequestId")})
        refusals = {i: stop_refusal(instances[i], i in protected, spot_types) for i in ids}
        return {i: why for i, why in refusals.items() if why}
