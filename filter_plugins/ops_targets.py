"""Filters that turn an operator's target list into checked resource IDs.

Used by the roles of the operations catalog (ec2_power, ...). Every refusal message starts with
``INVALID INPUT:`` so that ``ops-driver`` reports it as bad input (exit 2) and nothing runs.
"""

from __future__ import annotations

import re
from typing import Any

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
LIVE_STATES = ("pending", "running", "stopping", "stopped")


def ops_split_targets(targets: Any) -> dict[str, list[str]]:
    """Split a list (or a comma-separated string) of targets into ``{ids: [...], names: [...]}``.

    Shapes: targets is a list of str or one str ``"a,b"``; blanks are dropped, order kept, duplicates
    removed. Raises nothing.
    """
    if isinstance(targets, str):
        targets = targets.split(",")
    seen: list[str] = []
    for t in targets or []:
        t = str(t).strip()
        if t and t not in seen:
            seen.append(t)
    return {"ids": [t for t in seen if INSTANCE_ID.match(t)], "names": [t for t in seen if not INSTANCE_ID.match(t)]}


def ops_resolve_instances(found: list[dict[str, Any]], targets: Any, environment: str) -> dict[str, Any]:
    """Match requested targets against ``amazon.aws.ec2_instance_info`` results.

    Args:
        found: instances as returned by ec2_instance_info (``instance_id``, ``tags`` dict, ``state.name``),
            from look-ups by Name tag and by instance ID; duplicates are fine.
        targets: the request's list of Name tags and instance IDs (or a comma-separated string).
        environment: the inventory's environment (``ops_environment``); every target must carry the same
            ``Environment`` tag.

    Returns:
        ``{"instances": [{instance_id, name, environment, state}...] sorted by ID, "errors": [str...]}``.
        ``errors`` is empty when every target resolves to exactly one live instance of ``environment``.
        A Name that matches one instance in ``environment`` and others elsewhere resolves to the one in
        ``environment``.
    """
    split = ops_split_targets(targets)
    live: dict[str, dict[str, Any]] = {}
    for inst in found or []:
        if (inst.get("state") or {}).get("name") in LIVE_STATES:
            live[inst["instance_id"]] = inst

    def summary(inst: dict[str, Any]) -> dict[str, Any]:
        tags = inst.get("tags") or {}
        return {"instance_id": inst["instance_id"], "name": tags.get("Name", ""),
                "environment": tags.get("Environment", ""), "state": inst["state"]["name"]}

    chosen: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for name in split["names"]:
        matches = [summary(i) for i in live.values() if (i.get("tags") or {}).get("Name") == name]
        mine = [m for m in matches if m["environment"] == environment]
        if len(mine) == 1:
            chosen[mine[0]["instance_id"]] = mine[0]
        elif len(mine) > 1:
            listed = ", ".join(sorted(m["instance_id"] for m in mine))
            errors.append(f"instances: Name {name!r} matches {len(mine)} instances in {environment} ({listed}); "
                          "name them by instance ID")
        elif matches:
            owners = "/".join(sorted({m["environment"] or "(no Environment tag)" for m in matches}))
            errors.append(f"instances: {name!r} belongs to environment {owners}, not {environment}; "
                          "use that environment's inventory")
        else:
            errors.append(f"instances: no live instance has the Name tag {name!r} in this account and region")
    for iid in split["ids"]:
        if iid not in live:
            errors.append(f"instances: instance ID {iid} does not exist (or is terminated)")
            continue
        s = summary(live[iid])
        if s["environment"] != environment:
            owner = s["environment"] or "(no Environment tag)"
            errors.append(f"instances: {iid} ({s['name'] or 'no Name tag'}) belongs to environment {owner}, "
                          f"not {environment}")
        else:
            chosen[iid] = s
    return {"instances": [chosen[k] for k in sorted(chosen)], "errors": errors}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ops_split_targets": ops_split_targets, "ops_resolve_instances": ops_resolve_instances}
