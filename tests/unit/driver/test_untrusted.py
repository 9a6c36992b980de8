"""A work request is data, never code (issue #22): the limits of untrusted documents, template delimiters refused
in every string field of every automated task (generated from the catalog), the extra-vars document, and the
escaping of request text on every output."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops_driver import untrusted
from ops_driver.catalog import load_catalog
from ops_driver.errors import InvalidInput
from ops_driver.request import load_request, parse_request

CATALOG = load_catalog()
INJECTION = "{{ lookup('pipe', 'touch /tmp/ops-injection-marker') }}"
BASE = {"task": "INFO-005", "environment": "sandbox", "ticket": "REQ-TEST-001", "requested_by": "pytest",
        "reason": "unit test", "params": {"instances": ["joho-web01"]}}


def _doc(**changes: Any) -> str:
    data = {**BASE, **changes}
    return yaml.safe_dump(data, allow_unicode=True)


def _refused(text: str | bytes) -> str:
    with pytest.raises(InvalidInput) as e:
        parse_request(text, CATALOG, source="r.yml")
    return str(e.value)


# ---------------------------------------------------------------- template delimiters, generated from the catalog

def _string_fields() -> list[tuple[str, str, bool]]:
    """(task, parameter, is a list) of every string-typed parameter of every automated task, from the catalog."""
    out = []
    for task in CATALOG.tasks.values():
        if task.automation is None:
            continue
        for p in task.automation.params:
            if p.type in ("str", "path") or (p.type == "list" and (p.elements or "str") in ("str", "path")):
                out.append((task.id, p.name, p.type == "list"))
    return out


STRING_FIELDS = _string_fields()


def test_the_catalog_has_string_parameters_to_cover() -> None:
    # the generated cases below must not be vacuous: every automated operation family is covered
    tasks = {t for t, _, _ in STRING_FIELDS}
    assert {"INFO-013", "STAT-011", "COMM-025", "STAT-015", "INFO-022"} <= tasks
    assert len(STRING_FIELDS) >= 30


@pytest.mark.parametrize(("task_id", "name", "is_list"), STRING_FIELDS,
                         ids=[f"{t}-{n}" for t, n, _ in STRING_FIELDS])
@pytest.mark.parametrize("delimiter", ["{{ x }}", "{% if 1 %}x{% endif %}", "{# x #}"])
def test_a_template_in_any_string_parameter_is_refused_naming_it(task_id: str, name: str, is_list: bool,
                                                                  delimiter: str) -> None:
    value = INJECTION if delimiter == "{{ x }}" else f"a{delimiter}b"
    message = _refused(_doc(task=task_id, params={name: [value] if is_list else value}))
    field = f"params.{name}[0]" if is_list else f"params.{name}"
    assert f"{field}: holds a template delimiter" in message
    assert "touch" not in message  # the value is not echoed into the message


@pytest.mark.parametrize("field", ["reason", "requested_by", "ticket", "emergency_reason", "task", "environment"])
def test_a_template_in_any_top_level_field_is_refused_naming_it(field: str) -> None:
    message = _refused(_doc(**{field: INJECTION}))
    assert f"{field}: holds a template delimiter" in message


def test_a_template_in_a_key_is_refused() -> None:
    assert "holds a template delimiter" in _refused(_doc(params={"{{ x }}": 1}))


# ---------------------------------------------------------------- hostile documents

def test_a_document_over_64_kib_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text(_doc() + "# " + "x" * (64 * 1024) + "\n")
    with pytest.raises(InvalidInput, match="larger than the 64 KiB"):
        load_request(path, CATALOG)


def test_a_50_mb_reason_is_refused_by_size_reading_only_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.yml"
    with path.open("w") as f:
        f.write(_doc().replace("reason: unit test", "reason: '"))
        f.write("y" * 50_000_000 + "'\n")
    with pytest.raises(InvalidInput, match="larger than the 64 KiB"):
        load_request(path, CATALOG)


ALIAS_BOMB = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["task: INFO-005"]) + "\n"


def test_a_yaml_alias_bomb_is_refused_at_the_first_anchor() -> None:
    assert len(ALIAS_BOMB) < 1024
    message = _refused(ALIAS_BOMB)
    assert "line 1, column 4: YAML anchors and aliases" in message


def test_an_alias_alone_is_refused() -> None:
    assert "anchors and aliases" in _refused(_doc() + "x: *nowhere\n")


def test_a_20000_deep_document_is_refused_without_recursing() -> None:
    text = "params: " + "[" * 20_000 + "]" * 20_000 + "\n"
    message = _refused(text)
    assert f"nested deeper than {untrusted.MAX_DEPTH} levels" in message


@pytest.mark.parametrize("tagged", ["!!python/object/apply:os.system ['true']", "!unsafe '{{ x }}'",
                                    "!!binary aGVsbG8="])
def test_yaml_tags_are_refused(tagged: str) -> None:
    assert "YAML tag" in _refused(_doc() + f"x: {tagged}\n")


def test_a_string_over_the_limit_is_refused_naming_the_field() -> None:
    message = _refused(_doc(reason="x" * (untrusted.MAX_STRING_CHARS + 1)))
    assert f"reason: {untrusted.MAX_STRING_CHARS + 1} characters is longer than the" in message


def test_a_list_over_the_limit_is_refused_naming_the_field() -> None:
    message = _refused(_doc(params={"instances": ["i"] * (untrusted.MAX_LIST_ITEMS + 1)}))
    assert f"params.instances: {untrusted.MAX_LIST_ITEMS + 1} items is more than" in message


@pytest.mark.parametrize(("field", "value", "named"), [
    ("requested_by", "sato\x1b]0;pwned\x07", "U+001B"),
    ("requested_by", "sato\u202e", "U+202E"),
    ("ticket", "REQ-1\nshow", "U+000A"),
    ("reason", "fine\rback", "U+000D"),
    ("reason", "a\x00b", "U+0000"),
    ("reason", "c1\x9bcontrol", "U+009B"),
])
def test_control_and_format_characters_are_refused_naming_the_character(field: str, value: str,
                                                                         named: str) -> None:
    message = _refused(_doc(**{field: value}))
    assert f"{field}: holds the control or format character {named}" in message
    assert "\x1b" not in message and "\x07" not in message and "\u202e" not in message


def test_free_text_may_span_lines_and_japanese_text_passes() -> None:
    req = parse_request(_doc(reason="保守のため停止\n\t二行目", requested_by="佐藤\u3000太郎"), CATALOG)
    assert req.reason.startswith("保守")
    assert req.requested_by == "佐藤\u3000太郎"


def test_a_hostile_document_through_the_cli_exits_2_without_a_traceback(tmp_path: Path) -> None:
    cases = {"bomb.yml": ALIAS_BOMB, "deep.yml": "params: " + "[" * 20_000 + "]" * 20_000,
             "ctl.yml": _doc(requested_by="x\x1b]0;title\x07"), "tpl.yml": _doc(reason=INJECTION)}
    env = {**os.environ, "OPS_EVIDENCE_DIR": str(tmp_path / "evidence")}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        proc = subprocess.run([sys.executable, "-m", "ops_driver.cli", "plan", str(tmp_path / name)],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 2, (name, proc.stderr)
        assert "Traceback" not in proc.stderr, name
        assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
        assert [f.name for f in (tmp_path / "evidence").iterdir()] == ["ledger.jsonl"], name  # the empty store
        assert (tmp_path / "evidence" / "ledger.jsonl").stat().st_size == 0, name


# ---------------------------------------------------------------- the extra-vars document

def test_the_extravars_document_is_one_mapping_tagged_unsafe() -> None:
    doc = untrusted.extravars_document({"key": INJECTION, "items": ["a", "{{ b }}"], "n": 3, "flag": True,
                                        "planned": {"esa01": {"add": ["10.0.0.1"]}}, "none": None})
    node = yaml.compose(doc, Loader=yaml.SafeLoader)
    assert isinstance(node, yaml.MappingNode) and node.tag == "!unsafe"


# values that YAML would read as another type when plain: ansible-core resolves a scalar tagged !unsafe again as
# if it were plain (even quoted), so the tag must be on the mapping, and these must stay strings
TRICKY = ["10.", "yes", "no", "0x10", "1e3", "~", "", "null", "2026-12-07", "007", "{{ x }}", "a\x1bb", "日本"]


def test_ansible_loads_every_value_untrusted_and_with_its_own_type() -> None:
    from ansible.parsing.yaml.loader import AnsibleLoader
    from ansible.template import is_trusted_as_template

    given = {"key": INJECTION, "items": TRICKY, "n": 3, "flag": True, "none": None,
             "planned": {"esa01": {"add": ["{{ b }}"]}}}
    data = AnsibleLoader(untrusted.extravars_document(given)).get_single_data()
    assert data == given
    assert all(isinstance(v, str) for v in data["items"])
    for value in (data["key"], *data["items"], data["planned"]["esa01"]["add"][0]):
        assert not is_trusted_as_template(value), value


def test_an_extravars_key_with_a_template_is_refused() -> None:
    with pytest.raises(InvalidInput, match="template delimiter"):
        untrusted.extravars_document({"planned": {"{{ x }}": 1}})
    with pytest.raises(InvalidInput, match="not an identifier"):
        untrusted.extravars_document({"a b": 1})


# ---------------------------------------------------------------- output

def test_terminal_text_shows_escapes_instead_of_control_characters() -> None:
    assert untrusted.terminal("a\x1b]0;x\x07b\nc\u202ed") == "a\\x1b]0;x\\x07b\nc\\u202ed"
    assert untrusted.terminal("佐藤\u3000太郎") == "佐藤\u3000太郎"


def test_json_for_terminal_is_the_same_json_without_c1_or_bidi_characters() -> None:
    import json

    data = {"x": "a\x9b2Jb\u202e"}
    text = untrusted.json_for_terminal(json.dumps(data, ensure_ascii=False))
    assert "\x9b" not in text and "\u202e" not in text
    assert json.loads(text) == data


def test_markdown_text_has_no_html_no_control_character_and_no_code_span_break() -> None:
    out = untrusted.markdown("<script>alert(1)</script> `x` | y\x1b[2J\nz")
    assert "<" not in out and ">" not in out and "`" not in out and "\x1b" not in out and "\n" not in out
    assert "\\|" in out and "&lt;script&gt;" in out


def test_the_record_page_csp_allows_only_its_own_inline_style_and_script() -> None:
    from ops_driver.records import html

    assert "unsafe-inline" not in html.CSP
    for text in (html.STYLE, html.SCRIPT):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in html.CSP
