# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""Shared by the AWS modules (ec2_power, ec2_host_reboot, ec2_ami_backup, ec2_snapshot_backup, s3_download): a
retrying, counting EC2 client, batching, and the one translation of botocore errors into a module failure. The
call counts go into the evidence (manifest.json api_calls) and the benchmark."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from ansible.module_utils.ops_refusal import fail_invalid

try:
    import botocore.exceptions

    #: The errors of an AWS call (the API refused it, or it could not be made): what ``aws_errors`` translates.
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except ImportError:  # reported by AnsibleAWSModule
    AWS_ERRORS = ()


def error_code(exc):
    """The AWS error code of a ClientError (e.g. ``InvalidInstanceID.NotFound``), "" for any other error."""
    return (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")


@contextmanager
def aws_errors(module, msg, result=None, invalid=None):
    """Fail the module with one message when an AWS call in the ``with`` block raises one of ``AWS_ERRORS``.

    Args:
        module: the AnsibleAWSModule.
        msg: what could not be done, e.g. "Could not describe the instances"; fail_json_aws appends the error.
        result: extra result keys of the failure (a dict, or a callable returning one, called at the failure).
        invalid: optional ``invalid(code, message) -> str or None``: for an error that is the request's fault (an
            unknown ID, a missing bucket), the text after ``INVALID INPUT:``; the module then fails with that
            message (exit 2 in ops-driver) instead of the AWS error.

    Anything else raised in the block (fail_json's exit included) passes through unchanged.
    """
    try:
        yield
    except AWS_ERRORS as e:
        extra = (result() if callable(result) else result) or {}
        code = error_code(e)
        reason = invalid(code, (getattr(e, "response", None) or {}).get("Error", {}).get("Message", "")) if (
            invalid and code) else None
        if reason:
            fail_invalid(module, reason, **extra)
        module.fail_json_aws(e, msg=msg, **extra)


def ec2_retry():
    """The throttling retry of every EC2 call made with ``aws_retry=True``: amazon.aws's ``AWSRetry.jittered_backoff``
    (up to 10 retries of a throttled call - RequestLimitExceeded, Throttling and the like -, a random wait of up to
    1, 2, 4 ... seconds, at most 30 s). A decorator, as ``module.client(retry_decorator=...)`` takes it."""
    from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

    return AWSRetry.jittered_backoff(retries=10, delay=1, max_delay=30)


def counted_ec2_client(module, ec2=None, calls=None):
    """An EC2 client with jittered-backoff retries on throttling and a call counter.

    Returns (client, calls): ``calls`` is a dict operation name -> count, updated as calls are made. A client
    given as ``ec2`` (a unit test's stub) is returned as it is, with ``calls`` (a new dict when None).
    """
    if ec2 is not None:
        return ec2, ({} if calls is None else calls)
    calls = {}
    lock = threading.Lock()  # calls may come from several threads (ops_ec2.Ec2Instances.stop_protected)

    def count(model, **kwargs):
        with lock:
            calls[model.name] = calls.get(model.name, 0) + 1

    client = module.client("ec2", retry_decorator=ec2_retry())
    client.client.meta.events.register("before-call.ec2.*", count)
    return client, calls


def chunks(items, size=100):
    """``items`` (a list) in consecutive slices of at most ``size``: the batch size of the EC2 Describe calls."""
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
