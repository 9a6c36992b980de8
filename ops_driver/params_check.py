"""The rules of a task's parameters (``automation.params`` of the catalog), checked without jsonschema.

:func:`ops_driver.request.params_schema` turns a task's parameters into a JSON Schema (draft 2020-12) that uses
a few keywords only: ``type`` (string, integer, boolean, array), ``enum``, ``pattern``, ``minimum``, ``maximum``,
``items``, ``minItems``, ``maxItems``, ``required`` and ``additionalProperties: false``. Importing jsonschema and
building its validator costs about 0.1 CPU-s per command (issue #28: ``python -X importtime``, 98 ms of the
driver's ~0.4 CPU-s), more than everything else a plan does before the playbook starts. :func:`violations`
checks the same rules in plain Python and reports what jsonschema would, in jsonschema's order and words, so the
messages of a refused request do not change; ``tests/unit/test_params_check.py`` proves that both agree on every
example request and on generated bad values of every parameter of the catalog. ``catalog validate``, the
``--schema`` output and the tests keep jsonschema itself.

Behaviour taken from jsonschema 4.26 (``jsonschema/_keywords.py``, ``_types.py``, ``_utils.py``, the
``Draft202012Validator``): a keyword is checked only on the types it applies to (``pattern`` on strings,
``minimum``/``maximum`` on numbers, ``minItems``/``maxItems``/``items`` on arrays); ``enum`` on any value, where
``True`` is not ``1`` (``_utils.equal``); an ``integer`` is an ``int`` that is not a ``bool``, or a ``float`` with
no fraction (``5.0``; draft 6 and later); a ``number`` is any number but a ``bool``; ``pattern`` is
``re.search``. Errors come in the order of the schema's keywords and properties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ops_driver.catalog import Param, Task


@dataclass(frozen=True)
class Violation:
    """One broken rule, as jsonschema's ``ValidationError`` describes it.

    ``path``: where, from the ``params`` mapping (``("instances", 2)``; empty for the mapping itself);
    ``rule``: the keyword (``validator``: ``type``, ``enum``, …); ``message``: jsonschema's message;
    ``value``: the value that broke it (``instance``); ``rule_value``: the keyword's value (``validator_value``).
    """

    path: tuple[str | int, ...]
    rule: str
    message: str
    value: Any
    rule_value: Any


_JSON_TYPES = {"str": "string", "path": "string", "int": "integer", "bool": "boolean", "list": "array"}


def _is_type(value: Any, json_type: str) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "array":
        return isinstance(value, list)
    if json_type == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())
    raise ValueError(f"no rule for the JSON type {json_type!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unbool(value: Any, true: object = object(), false: object = object()) -> Any:
    return true if value is True else false if value is False else value


def _equal(one: Any, two: Any) -> bool:
    """``jsonschema._utils.equal``: equality where ``True`` is not ``1`` (also inside lists and mappings)."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    return bool(_unbool(one) == _unbool(two))


def _value_rules(value: Any, path: tuple[str | int, ...], json_type: str, choices: list[Any] | None,
                 pattern: str | None, minimum: int | None, maximum: int | None) -> list[Violation]:
    """The violations of one value (a scalar parameter, or one element of a list), in the schema's keyword order:
    type, enum, pattern, minimum, maximum."""
    out = []
    if not _is_type(value, json_type):
        out.append(Violation(path, "type", f"{value!r} is not of type {json_type!r}", value, json_type))
    if choices is not None and all(not _equal(c, value) for c in choices):
        out.append(Violation(path, "enum", f"{value!r} is not one of {choices!r}", value, choices))
    if pattern is not None and isinstance(value, str) and not re.search(pattern, value):
        out.append(Violation(path, "pattern", f"{value!r} does not match {pattern!r}", value, pattern))
    if minimum is not None and _is_number(value) and value < minimum:
        out.append(Violation(path, "minimum", f"{value!r} is less than the minimum of {minimum!r}", value, minimum))
    if maximum is not None and _is_number(value) and value > maximum:
        out.append(Violation(path, "maximum", f"{value!r} is greater than the maximum of {maximum!r}", value,
                             maximum))
    return out


def _param(param: Param, value: Any, environment: str | None) -> list[Violation]:
    minimum = param.minimum
    if environment == "sandbox" and param.sandbox_minimum is not None:
        minimum = param.sandbox_minimum
    path: tuple[str | int, ...] = (param.name,)
    if param.type != "list":
        return _value_rules(value, path, _JSON_TYPES[param.type], param.choices, param.pattern, minimum,
                            param.maximum)
    if not isinstance(value, list):
        return [Violation(path, "type", f"{value!r} is not of type 'array'", value, "array")]
    out = []
    element = _JSON_TYPES[param.elements or "str"]
    for i, item in enumerate(value):  # "items" comes before minItems and maxItems in the schema
        out += _value_rules(item, (param.name, i), element, param.choices, param.pattern, minimum, param.maximum)
    if param.min_items is not None and len(value) < param.min_items:
        word = "should be non-empty" if param.min_items == 1 else "is too short"
        out.append(Violation(path, "minItems", f"{value!r} {word}", value, param.min_items))
    if param.max_items is not None and len(value) > param.max_items:
        word = "is expected to be empty" if param.max_items == 0 else "is too long"
        out.append(Violation(path, "maxItems", f"{value!r} {word}", value, param.max_items))
    return out


def _path_key(v: Violation) -> tuple[tuple[int, str | int], ...]:
    # jsonschema's errors are sorted by their path (a deque of names and indexes, compared element by element):
    # a parameter name and a list index never meet at the same place, so the tag only keeps mypy content.
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in v.path)


def violations(task: Task, params: dict[str, Any], environment: str | None = None) -> list[Violation]:
    """What jsonschema's ``Draft202012Validator(params_schema(task, environment)).iter_errors(params)`` reports,
    sorted by path as :func:`ops_driver.request._params_errors` sorts it (a stable sort: within one path, the
    schema's order).

    Args:
        task: an automated task (``task.automation`` set).
        params: the request's ``params`` mapping, already within the limits of :mod:`ops_driver.untrusted`
            (string keys, plain YAML values).
        environment: "sandbox" takes a parameter's ``sandbox_minimum`` (see ``request.param_schema``).

    Returns: the violations, empty when the parameters keep every rule.
    """
    assert task.automation is not None
    specs = task.automation.params
    out: list[Violation] = []
    names = {p.name for p in specs}
    extra = sorted((k for k in params if k not in names), key=str)
    if extra:
        listed = ", ".join(repr(k) for k in extra)
        out.append(Violation((), "additionalProperties", f"Additional properties are not allowed ({listed} "
                             f"{'was' if len(extra) == 1 else 'were'} unexpected)", params, False))
    required = [p.name for p in specs if p.required]
    out += [Violation((), "required", f"{name!r} is a required property", params, required)
            for name in required if name not in params]
    for p in specs:
        if p.name in params:
            out += _param(p, params[p.name], environment)
    return sorted(out, key=_path_key)
