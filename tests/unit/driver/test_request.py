"""Work request validation: every bad input names the field and raises InvalidInput (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops_driver.catalog import TIMEOUT_MINUTES_MAX, Automation, Catalog, Param, Task, load_catalog
from ops_driver.errors import InvalidInput
from ops_driver.paths import project_root
from ops_driver.request import REDACTED, load_request, params_schema, parse_request

CATALOG = load_catalog()
GOOD = {"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-2026-1122-001", "requested_by": "sato",
        "reason": "Stop for middleware patching", "params": {"instances": ["joho-web01"]}}


def _text(**changes: object) -> str:
    data = dict(GOOD)
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    return yaml.safe_dump(data)


def test_good_request_gets_defaults() -> None:
    req = parse_request(_text(), CATALOG)
    assert req.params == {"instances": ["joho-web01"], "wait_timeout": 600}
    assert req.task == "INFO-005" and req.environment == "sandbox" and len(req.source_sha256) == 64


@pytest.mark.parametrize("changes, needle", [
    ({"task": "INFO-999"}, "task: unknown catalog ID 'INFO-999'"),
    ({"task": "info-005"}, "IDs are upper case: INFO-005"),
    ({"task": "INFO-001"}, "task: INFO-001"),
    ({"environment": "production"}, "environment: unknown environment 'production'"),
    ({"ticket": None}, "ticket: missing or empty"),
    ({"ticket": "a b"}, "ticket: 'a b' is not a ticket number"),
    ({"requested_by": ""}, "requested_by: missing or empty"),
    ({"colour": "red"}, "colour: unknown field"),
    ({"params": {}}, "params.instances: missing"),
    ({"params": {"instances": ["joho-web01"], "force": True}}, "unknown parameter(s) force"),
    ({"params": {"instances": "joho-web01"}}, "params.instances: write a list: [joho-web01]"),
    ({"params": {"instances": "joho-web01,joho-ap01"}}, "params.instances: write a list: [joho-web01, joho-ap01]"),
    ({"params": {"instances": []}}, "params.instances: the list is empty or too short; give at least 1 item(s)"),
    ({"params": {"instances": ["joho web01"]}}, "params.instances[0]: 'joho web01' is not allowed here"),
    ({"params": {"instances": ["joho-web01"], "wait_timeout": "ten"}},
     "params.wait_timeout: 'ten' is not a whole number; write a whole number, e.g. 30"),
    ({"environment": "prod", "params": {"instances": ["prod-joho-web01"], "wait_timeout": 5}},
     "params.wait_timeout: 5 is below the minimum 30; give 30 or more"),
    ({"params": {"instances": ["joho-web1"]}},
     "params.instances: 'joho-web1' is not a name of sandbox; did you mean joho-web01? (`ops-driver targets"),
    ({"params": ["joho-web01"]}, "params: must be a mapping"),
])
def test_bad_requests_name_the_field(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_request(_text(**changes), CATALOG)
    assert needle in str(e.value)
    assert e.value.exit_code == 2


def test_manual_task_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidInput, match=r"manual task of the catalog.*--automated"):
        parse_request(_text(task="CORE-001"), CATALOG)


def test_malformed_yaml_gives_the_line() -> None:
    with pytest.raises(InvalidInput, match=r"not valid YAML at line 4, column 7"):
        parse_request("task: INFO-005\nenvironment: sandbox\nparams: [a, b\nticket: x\n", CATALOG)
    with pytest.raises(InvalidInput, match="a work request is a YAML mapping"):
        parse_request("- just a list\n", CATALOG)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such request file"):
        load_request(tmp_path / "nope.yml", CATALOG)


def test_every_example_request_is_valid() -> None:
    examples = sorted((project_root() / "examples" / "requests").glob("*.yml"))
    assert examples
    for path in examples:
        req = load_request(path, CATALOG)
        assert CATALOG.get(req.task).automated


def test_params_schema_is_generated_from_the_catalog() -> None:
    schema = params_schema(CATALOG.get("INFO-004"))
    assert schema["required"] == ["instances"] and schema["additionalProperties"] is False
    assert schema["properties"]["instances"]["items"]["pattern"].startswith("^(i-")
    assert schema["properties"]["wait_timeout"]["minimum"] == 30


def _secret_task() -> Task:
    auto = Automation(playbook="playbooks/x.yml", tags=["X-001"], change_class="standard", params=[
        Param(name="password", type="str", description="archive password", required=True, secret=True,
              pattern="^.{8,}$"),
        Param(name="path", type="str", description="where", required=True)])
    return Task(id="STAT-099", area="STAT", category="c", name_ja="n", name_en="n", summary_ja="s",
                cycle="on_demand", cycle_ja="随時", raw={}, automation=auto)


def test_secret_params_are_redacted_and_never_echoed() -> None:
    task = _secret_task()
    catalog = Catalog(tasks={**CATALOG.tasks, task.id: task})
    text = _text(task="STAT-099", params={"password": "hunter2-very-secret", "path": "a"})
    req = parse_request(text, catalog)
    assert req.redacted(task)["params"]["password"] == REDACTED
    assert req.secret_values(task) == ["hunter2-very-secret"]
    assert req.raw["params"]["password"] == "hunter2-very-secret"  # the run still gets it
    with pytest.raises(InvalidInput) as e:
        parse_request(_text(task="STAT-099", params={"password": "short", "path": "a"}), catalog)
    assert "short" not in str(e.value) and "params.password: the value is not valid (rule: pattern)" in str(e.value)


@pytest.mark.parametrize("task", ["INFO-004", "INFO-005", "INFO-006", "INFO-011", "INFO-012", "CORE-049"])
def test_short_waits_are_for_the_sandbox_only_and_the_production_minimum_and_default_hold(task: str) -> None:
    """The tests' 2-second timeouts use the sandbox's minimum (moto changes state at once); prod keeps its own."""
    p = CATALOG.get(task).automation.param("wait_timeout")  # type: ignore[union-attr]
    assert p is not None and p.minimum is not None and p.minimum >= 10 and p.sandbox_minimum == 1
    assert params_schema(CATALOG.get(task), "sandbox")["properties"]["wait_timeout"]["minimum"] == 1
    assert params_schema(CATALOG.get(task), "prod")["properties"]["wait_timeout"]["minimum"] == p.minimum


def test_a_two_second_wait_is_refused_in_prod_and_taken_in_the_sandbox(tmp_path: Path) -> None:
    params = {"instances": ["joho-web01"], "wait_timeout": 2}
    assert parse_request(_text(params=params), CATALOG).params["wait_timeout"] == 2
    with pytest.raises(InvalidInput) as e:
        parse_request(_text(environment="prod", params=params), CATALOG)
    assert "params.wait_timeout" in str(e.value) and "minimum" in str(e.value)
    default = parse_request(_text(environment="prod", params={"instances": ["prod-joho-web01"]}), CATALOG)
    assert default.params["wait_timeout"] == 600  # the production default when the request names none


# ---------------------------------------------------------------- time limit, change class, approvals

@pytest.mark.parametrize("value", [0, -1, TIMEOUT_MINUTES_MAX + 1, "30", 2.5, True, None])
def test_timeout_minutes_must_be_a_whole_number_within_the_range(value: object) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_request(yaml.safe_dump({**GOOD, "timeout_minutes": value}), CATALOG)
    assert f"timeout_minutes: {value!r} is not valid" in str(e.value)
    assert f"from 1 to {TIMEOUT_MINUTES_MAX}" in str(e.value) and e.value.exit_code == 2


def test_timeout_minutes_within_the_range() -> None:
    assert parse_request(_text(), CATALOG).timeout_minutes is None
    for value in (1, 30, TIMEOUT_MINUTES_MAX):
        assert parse_request(yaml.safe_dump({**GOOD, "timeout_minutes": value}), CATALOG).timeout_minutes == value


def test_change_class_may_be_raised_and_is_the_catalog_s_without_it() -> None:
    assert parse_request(_text(), CATALOG).change_class == "standard"  # INFO-005 in the catalog
    assert parse_request(_text(change_class="standard"), CATALOG).change_class == "standard"
    assert parse_request(_text(change_class="major"), CATALOG).change_class == "major"
    em = parse_request(_text(change_class="emergency", emergency_reason="outage of the portal"), CATALOG)
    assert em.change_class == "emergency" and em.emergency_reason == "outage of the portal"


@pytest.mark.parametrize("changes, needle", [
    ({"task": "COMM-022", "params": {"site": "joho-portal", "action": "close"}, "change_class": "minor"},
     "change_class: minor would lower the class of COMM-022 (major in the catalog)"),
    ({"task": "COMM-022", "params": {"site": "joho-portal", "action": "close"}, "change_class": "standard"},
     "never lower it"),
    ({"change_class": "urgent"}, "change_class: 'urgent' is not a change class; use one of standard, minor, major"),
    ({"change_class": "emergency"}, "emergency_reason: missing or empty"),
    ({"change_class": "emergency", "emergency_reason": "  "}, "emergency_reason: missing or empty"),
    ({"change_class": "major", "emergency_reason": "x"}, "emergency_reason: only with change_class: emergency"),
    ({"emergency_reason": "x"}, "emergency_reason: only with change_class: emergency"),
    ({"approved_by": "suzuki"}, "approved_by: approvals are not taken from the work request; they are recorded by "
                                "the approval command"),
])
def test_a_lowered_class_a_bad_emergency_and_an_approval_are_refused(changes: dict[str, object],
                                                                     needle: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_request(yaml.safe_dump({**GOOD, **changes}), CATALOG)
    assert needle in str(e.value) and e.value.exit_code == 2
