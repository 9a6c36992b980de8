"""What a work request may name in an environment, from its inventory (``ops-driver targets``, #29).

The inventory ``inventories/<environment>/hosts.yml`` (Ansible's YAML inventory: ``all.children.<group>.hosts`` and
nested ``children``) gives the hosts per group; ``ops_instance_names`` in ``group_vars/all/*.yml`` lists the EC2 Name
tags of the environment (optional: the roles resolve every name live, roles/ec2_targets). Used for "did you mean
…?" on a typo (request_errors.suggest) and to list the names per parameter of a task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ops_driver.catalog import Task
from ops_driver.errors import InvalidInput
from ops_driver.paths import ENVIRONMENTS, inventory_dir

#: The task parameters that name things of the inventory, and what they name: ``instances`` (EC2 Name tags),
#: ``hosts`` (inventory hosts).
NAMING_PARAMS = {"instances": "instances", "hosts": "hosts", "host": "hosts", "targets": "hosts"}
#: The inventory is a project file, not request data: libyaml's loader (about 10x PyYAML's pure-Python one) where
#: PyYAML was built with it. Work requests are parsed by ``untrusted`` instead, whose refusals need the Python composer.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Inventory:
    """The names of one environment: ``groups`` (group → its hosts, nested groups' hosts included), ``instances``
    (the EC2 Name tags of ``ops_instance_names``)."""

    environment: str
    groups: dict[str, list[str]] = field(default_factory=dict)
    instances: list[str] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        return sorted({h for hs in self.groups.values() for h in hs})

    def names_for(self, param: str) -> list[str]:
        """The names a parameter may hold (:data:`NAMING_PARAMS`); [] for a parameter that names nothing here."""
        kind = NAMING_PARAMS.get(param)
        return self.instances if kind == "instances" else self.hosts if kind == "hosts" else []


def _walk(node: Any, group: str, groups: dict[str, list[str]]) -> list[str]:
    """The hosts of ``group`` (and of its children), recording every group met."""
    if not isinstance(node, dict):
        return []
    found = [str(h) for h in (node.get("hosts") or {})] if isinstance(node.get("hosts"), dict) else []
    for child, sub in (node.get("children") or {}).items() if isinstance(node.get("children"), dict) else ():
        found += _walk(sub, str(child), groups)
    groups[group] = sorted(set(found))
    return found


def load(environment: str) -> Inventory:
    """The inventory names of ``environment``; InvalidInput (exit 2) for an unknown environment or an inventory that
    cannot be read."""
    if environment not in ENVIRONMENTS or not inventory_dir(environment).is_dir():
        raise InvalidInput(f"--environment: unknown environment {environment!r}; use one of {', '.join(ENVIRONMENTS)}")
    base = inventory_dir(environment)
    try:
        data = yaml.load((base / "hosts.yml").read_text(encoding="utf-8"), Loader=_Loader) or {}  # noqa: S506
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInput(f"{base / 'hosts.yml'}: cannot read the inventory ({e})") from None
    groups: dict[str, list[str]] = {}
    _walk(data.get("all") if isinstance(data, dict) else None, "all", groups)
    instances: list[str] = []
    for f in sorted((base / "group_vars" / "all").glob("*.yml")):
        try:
            values = yaml.load(f.read_text(encoding="utf-8"), Loader=_Loader) or {}  # noqa: S506
        except (OSError, yaml.YAMLError):
            continue
        names = values.get("ops_instance_names") if isinstance(values, dict) else None
        if isinstance(names, list):
            instances += [str(n) for n in names]
    return Inventory(environment=environment, groups=groups, instances=sorted(set(instances)))


def for_task(inv: Inventory, task: Task) -> dict[str, list[str]]:
    """Parameter → the names it may hold in ``inv``, for the task's parameters that name something."""
    if task.automation is None:
        return {}
    return {p.name: inv.names_for(p.name) for p in task.automation.params if p.name in NAMING_PARAMS}
