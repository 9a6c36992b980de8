"""The catalog is the one source of the wiring (#27 item 4): playbooks/site.yml imports exactly the playbooks of
the automated tasks, every operation playbook belongs to the automated tasks it tags, and a playbook's
``default()`` for a catalog parameter is the catalog's default. No list of automated IDs is written here: adding an
operation to the catalog (INFO-007, …) needs no edit of this file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import jinja2.nodes as jn
import yaml

from ops_driver.catalog import Task, load_catalog

ROOT = Path(__file__).resolve().parents[3]
CATALOG = load_catalog()
AUTOMATED = CATALOG.select(automated=True)
#: Playbooks of playbooks/ that are not one operation's.
NOT_OPERATIONS = {"site.yml", "tower_configure.yml"}
#: What a playbook may give as the default of a parameter the catalog leaves unset: "not given".
UNSET = (None, "", [], {})


def _playbook(task: Task) -> str:
    assert task.automation is not None
    return task.automation.playbook


def test_site_yml_imports_exactly_the_playbook_of_every_automated_task_named_by_its_id() -> None:
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text(encoding="utf-8"))
    imports = {p["ansible.builtin.import_playbook"]: p["name"] for p in plays if "ansible.builtin.import_playbook" in p}
    assert sorted(imports) == sorted({Path(_playbook(t)).name for t in AUTOMATED})
    for task in AUTOMATED:
        name = imports[Path(_playbook(task)).name]
        assert name.startswith(task.id) or any(t.id in name for t in AUTOMATED if _playbook(t) == _playbook(task)), (
            f"site.yml: the import of {_playbook(task)} is named {name!r}: start it with {task.id}")


def test_every_operation_playbook_is_the_playbook_of_the_automated_tasks_it_tags() -> None:
    by_playbook: dict[str, set[str]] = {}
    for task in AUTOMATED:
        by_playbook.setdefault(Path(_playbook(task)).name, set()).add(task.id)
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        if path.name in NOT_OPERATIONS:
            continue
        tagged = {tag for play in yaml.safe_load(path.read_text(encoding="utf-8")) for tag in play.get("tags", [])
                  if tag in CATALOG.tasks}
        assert tagged and tagged == by_playbook.get(path.name), (
            f"{path.name} tags {sorted(tagged)}; the catalog gives it to {sorted(by_playbook.get(path.name, []))}")


def _defaults(text: str) -> list[tuple[str, Any, bool]]:
    """Every ``NAME | default(VALUE)`` of the Jinja expressions in a playbook's text: (NAME, VALUE, whether VALUE
    is a constant; ``omit`` counts as an unset constant)."""
    env = jinja2.Environment()
    out = []
    for node in env.parse(text).find_all(jn.Filter):
        if node.name != "default" or not isinstance(node.node, jn.Name) or not node.args:
            continue
        arg = node.args[0]
        if isinstance(arg, jn.Name) and arg.name == "omit":
            out.append((node.node.name, None, True))
            continue
        try:
            out.append((node.node.name, arg.as_const(), True))
        except jn.Impossible:
            out.append((node.node.name, None, False))
    return out


def test_a_playbook_s_default_for_a_parameter_is_the_catalog_s() -> None:
    wrong, checked = [], 0
    for task in AUTOMATED:
        assert task.automation is not None
        params = {p.name: p for p in task.automation.params}
        for name, value, constant in _defaults((ROOT / _playbook(task)).read_text(encoding="utf-8")):
            if name not in params:
                continue
            checked += 1
            param = params[name]
            if param.default is None:
                if constant and value not in UNSET:
                    wrong.append(f"{task.id} {name}: the playbook defaults to {value!r}, the catalog to nothing")
            elif not constant or value != param.default:
                wrong.append(f"{task.id} {name}: the playbook defaults to {value!r}, the catalog to {param.default!r}")
    assert checked >= 40  # the parse found the playbooks' defaults
    assert wrong == []


def test_the_default_check_sees_a_wrong_default() -> None:
    assert _defaults("x: \"{{ wait_timeout | default(900) }}\"\ny: \"{{ a | default(b | default(2)) }}\"") == [
        ("wait_timeout", 900, True), ("a", None, False), ("b", 2, True)]
    assert _defaults("k: \"{{ key | default(omit) }}\" f: \"{{ f | default(false) }}\"") == [
        ("key", None, True), ("f", False, True)]
