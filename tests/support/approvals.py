"""Approvals for integration tests: every minor or major plan needs them before `apply` (policy/change.yml)."""

from __future__ import annotations

from ops_driver.errors import OpsError
from ops_driver.evidence import bundles, governance
from ops_driver.paths import evidence_dir


def approved(plan_id: str) -> str:
    """Record the approvals the plan's change class needs, by ``reviewer-1``, ``reviewer-2`` …, and return its ID.

    Each is signed as ``ops-driver approve --by`` signs in the sandbox (a demo key per reviewer, listed in the
    evidence folder's ``.sandbox-signers/allowed_signers``) and counts only because that signature verifies.

    A plan that cannot be approved (it failed, was refused, is stale or unknown) is returned as it is, so that
    ``apply`` gives its own refusal - the test sees the same exit code as without approvals.
    """
    base = evidence_dir()
    try:
        need = int(bundles.bundle(plan_id, base).manifest().get("approvals_required") or 0)
    except OpsError:
        return plan_id
    for n in range(1, need + 1):
        try:
            governance.approve(plan_id, f"reviewer-{n}", "approved by the test", base)
        except OpsError:
            break
    return plan_id
