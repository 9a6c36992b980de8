"""A request's schema errors in words, one message per rule kind; did-you-mean; `targets`; the class floor (#29)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from ops_driver import request_errors, targets
from ops_driver.catalog import Param, load_catalog
from ops_driver.cli import main
from ops_driver.errors import InvalidInput
from ops_driver.evidence import governance
from ops_driver.request import parse_request

CATALOG = load_catalog()
DEST = CATALOG.get("STAT-011").automation.param("dest_dir")  # type: ignore[union-attr]


def _request(task: str, environment: str = "sandbox", **params: Any) -> str:
    return yaml.safe_dump({"task": task, "environment": environment, "ticket": "REQ-1", "requested_by": "sato",
                           "reason": "r", "params": params})


@pytest.mark.parametrize(("rule", "value", "rule_value", "said"), [
    ("type", "joho-web01", "array", "write a list: [joho-web01]"),
    ("type", "yes", "boolean", "'yes' is not true or false; write true or false (without quotes)"),
    ("enum", "fast", ["zip", "none"], "'fast' is not one of the choices; write one of zip, none"),
    ("minimum", 5, 30, "5 is below the minimum 30; give 30 or more"),
    ("maximum", 9000, 3600, "9000 is above the maximum 3600; give 3600 or less"),
    ("minItems", [], 1, "the list is empty or too short; give at least 1 item(s)"),
    ("maxItems", ["a", "b", "c"], 2, "the list has 3 items; give at most 2: split the work"),
    ("pattern", "a b", "^[a-z]+$", "'a b' is not allowed here (d): use letters, digits"),
])
def test_a_message_per_rule_kind_never_the_raw_rule(rule: str, value: Any, rule_value: Any, said: str) -> None:
    p = Param(name="x", type="str", description="d")
    text = request_errors.words(p, rule, value, rule_value)
    assert said in text and "^[" not in text


def test_a_path_out_of_the_share_and_pattern_words() -> None:
    assert request_errors.words(DEST, "pattern", "../../prod/leak") == (
        "'..' is not allowed: give a folder inside the maintenance share, relative to its root, without '..' or a "
        "leading '/'")
    assert "starts with '/'" in request_errors.words(DEST, "pattern", "/etc")
    with pytest.raises(InvalidInput) as e:
        parse_request(_request("STAT-011", source_dir="out", dest_dir="../../prod/leak", items=["*.csv"]), CATALOG)
    assert "params.dest_dir: '..' is not allowed: give a folder inside the maintenance share" in str(e.value)
    assert "(?!" not in str(e.value)  # the regular expression is not shown


def test_a_secret_is_never_echoed() -> None:
    p = Param(name="password", type="str", description="archive password", secret=True, pattern="^.{12,}$")
    assert request_errors.words(p, "pattern", "hunter2") == "the value is not valid (rule: pattern) (archive password)"
    assert "hunter2" not in request_errors.words(p, "type", "hunter2", "array")


def test_did_you_mean_for_a_near_miss_only() -> None:
    with pytest.raises(InvalidInput) as e:
        parse_request(_request("INFO-005", instances=["joho-web1", "joho-ap01"]), CATALOG)
    assert "params.instances: 'joho-web1' is not a name of sandbox; did you mean joho-web01?" in str(e.value)
    assert "joho-ap01" not in str(e.value)
    # names far from every listed one, or another environment's names, go on to the roles (resolved live)
    for name in ("no-such-instance", "prod-joho-web01", "i-0123456789abcdef0"):
        assert parse_request(_request("INFO-005", instances=[name]), CATALOG).params["instances"] == [name]


def test_targets_lists_what_a_request_may_name(capsys: pytest.CaptureFixture[str]) -> None:
    inv = targets.load("sandbox")
    assert inv.instances == ["joho-ap01", "joho-db01", "joho-web01"]
    assert "stat-ap01" in inv.groups["stat_servers"] and "esa-comm-sandbox01" in inv.groups["esa"]
    assert main(["targets", "--environment", "sandbox", "--task", "INFO-005", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == {"instances": ["joho-ap01", "joho-db01", "joho-web01"]}
    assert main(["targets", "--environment", "staging"]) == 2
    assert "--environment: unknown environment 'staging'" in capsys.readouterr().err


def test_a_prod_change_is_at_least_minor_and_catalog_show_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert governance.load_policy().floor("prod") == "minor"
    req = parse_request(_request("INFO-005", "prod", instances=["prod-joho-web01"]), CATALOG)
    assert (req.change_class, req.class_floor) == ("minor", "minor")
    sandbox = parse_request(_request("INFO-005", instances=["joho-web01"]), CATALOG)
    assert (sandbox.change_class, sandbox.class_floor) == ("standard", None)
    major = yaml.safe_load(_request("INFO-005", "prod", instances=["prod-joho-web01"]))
    major["change_class"] = "major"
    assert parse_request(yaml.safe_dump(major), CATALOG).change_class == "major"  # above the floor: kept
    assert main(["catalog", "show", "INFO-005"]) == 0
    assert "class floor: minor in prod (policy/change.yml)" in capsys.readouterr().out


@pytest.mark.parametrize(("floor", "said"), [
    ({"production": "minor"}, "class_floor.production: not an environment"),
    ({"prod": "emergency"}, "class_floor.prod: 'emergency' is not a ranked class"),
    (["prod"], "class_floor: must map an environment to a change class"),
])
def test_a_bad_class_floor_is_refused(floor: Any, said: str) -> None:
    data = yaml.safe_load(governance.policy_path().read_text(encoding="utf-8"))
    data["class_floor"] = floor
    with pytest.raises(InvalidInput, match=said):
        governance.parse_policy(data, "policy/change.yml")
