# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""Shared by the EC2 modules (ec2_power, ec2_ami_backup, ec2_snapshot_backup): a retrying, counting EC2 client
and batching. The call counts go into the evidence (manifest.json api_calls) and the benchmark."""

from __future__ import annotations


def counted_ec2_client(module):
    """An EC2 client with jittered-backoff retries on throttling and a call counter.

    Returns (client, calls): ``calls`` is a dict operation name -> count, updated as calls are made.
    """
    from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

    calls = {}

    def count(model, **kwargs):
        calls[model.name] = calls.get(model.name, 0) + 1

    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10, delay=1, max_delay=30))
    client.client.meta.events.register("before-call.ec2.*", count)
    return client, calls


def chunks(items, size=100):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def tag_value(resource, key):
    """Value of tag ``key`` of an EC2 resource dict (instance, host, image), empty when it has none."""
    for tag in resource.get("Tags", []) or []:
        if tag["Key"] == key:
            return tag["Value"]
    return ""


def status_ok(ec2, ids):
    """The set of instance IDs whose system and instance status checks are both ``ok`` (one call per 100)."""
    ok = set()
    for chunk in chunks(sorted(ids)):
        resp = ec2.describe_instance_status(InstanceIds=chunk, IncludeAllInstances=True, aws_retry=True)
        for st in resp.get("InstanceStatuses", []):
            if (st.get("SystemStatus", {}).get("Status") == "ok"
                    and st.get("InstanceStatus", {}).get("Status") == "ok"):
                ok.add(st["InstanceId"])
    return ok
