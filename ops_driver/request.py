"""Work requests (運用作業依頼書): load a request file and validate it against its catalog task.

Shape (architecture.md)::

    task: INFO-005                 # catalog ID of an automated task
    environment: sandbox           # prod | dr | maint | sandbox (an inventory under inventories/)
    ticket: REQ-2026-1122-001      # recorded in evidence and resource tags
    requested_by: sato
    reason: Stop for middleware patching
    params: {instances: [joho-web01]}
    # optional:
    change_class: major            # raise the catalog's class (standard < minor < major < emergency), never lower
    emergency_reason: ...          # required with change_class: emergency, refused without it
    timeout_minutes: 30            # time limit of the playbook run, 1 ... catalog.TIMEOUT_MINUTES_MAX

``approved_by`` is refused: approvals are recorded by the approval command, not taken from the request.
Every error is an :class:`InvalidInput` (exit 2) that names the field and says how to fix it.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops_driver import params_check, request_errors, targets, untrusted
from ops_driver.catalog import CHANGE_CLASSES, TIMEOUT_MINUTES_MAX, Catalog, Param, Task
from ops_driver.errors import InvalidInput
from ops_driver.evidence.governance import load_policy  # the ranks are policy (policy/change.yml), not code
from ops_driver.paths import ENVIRONMENTS, inventory_dir, read_bytes

REDACTED = "********"

TOP_LEVEL = {
    "task": "catalog ID, for example INFO-005",
    "environment": "one of " + ", ".join(ENVIRONMENTS),
    "ticket": "the work request / change number, for example REQ-2026-1122-001",
    "requested_by": "who asked for the work",
    "reason": "why the work is done, in a sentence",
    "params": "the task's parameters (see `ops-driver catalog show <task>`)",
}
OPTIONAL_TOP_LEVEL = {
    "change_class": "a higher change class than the catalog's: " + " < ".join(CHANGE_CLASSES),
    "emergency_reason": "why the change cannot wait (only with change_class: emergency)",
    "timeout_minutes": f"time limit of the playbook run in minutes, 1 to {TIMEOUT_MINUTES_MAX}",
}
#: Fields a request must not carry, and why.
REFUSED_TOP_LEVEL = {
    "approved_by": "approvals are not taken from the work request; they are recorded by the approval command",
}
TICKET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"

_JSON_TYPES = {"str": "string", "path": "string", "int": "integer", "bool": "boolean", "list": "array"}


@dataclass(frozen=True)
class Request:
    """A validated work request. ``params`` has the catalog defaults filled in.

    ``change_class`` is the class the run is recorded under: the catalog's, or the higher one the request asked
    for; ``emergency_reason`` is set for ``emergency`` only. ``timeout_minutes`` is the request's own time limit
    (None: the catalog's, ``Automation.timeout_minutes``).
    """

    task: str
    environment: str
    ticket: str
    requested_by: str
    reason: str
    params: dict[str, Any]
    raw: dict[str, Any]
    source_sha256: str
    change_class: str
    emergency_reason: str | None = None
    timeout_minutes: int | None = None
    class_floor: str | None = None  # the environment's class floor (policy/change.yml) when it raised the class

    def secret_values(self, task: Task) -> list[str]:
        """Values of the parameters marked ``secret`` (to scrub from every output)."""
        if not task.automation:
            return []
        out = []
        for p in task.automation.params:
            if p.secret and self.params.get(p.name) not in (None, ""):
                out.append(str(self.params[p.name]))
        return out

    def redacted(self, task: Task) -> dict[str, Any]:
        """The request as given, with secret parameters replaced by ``********``."""
        data = copy.deepcopy(self.raw)
        if task.automation:
            for p in task.automation.params:
                if p.secret and p.name in (data.get("params") or {}):
                    data["params"][p.name] = REDACTED
        return data


def param_schema(param: Param, environment: str | None = None) -> dict[str, Any]:
    """JSON Schema of one catalog parameter (for a list, the value rules apply to each element).

    ``environment`` "sandbox" takes the parameter's ``sandbox_minimum`` where it has one (the sandbox's
    simulators change state at once); any other environment, or none, the catalog's ``minimum``.
    """
    s: dict[str, Any] = {"type": _JSON_TYPES[param.type], "description": param.description}
    value_rules = s
    if param.type == "list":
        s["items"] = value_rules = {"type": _JSON_TYPES[param.elements or "str"]}
        s.update({k: v for k, v in (("minItems", param.min_items), ("maxItems", param.max_items)) if v is not None})
    minimum = param.minimum
    if environment == "sandbox" and param.sandbox_minimum is not None:
        minimum = param.sandbox_minimum
    value_rules.update({k: v for k, v in (("enum", param.choices), ("pattern", param.pattern),
                                          ("minimum", minimum), ("maximum", param.maximum)) if v is not None})
    return s


def params_schema(task: Task, environment: str | None = None) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for the ``params`` of an automated task, generated from the catalog.

    ``environment``: see :func:`param_schema` (the sandbox's shorter minimum of a wait); none gives the rules of
    every production environment.
    """
    assert task.automation is not None
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{task.id} params",
        "type": "object",
        "additionalProperties": False,
        "required": [p.name for p in task.automation.params if p.required],
        "properties": {p.name: param_schema(p, environment) for p in task.automation.params},
    }


