# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""The one way a module refuses, in the words of the role <-> driver contract (ops_driver/run/contract.py,
docs/architecture.md): a failure message that starts with ``INVALID INPUT:`` is invalid input (ops-driver exit 2,
nothing was changed), with ``DRIFT:`` drift since the plan (exit 4); any other failure is a failure (exit 3).

As amazon.aws does (its module_utils raise typed errors, ``AnsibleAWSError``, that the module turns into one
``fail_json``), module code and module_utils raise :class:`InvalidInput` or :class:`Drift`, or an error of their own
with a ``kind`` attribute (``"invalid"``, ``"drift"``, anything else: a failure), and the module fails once with
:func:`refusal_message` / :func:`refusals`. Where a module fails on the spot it calls :func:`fail_invalid` or
:func:`fail_drift`. No other file of library/ or module_utils/ spells a prefix
(tests/unit/module_utils/test_refusals.py).
"""

from __future__ import annotations

from contextlib import contextmanager

#: The prefixes of the contract, as they start a failure message.
INVALID_PREFIX = "INVALID INPUT: "
DRIFT_PREFIX = "DRIFT: "
INVALID = "invalid"
DRIFT = "drift"
#: Error kind -> prefix; any other kind (e.g. DataStageError's ``"failed"``) has none: a failure (exit 3).
PREFIXES = {INVALID: INVALID_PREFIX, DRIFT: DRIFT_PREFIX}


class Refusal(Exception):
    """A refusal of kind :attr:`kind`; ``result``: extra keys of the module's failure (e.g. ``api_calls``)."""

    kind = ""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result


class InvalidInput(Refusal):
    """The input cannot be done as asked (exit 2): nothing was changed."""

    kind = INVALID


class Drift(Refusal):
    """The estate differs from what the plan saw (exit 4): nothing was changed."""

    kind = DRIFT


def refusal_message(kind, msg):
    """``msg`` with the prefix of ``kind`` (``"invalid"``, ``"drift"``; none for any other kind)."""
    return PREFIXES.get(kind, "") + msg


def fail_invalid(module, msg, **result):
    """Fail ``module`` now with ``INVALID INPUT: msg`` (and ``result`` as the failure's keys)."""
    module.fail_json(msg=INVALID_PREFIX + msg, **result)


def fail_drift(module, msg, **result):
    """Fail ``module`` now with ``DRIFT: msg`` (and ``result`` as the failure's keys)."""
    module.fail_json(msg=DRIFT_PREFIX + msg, **result)


@contextmanager
def refusals(module, result=None):
    """Fail ``module`` once, with the contract's prefix, for a :class:`Refusal` raised in the block; ``result``
    (a dict, or a callable returning one, called at the failure) and the refusal's own keys go with it."""
    try:
        yield
    except Refusal as e:
        extra = dict((result() if callable(result) else result) or {})
        extra.update(e.result)
        module.fail_json(msg=refusal_message(e.kind, str(e)), **extra)
