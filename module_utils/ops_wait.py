# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""One way to wait for AWS resources: a waiter as data, one poll loop, one timeout error.

Used by ec2_power and ec2_host_reboot (instances reaching a state, with status checks), ec2_ami_backup (AMIs
becoming available) and ec2_snapshot_backup (snapshots completing). The model is amazon.aws
``module_utils/waiters.py``: what to poll and what counts as done is data; the loop is written once. The
interval and the timeout come from the module's parameters (``poll_interval``, ``wait_timeout``): seconds.
"""

from __future__ import annotations

import time


class Waiter:
    """What to wait for, and how.

    Attributes:
        what: the goal in words, for messages (e.g. "running", "available").
        describe: ``describe(ids) -> {id: state}``: one poll of the ids still pending (batching is its own); an
            id it leaves out keeps the state last seen (or none).
        done: ``done(state) -> bool``: the id got there.
        failed: ``failed(state) -> bool``: the id never will (e.g. an AMI in state ``failed``); it is no longer
            polled and is returned among the failures. Default: never.
        confirm: optional ``confirm(ids) -> set of ids``: of the ids that are ``done``, those that really are
            (e.g. passed status checks); asked once per poll, only for ids done and not yet confirmed.
        interval_s: seconds between two polls (>= 0).
        timeout_s: seconds in all, for every id together, counted from the start of ``wait_for``.
        settle_s: seconds to wait before the first poll (counted in ``timeout_s``; at most ``timeout_s``), e.g.
            after RebootInstances, which returns before the reboot begins.
    """

    def __init__(self, what, describe, done, failed=None, confirm=None, interval_s=15, timeout_s=900, settle_s=0):
        self.what = what
        self.describe = describe
        self.done = done
        self.failed = failed or (lambda state: False)
        self.confirm = confirm
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.settle_s = settle_s


class WaitTimeout(Exception):
    """Raised by ``wait_for`` when ``timeout_s`` passed before every id was done (or failed).

    Attributes: ``states`` {id: state last seen}; ``pending`` the ids not there, in the order given;
    ``unconfirmed`` those of ``pending`` that were done but not confirmed (status checks not ok); ``failures``
    the ids that failed meanwhile; ``timeout_s``; ``what``.
    """

    def __init__(self, waiter, states, pending, failures):
        self.what, self.timeout_s = waiter.what, waiter.timeout_s
        self.states, self.pending, self.failures = states, pending, failures
        self.unconfirmed = [i for i in pending if waiter.done(states.get(i))]
        super().__init__("timed out after %ss waiting for %s: %s" % (
            waiter.timeout_s, waiter.what, ", ".join("%s is %s" % (i, states.get(i, "unknown")) for i in pending)))


def wait_for(waiter, ids, states=None, sleep=time.sleep, clock=time.monotonic):
    """Poll ``waiter.describe`` every ``interval_s`` until every id of ``ids`` is done (and confirmed) or failed.

    Args:
        waiter: a Waiter.
        ids: the ids to wait for (any iterable; order kept in what is returned).
        states: optional dict {id: state} updated in place with every poll (so a caller that fails while
            polling still has what was seen); a new one by default.
        sleep, clock: time.sleep and time.monotonic, injected by tests.

    Returns (states, failures): every state last seen, and the ids that failed (empty when all are done).
    Raises WaitTimeout with what it last saw when ``timeout_s`` passes first. Errors of ``describe`` or
    ``confirm`` (e.g. botocore's) pass through.
    """
    deadline = clock() + waiter.timeout_s
    if waiter.settle_s > 0:
        sleep(min(waiter.settle_s, waiter.timeout_s))
    states = {} if states is None else states
    pending, failures = list(ids), []
    while pending:
        states.update(waiter.describe(pending))
        failures += [i for i in pending if waiter.failed(states.get(i))]
        there = [i for i in pending if i not in failures and waiter.done(states.get(i))]
        if waiter.confirm is not None and there:
            confirmed = waiter.confirm(there)
            there = [i for i in there if i in confirmed]
        pending = [i for i in pending if i not in there and i not in failures]
        if not pending:
            break
        if clock() >= deadline:
            raise WaitTimeout(waiter, states, pending, failures)
        sleep(max(0, min(waiter.interval_s, deadline - clock())))
    return states, failures