def _fix_hint(task: Task, name: str) -> str:
    p = task.automation.param(name) if task.automation else None
    if p is None:
        return ""
    hint = f" ({p.description}"
    if p.choices:
        hint += f"; one of {', '.join(map(str, p.choices))}"
    return hint + ")"


def jsonschema_violations(task: Task, params: dict[str, Any],
                          environment: str | None = None) -> list[params_check.Violation]:
    """What jsonschema says of ``params`` (the reference :func:`params_check.violations` must agree with; the
    tests compare them). Imports jsonschema (about 0.1 CPU-s): not on the path of a plan or an apply."""
    from jsonschema import Draft202012Validator

    return [params_check.Violation(tuple(err.absolute_path), str(err.validator), err.message, err.instance,
                                   err.validator_value)
            for err in sorted(Draft202012Validator(params_schema(task, environment)).iter_errors(params),
                              key=lambda e: e.path)]


def _params_errors(task: Task, params: dict[str, Any], environment: str | None = None,
                   found: list[params_check.Violation] | None = None) -> list[str]:
    """The messages of the parameter rules ``params`` breaks (:func:`params_check.violations`, or ``found``)."""
    assert task.automation is not None
    known = [p.name for p in task.automation.params]
    errors = []
    for err in params_check.violations(task, params, environment) if found is None else found:
        path = "params" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
        if err.rule == "additionalProperties":
            extra = sorted(set(params) - set(known))
            errors.append(f"params: unknown parameter(s) {', '.join(extra)}; {task.id} takes {', '.join(known)}")
        elif err.rule == "required":
            missing = [n for n in err.rule_value if n not in params]
            errors.extend(f"params.{m}: missing; {task.id} requires it{_fix_hint(task, m)}" for m in missing)
        else:  # every other rule kind in words (request_errors.words); a secret is never echoed
            top = next((str(p) for p in err.path), "")
            item = len(err.path) > 1
            said = request_errors.words(task.automation.param(top), err.rule, err.value, err.rule_value, item)
            errors.append(f"{path}: {said}")
    return errors + _typos(task, params, environment)


def _typos(task: Task, params: dict[str, Any], environment: str | None) -> list[str]:
    """``did you mean …?`` for a name that is a near miss of one the environment's inventory lists (targets.load:
    EC2 Name tags of ``ops_instance_names``, inventory hosts) and not a listed name with something added (another
    environment's ``prod-joho-web01``): exit 2 before anything runs, instead of the role's refusal after the look-up.
    Names far from every listed one go on to the roles, which resolve them live."""
    if environment is None or task.automation is None:
        return []
    if not any(isinstance(params.get(p.name), (str, list)) for p in task.automation.params
               if p.name in targets.NAMING_PARAMS):
        return []  # nothing that names a target: the inventory is not read (plan time, issue #28)
    inv = targets.load(environment)
    out = []
    for name, listed in targets.for_task(inv, task).items():
        given = params.get(name)
        values = given.split(",") if isinstance(given, str) else given if isinstance(given, list) else []
        for v in values:
            if not isinstance(v, str) or v in listed or any(n in v for n in listed):
                continue
            hint = request_errors.suggest(v, listed, cutoff=0.85)
            if hint:
                out.append(f"params.{name}: {v!r} is not a name of {environment}{hint} (`ops-driver targets "
                           f"--environment {environment}` lists them)")
    return out


