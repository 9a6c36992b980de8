"""The refusal helper of the modules (module_utils/ops_refusal.py) and the contract prefixes in library/,
module_utils/ and the roles' ``ansible.builtin.fail`` tasks (ops_driver/run/contract.py)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver.run import contract
from tests.support.modules import module_util

ROOT = Path(__file__).resolve().parents[3]
PREFIXES = (contract.INVALID_PREFIX, contract.DRIFT_PREFIX)
refusal = module_util("ops_refusal")


class Failed(Exception):
    """What fail_json raised, with its keyword arguments."""


class FakeModule:
    def fail_json(self, **kw: Any) -> None:
        raise Failed(kw)


def test_the_helper_s_prefixes_are_the_contract_s() -> None:
    assert refusal.INVALID_PREFIX == contract.INVALID_PREFIX + " "
    assert refusal.DRIFT_PREFIX == contract.DRIFT_PREFIX + " "


def test_fail_now_with_the_prefix_and_the_result_keys() -> None:
    with pytest.raises(Failed) as e:
        refusal.fail_invalid(FakeModule(), "instance_ids: not found: i-1", api_calls={"DescribeInstances": 1})
    assert e.value.args[0] == {"msg": "INVALID INPUT: instance_ids: not found: i-1",
                               "api_calls": {"DescribeInstances": 1}}
    with pytest.raises(Failed) as e:
        refusal.fail_drift(FakeModule(), "the estate changed since the plan")
    assert e.value.args[0] == {"msg": "DRIFT: the estate changed since the plan"}


def test_a_kind_gives_its_prefix_and_any_other_kind_none() -> None:
    assert refusal.refusal_message("invalid", "x") == "INVALID INPUT: x"
    assert refusal.refusal_message("drift", "x") == "DRIFT: x"
    assert refusal.refusal_message("failed", "dsjob: rc 1") == "dsjob: rc 1"


def test_a_typed_refusal_raised_in_the_block_fails_the_module_once() -> None:
    calls = {"n": 0}

    def result() -> dict[str, Any]:
        calls["n"] += 1
        return {"changed": False, "api_calls": {}}

    with pytest.raises(Failed) as e, refusal.refusals(FakeModule(), result):
        raise refusal.Drift("sender group changed", fingerprints={"g": "x"})
    assert e.value.args[0] == {"msg": "DRIFT: sender group changed", "changed": False, "api_calls": {},
                               "fingerprints": {"g": "x"}}
    assert calls["n"] == 1
    with refusal.refusals(FakeModule(), {}):  # nothing raised: nothing failed
        pass
    with pytest.raises(KeyError), refusal.refusals(FakeModule(), {}):  # other errors pass through
        raise KeyError("x")


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string constant of the code, and the literal start of every f-string."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            yield node.lineno, str(node.values[0].value)


def test_no_module_or_module_util_spells_a_prefix_itself() -> None:
    found = []
    for path in sorted([*(ROOT / "library").glob("*.py"), *(ROOT / "module_utils").glob("*.py")]):
        if path.name == "ops_refusal.py":
            continue
        for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if text.lstrip().startswith(PREFIXES):
                found.append(f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}")
    assert found == [], "use module_utils/ops_refusal.py (fail_invalid, fail_drift, refusal_message): " + "; ".join(
        found)


def test_every_module_that_documents_a_refusal_refuses_through_the_helper() -> None:
    users = {p.stem for p in (ROOT / "module_utils").glob("*.py")
             if "ansible.module_utils.ops_refusal" in p.read_text(encoding="utf-8")}
    missing = []
    for path in sorted((ROOT / "library").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if not re.search(r"C\((INVALID INPUT|DRIFT)", text):
            continue
        imported = set(re.findall(r"^from ansible\.module_utils\.(\w+) import", text, re.M))
        if not imported & ({"ops_refusal"} | users):
            missing.append(path.name)
    assert missing == []
    assert {"ops_aws", "ops_backup", "ops_ec2", "datastage_cli"} <= users


def _fail_tasks(node: yaml.Node) -> Iterator[yaml.MappingNode]:
    """The task mappings of a composed tasks file that run ``ansible.builtin.fail`` (in blocks too)."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _fail_tasks(item)
    elif isinstance(node, yaml.MappingNode):
        keys = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        if keys & {"ansible.builtin.fail", "fail"}:
            yield node
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value in ("block", "rescue", "always"):
                yield from _fail_tasks(v)


def _role_task_files() -> list[Path]:
    return sorted((ROOT / "roles").glob("*/tasks/*.yml"))


def test_every_fail_in_the_roles_starts_with_a_contract_prefix_or_is_documented_as_a_failure() -> None:
    """A message that starts with neither prefix is exit 3: the task says so in a comment just above it
    (``# failure (exit 3): why``, or ``# failure: ...`` for a rescue that re-raises a message)."""
    undocumented, seen = [], 0
    for path in _role_task_files():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for task in _fail_tasks(yaml.compose(text)):
            seen += 1
            data = yaml.safe_load(yaml.serialize(task))
            args = data.get("ansible.builtin.fail", data.get("fail")) or {}
            msg = str(args.get("msg", "")).lstrip()
            if msg.startswith(PREFIXES):
                continue
            above = lines[task.start_mark.line - 1].strip() if task.start_mark.line else ""
            if not above.startswith("# failure"):
                undocumented.append(f"{path.relative_to(ROOT)}:{task.start_mark.line + 1}: {data.get('name')}")
    assert seen >= 30  # the parse found the roles' fail tasks
    assert undocumented == [], "start the message with INVALID INPUT: / DRIFT:, or document the failure (exit 3)"
