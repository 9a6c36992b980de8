"""A work request's parameter errors in words (#29): one message per rule kind of a catalog parameter.

:func:`words` turns (parameter, rule kind, value) into the sentence an operator can act on, whichever validator
found the error (jsonschema's ``Draft202012Validator`` in request.py, or a small checker of the same rule kinds):
``write a list: [joho-web01]`` for a Name tag given where a list is expected, ``'..' is not allowed: give a folder
inside the maintenance share`` for a path that climbs out, never the raw regular expression. A pattern whose rule
needs words has ``pattern_words`` in the catalog (``automation.params[].pattern_words``). :func:`suggest` adds
``did you mean …?`` from the names the environment's inventory holds (:mod:`ops_driver.targets`).

Rule kinds are those of JSON Schema draft 2020-12 that the catalog uses (request.param_schema): ``type``,
``enum``, ``pattern``, ``minimum``, ``maximum``, ``minItems``, ``maxItems``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from ops_driver.catalog import Param

RULE_KINDS = ("type", "enum", "pattern", "minimum", "maximum", "minItems", "maxItems")
_TYPE_WORDS = {"string": "text", "integer": "a whole number", "boolean": "true or false",
               "array": "a list", "object": "a mapping"}
_TYPE_EXAMPLES = {"integer": ", e.g. 30", "boolean": " (without quotes)", "string": " (in quotes if it looks like a "
                  "number or true/false)"}


def _shown(value: Any) -> str:
    """A value as the operator would write it in the request (YAML flow style)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _as_list(value: Any) -> str:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()] or [value]
        return "[" + ", ".join(items) + "]"
    return "[" + _shown(value) + "]"


def words(param: Param | None, rule: str, value: Any, rule_value: Any = None, item: bool = False) -> str:
    """The message for ``value`` breaking the rule ``rule`` (one of :data:`RULE_KINDS`) of ``param``.

    ``rule_value``: the rule's own value (the expected type, the choices, the minimum …); ``item``: the value is an
    element of a list parameter. Returns the sentence after ``params.<name>: `` (without it); a secret parameter's
    value is never quoted. Unknown rule kinds give a sentence naming the rule.
    """
    secret = bool(param and param.secret)
    if secret and rule != "type":  # never echo a secret, not even a wrong one, nor the rule's own value
        return f"the value is not valid (rule: {rule}){' (' + param.description + ')' if param else ''}"
    shown = "the value" if secret else repr(value) if isinstance(value, str) else _shown(value)
    about = f" ({param.description})" if param and param.description else ""
    if rule == "type":
        if rule_value == "array":
            example = "[...]" if secret else _as_list(value)
            return f"write a list: {example}{about}"
        wanted = _TYPE_WORDS.get(str(rule_value), str(rule_value))
        return f"{shown} is not {wanted}; write {wanted}{_TYPE_EXAMPLES.get(str(rule_value), '')}{about}"
    if rule == "enum":
        choices = ", ".join(_shown(c) for c in (rule_value or (param.choices if param else []) or []))
        return f"{shown} is not one of the choices; write one of {choices}"
    if rule == "pattern":
        return _pattern_words(param, value, shown, about, secret)
    if rule == "minimum":
        return f"{shown} is below the minimum {rule_value}; give {rule_value} or more{about}"
    if rule == "maximum":
        return f"{shown} is above the maximum {rule_value}; give {rule_value} or less{about}"
    if rule == "minItems":
        return f"the list is empty or too short; give at least {rule_value} item(s){about}"
    if rule == "maxItems":
        n = len(value) if isinstance(value, list) else "too many"
        return f"the list has {n} items; give at most {rule_value}: split the work into several requests"
    return f"{shown} is not valid (rule: {rule}){about}"


def _pattern_words(param: Param | None, value: Any, shown: str, about: str, secret: bool) -> str:
    if isinstance(value, str) and not secret:
        parts = value.replace("\\", "/").split("/")
        if ".." in parts:
            if param and param.pattern_words:
                return f"'..' is not allowed: {param.pattern_words}"
            return f"'..' is not allowed: give a folder inside the share, relative to its root{about}"
        if value.startswith("/"):
            return f"{shown} starts with '/': give a folder relative to the share's root, without the leading '/'"
        if value == "":
            return f"the value is empty{about}"
    hint = param.pattern_words if param and param.pattern_words else None
    if hint:
        return f"{shown} is not allowed here: {hint}"
    return f"{shown} is not allowed here{about}: use letters, digits and the characters the parameter allows"


def suggest(value: Any, names: Iterable[str], cutoff: float = 0.75) -> str:
    """``; did you mean joho-web01?`` when ``value`` is a near miss of one of ``names`` (difflib's ratio >=
    ``cutoff``), else ""."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, sorted(set(names)), n=3, cutoff=cutoff)
    return f"; did you mean {' or '.join(close)}?" if close else ""