def parse_request(text: str | bytes, catalog: Catalog, source: str = "<request>") -> Request:
    """Parse and validate a request document. Raises InvalidInput (exit 2) on any problem.

    The document is untrusted (:mod:`untrusted`): it is refused before it is parsed when it is over 64 KiB, while
    it is parsed when it uses anchors, aliases or tags or nests too deep, and before any field is read when a
    string is too long, a list too long, or a string holds a control character or a template delimiter.
    """
    data = untrusted.load_yaml(text, source)
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a work request is a YAML mapping with the keys {', '.join(TOP_LEVEL)}")
    untrusted.check(data, source)
    errors = []
    for key in data:
        if key in REFUSED_TOP_LEVEL:
            errors.append(f"{key}: {REFUSED_TOP_LEVEL[key]}")
        elif key not in TOP_LEVEL and key not in OPTIONAL_TOP_LEVEL:
            errors.append(f"{key}: unknown field; a request has {', '.join([*TOP_LEVEL, *OPTIONAL_TOP_LEVEL])}")
    for key, meaning in TOP_LEVEL.items():
        value = data.get(key)
        if key == "params":
            if value is None:
                data["params"] = value = {}
            if not isinstance(value, dict):
                errors.append(f"params: must be a mapping of parameter names to values ({meaning})")
        elif not isinstance(value, str) or not value.strip():
            errors.append(f"{key}: missing or empty; give {meaning}")
    if errors:
        raise InvalidInput(f"{source}: " + "; ".join(errors))

    if not re.match(TICKET_PATTERN, data["ticket"]):
        raise InvalidInput(f"{source}: ticket: {data['ticket']!r} is not a ticket number; use letters, digits, "
                           "'.', '_' and '-' (3-64 characters), for example REQ-2026-1122-001")
    env = data["environment"]
    if env not in ENVIRONMENTS or not inventory_dir(env).is_dir():
        raise InvalidInput(f"{source}: environment: unknown environment {env!r}; "
                           f"use one of {', '.join(ENVIRONMENTS)}")
    task = catalog.get(data["task"])
    if not task.automated:
        raise InvalidInput(f"{source}: task: {task.id} ({task.name_ja} / {task.name_en}) is a manual task of the "
                           "catalog and has no playbook; list automated ones with "
                           "`ops-driver catalog list --automated`")
    errors = _params_errors(task, data["params"], env)
    change_class, class_errors = _change_class(task, data)
    change_class, floor = _floor(change_class, env)
    timeout, timeout_error = _timeout_minutes(task, data)
    errors += class_errors + ([timeout_error] if timeout_error else [])
    if errors:
        raise InvalidInput(f"{source}: " + "; ".join(errors))
    assert task.automation is not None
    params = {p.name: p.default for p in task.automation.params if p.default is not None}
    params.update(copy.deepcopy(data["params"]))
    return Request(task=task.id, environment=env, ticket=data["ticket"], requested_by=data["requested_by"],
                   reason=data["reason"], params=params, raw=data,
                   source_sha256=hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8")).hexdigest(),
                   change_class=change_class,
                   emergency_reason=data.get("emergency_reason") if change_class == "emergency" else None,
                   timeout_minutes=timeout, class_floor=floor)


def _floor(change_class: str, environment: str) -> tuple[str, str | None]:
    """``(class, floor)``: the class raised to the environment's ``class_floor`` of policy/change.yml when it is
    lower (floor is then that class, else None); emergency is outside the order and kept."""
    rules = load_policy()
    floor = rules.floor(environment)
    if floor is None or change_class == "emergency":
        return change_class, None
    if (rules.get(change_class).rank or 0) < (rules.get(floor).rank or 0):
        return floor, floor
    return change_class, None


def _change_class(task: Task, data: dict[str, Any]) -> tuple[str, list[str]]:
    """The effective change class of a request and the errors of its ``change_class`` / ``emergency_reason``.

    The request may raise the catalog's class (the ranks of ``policy/change.yml``), never lower it;
    ``emergency`` needs a non-empty ``emergency_reason``, which is refused with any other class.
    """
    assert task.automation is not None
    catalog_class = task.automation.change_class
    wanted = data.get("change_class", catalog_class)
    reason = data.get("emergency_reason")
    errors = []
    if wanted not in CHANGE_CLASSES:
        return catalog_class, [f"change_class: {wanted!r} is not a change class; use one of "
                               + ", ".join(CHANGE_CLASSES)]

    rules = load_policy()
    rank_wanted, rank_task = rules.get(wanted).rank, rules.get(catalog_class).rank
    if rank_wanted is not None and rank_task is not None and rank_wanted < rank_task:
        order = " < ".join(sorted((n for n, c in rules.classes.items() if c.rank is not None),
                                  key=lambda n: rules.get(n).rank or 0))
        errors.append(f"change_class: {wanted} would lower the class of {task.id} ({catalog_class} in the catalog); "
                      f"a work request may raise it ({order}; emergency with a reason), never lower it: drop the "
                      f"field or give {catalog_class} or higher")
    if wanted == "emergency" and (not isinstance(reason, str) or not reason.strip()):
        errors.append("emergency_reason: missing or empty; change_class emergency needs the reason the change "
                      "cannot wait, in a sentence")
    elif wanted != "emergency" and "emergency_reason" in data:
        errors.append(f"emergency_reason: only with change_class: emergency (this request's class is {wanted})")
    return wanted, errors


def _timeout_minutes(task: Task, data: dict[str, Any]) -> tuple[int | None, str | None]:
    """The request's ``timeout_minutes`` (None when it has none) and the error when it is not 1 … the maximum."""
    if "timeout_minutes" not in data:
        return None, None
    value = data["timeout_minutes"]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= TIMEOUT_MINUTES_MAX:
        return value, None
    assert task.automation is not None
    return None, (f"timeout_minutes: {value!r} is not valid; give a whole number of minutes from 1 to "
                  f"{TIMEOUT_MINUTES_MAX} ({task.id} has {task.automation.timeout_minutes} without it)")


def load_request(path: Path, catalog: Catalog) -> Request:
    """Read and validate a request file. Raises InvalidInput when it cannot be read, is larger than
    :data:`untrusted.MAX_DOCUMENT_BYTES` (checked before it is read) or is invalid."""
    return parse_request(read_bytes(path, "request file", limit=untrusted.MAX_DOCUMENT_BYTES), catalog,
                         source=str(path))
