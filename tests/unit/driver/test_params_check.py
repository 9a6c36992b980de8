"""The plan's parameter checker (``ops_driver.params_check``, no jsonschema) against jsonschema itself.

Both must report the same violations - rule, path, message, value - for every example request and for bad values
generated from every parameter of the catalog (each rule kind broken, in each environment); the request's error
messages are made from them, so a refused request reads the same whichever checker ran.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver import params_check, targets
from ops_driver.catalog import Param, Task, load_catalog
from ops_driver.paths import project_root
from ops_driver.request import _params_errors, jsonschema_violations

CATALOG = load_catalog()
AUTOMATED = [t for t in CATALOG.tasks.values() if t.automation and t.automation.params]
EXAMPLES = sorted((project_root() / "examples" / "requests").glob("*.yml"))


@pytest.fixture(autouse=True, scope="module")
def _inventories_read_once() -> Iterator[None]:
    """``_params_errors`` reads the environment's inventory (``targets.load``: YAML) for its "did you mean" hints on
    every call; the inventories do not change during this module, and the thousands of generated requests below
    spent almost all of their time parsing them again. Each environment's is read once here; ``_typos`` still runs
    on every request (``targets.load`` itself is tested in test_request_errors.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(targets, "load", functools.cache(targets.load))
        yield


def _agree(task: Task, params: dict[str, Any], environment: str | None) -> list[params_check.Violation]:
    ours = params_check.violations(task, params, environment)
    reference = jsonschema_violations(task, params, environment)
    assert ours == reference, f"{task.id} {params!r} ({environment})"
    assert _params_errors(task, params, environment) == _params_errors(task, params, environment, found=reference)
    return ours


def _example_values() -> dict[str, Any]:
    """A value of each parameter name that an example request gives (they all pass: see the test above)."""
    out: dict[str, Any] = {}
    for path in EXAMPLES:
        out.update(yaml.safe_load(path.read_text(encoding="utf-8")).get("params") or {})
    return out


#: and of the patterned parameters no example request gives
EXAMPLE_VALUES = {"volumes": ["vol-0123456789abcdef0"], "month": "2026-11", **_example_values()}


def _good_element(p: Param) -> Any:
    """One value that keeps every value rule of ``p`` (for a list: one element)."""
    if p.choices:
        return p.choices[0]
    example = EXAMPLE_VALUES.get(p.name)
    if isinstance(example, list) and example:
        return example[0]
    if example is not None and p.type != "list":
        return example
    return {"int": max(p.minimum or 0, p.sandbox_minimum or 0, 1), "bool": True}.get(
        p.elements or "str" if p.type == "list" else p.type, "x")


def _good_value(p: Param) -> Any:
    """A value that keeps every rule of ``p`` (for the parameters not under test)."""
    if p.default is not None and p.default != []:
        return p.default
    return [_good_element(p)] * max(p.min_items or 1, 1) if p.type == "list" else _good_element(p)


def _bad_values(p: Param) -> list[Any]:
    """Values that break each rule of ``p`` once, and the type confusions a YAML document makes easy."""
    kind = p.elements or "str" if p.type == "list" else p.type
    scalars: list[Any] = [None, True, False, 0, 1, -1, 1.5, 5.0, "", "x", "yes", "10", "ID with space", "a" * 300,
                          {"k": "v"}, [1]]
    if p.choices:
        scalars += [str(c).upper() for c in p.choices if isinstance(c, str)] + [c for c in p.choices]
    if p.minimum is not None:
        scalars += [p.minimum - 1, p.minimum, float(p.minimum - 1), str(p.minimum)]
    if p.sandbox_minimum is not None:
        scalars += [p.sandbox_minimum - 1, p.sandbox_minimum]
    if p.maximum is not None:
        scalars += [p.maximum + 1, p.maximum, float(p.maximum) + 0.5]
    if p.pattern:
        scalars += ["-leading-dash", "UPPER", "trailing-", "日本語", "../etc/passwd", "a/b", "a b"]
    if p.type != "list":
        return scalars
    lists: list[Any] = [[], scalars, [_good_element(p)] * ((p.max_items or 3) + 1), "not-a-list", 7, {"a": 1}]
    lists += [[s] for s in scalars]
    if p.min_items:
        lists.append([_good_element(p)] * (p.min_items - 1))
    assert kind  # every list names its elements or defaults to strings
    return lists


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_agree_on_every_example_request(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    task = CATALOG.get(data["task"])
    assert task.automation is not None
    for environment in (data.get("environment"), "sandbox", "prod", None):
        assert _agree(task, data.get("params") or {}, environment) == [], path.name


@pytest.mark.parametrize("task", AUTOMATED, ids=lambda t: t.id)
def test_agree_on_bad_values_of_every_parameter(task: Task) -> None:
    assert task.automation is not None
    good = {p.name: _good_value(p) for p in task.automation.params}
    for environment in ("sandbox", "prod"):
        assert _agree(task, good, environment) == [], f"{task.id}: the generated good values must pass"
    broken = 0
    for p in task.automation.params:
        for bad in _bad_values(p):
            for environment in ("sandbox", "prod"):
                broken += bool(_agree(task, {**good, p.name: bad}, environment))
        # missing, unknown, and everything at once
        _agree(task, {k: v for k, v in good.items() if k != p.name}, "prod")
    _agree(task, {**good, "unknown_param": 1, "another": "x"}, "prod")
    _agree(task, {"unknown_param": [], **{p.name: [None, True] for p in task.automation.params}}, "sandbox")
    _agree(task, {}, "sandbox")
    assert broken > 0, f"{task.id}: no generated value broke a rule"


def test_every_rule_kind_of_the_catalog_is_exercised() -> None:
    seen: set[str] = set()
    for task in AUTOMATED:
        assert task.automation is not None
        good = {p.name: _good_value(p) for p in task.automation.params}
        for p in task.automation.params:
            for bad in _bad_values(p):
                seen |= {v.rule for v in params_check.violations(task, {**good, p.name: bad}, "prod")}
        seen |= {v.rule for v in params_check.violations(task, {"zz": 1}, "prod")}
    assert {"type", "enum", "pattern", "minimum", "additionalProperties", "required", "minItems"} <= seen, seen


def test_a_plan_never_imports_jsonschema() -> None:
    """Validating a request (the plan's path) leaves jsonschema unimported: issue #28, its import alone is about
    0.1 CPU-s of the driver's overhead."""
    code = ("import sys\nfrom ops_driver.catalog import load_catalog\nfrom ops_driver.request import load_request\n"
            "from pathlib import Path\n"
            "load_request(Path('examples/requests/info-005-ec2-stop.yml'), load_catalog())\n"
            "import ops_driver.run.pipeline, ops_driver.cli\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'jsonschema'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=project_root(), capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
