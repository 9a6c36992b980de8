"""What a plan binds (inputs.py): the files its run reads, found by following the playbook; the apply's check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ops_driver.catalog import load_catalog
from ops_driver.errors import PolicyRefused
from ops_driver.paths import package_project, project_root
from ops_driver.run import inputs


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


PROJECT = {
    "ansible.cfg": "[defaults]\nroles_path = ./roles\n",
    "playbooks/p.yml": ("- hosts: all\n  roles: [r_play]\n  vars_files: [vars/extra.yml]\n  tasks:\n"
                        "    - ansible.builtin.include_role:\n        name: r1\n"
                        "    - ansible.builtin.import_tasks: tasks/more.yml\n"
                        "    - name: a vaulted value does not stop the search\n      x: !vault |\n        abc\n"),
    "playbooks/vars/extra.yml": "a: 1\n",
    "playbooks/tasks/more.yml": "- ansible.builtin.import_role:\n    name: r_more\n",
    "playbooks/other.yml": "- hosts: all\n  roles: [r_unused]\n",
    "roles/r1/tasks/main.yml": "- ansible.builtin.include_role:\n    name: r_nested\n",
    "roles/r1/meta/main.yml": "dependencies:\n  - role: r_dep\n",
    "roles/r1/README.md": "r1\n",
    "roles/r1/tasks/__pycache__/x.cpython-311.pyc": "cache",
    "roles/r_play/tasks/main.yml": "- debug: {}\n",
    "roles/r_more/tasks/main.yml": "- debug: {}\n",
    "roles/r_dep/tasks/main.yml": "- debug: {}\n",
    "roles/r_nested/defaults/main.yml": "x: 1\n",
    "roles/r_unused/tasks/main.yml": "- debug: {}\n",
    "library/m.py": "# a module\n",
    "module_utils/u.py": "# utils\n",
    "filter_plugins/f.py": "# filter\n",
    "action_plugins/a.py": "# action\n",
    "inventories/sandbox/hosts.yml": "all: {}\n",
    "inventories/sandbox/vault-password": "not-a-secret\n",
    "inventories/prod/hosts.yml": "all: {}\n",
    "desired_state/esa/sandbox.yml": "entries: []\n",
    "policy/change.yml": "classes: {}\n",
    "catalog/info.yml": "tasks: []\n",
    "catalog/comm.yml": "tasks: []\n",
    "schedule/2026.yml": "x: 1\n",
    "tools/esa_sim.py": "# not read by a run\n",
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    _write(root, PROJECT)
    return root


def _collect(root: Path, playbook: str = "playbooks/p.yml", schedule: Path | None = None) -> inputs.Inputs:
    return inputs.collect(root, playbook, "sandbox", "catalog/info.yml", schedule)


def test_the_playbook_its_roles_plugins_inventory_desired_state_policy_and_catalog_file(project: Path) -> None:
    got = _collect(project)
    assert sorted(got.files) == sorted([
        "ansible.cfg", "playbooks/p.yml", "playbooks/vars/extra.yml", "playbooks/tasks/more.yml",
        "roles/r1/tasks/main.yml", "roles/r1/meta/main.yml", "roles/r1/README.md", "roles/r_play/tasks/main.yml",
        "roles/r_more/tasks/main.yml", "roles/r_dep/tasks/main.yml", "roles/r_nested/defaults/main.yml",
        "library/m.py", "module_utils/u.py", "filter_plugins/f.py", "action_plugins/a.py",
        "inventories/sandbox/hosts.yml", "inventories/sandbox/vault-password", "desired_state/esa/sandbox.yml",
        "policy/change.yml", "catalog/info.yml"])
    import hashlib

    assert got.files["library/m.py"] == hashlib.sha256(b"# a module\n").hexdigest()
    assert got.files["inventories/sandbox/vault-password"] == inputs.UNHASHED  # the password's hash is no record
    assert got.digest == inputs.combined(got.files) and len(got.digest) == 64
    assert (got.commit, got.clean, got.dirty) == ("unknown", None, [])  # not a git checkout
    with_schedule = _collect(project, schedule=project / "schedule")
    assert set(with_schedule.files) - set(got.files) == {"schedule/2026.yml"}
    outside = project.parent / "sched"
    _write(outside, {"2027.yml": "y: 2\n"})
    assert "$OPS_SCHEDULE_DIR/2027.yml" in _collect(project, schedule=outside).files


def test_a_templated_role_name_binds_every_role(project: Path) -> None:
    _write(project, {"playbooks/t.yml": "- hosts: all\n  tasks:\n    - include_role:\n        name: '{{ which }}'\n"})
    roles = {k.split("/")[1] for k in _collect(project, "playbooks/t.yml").files if k.startswith("roles/")}
    assert roles == {"r1", "r_play", "r_more", "r_dep", "r_nested", "r_unused"}


@pytest.mark.parametrize(("edit", "word", "name"), [
    (lambda r: (r / "desired_state/esa/sandbox.yml").write_text("entries: [198.18.0.0/16]\n"), "changed",
     "desired_state/esa/sandbox.yml"),
    (lambda r: (r / "roles/r_dep/tasks/main.yml").write_text("- debug: {msg: x}\n"), "changed",
     "roles/r_dep/tasks/main.yml"),
    (lambda r: (r / "playbooks/p.yml").write_text((r / "playbooks/p.yml").read_text() + "# edited\n"), "changed",
     "playbooks/p.yml"),
    (lambda r: (r / "inventories/sandbox/hosts.yml").write_text("all: {hosts: {x: {}}}\n"), "changed",
     "inventories/sandbox/hosts.yml"),
    (lambda r: (r / "policy/change.yml").write_text("classes: {minor: {approvals: 0}}\n"), "changed",
     "policy/change.yml"),
    (lambda r: (r / "desired_state/esa/extra.yml").write_text("entries: []\n"), "added", "desired_state/esa/extra.yml"),
    (lambda r: (r / "library/m.py").unlink(), "removed", "library/m.py"),
    (lambda r: (r / "inventories/sandbox/vault-password").unlink(), "removed", "inventories/sandbox/vault-password"),
])
def test_any_file_added_removed_or_changed_refuses_the_apply_naming_it(project: Path, edit: object, word: str,
                                                                       name: str) -> None:
    planned = _collect(project).manifest()
    assert callable(edit)
    edit(project)
    with pytest.raises(PolicyRefused, match=rf"plan P1: the files it read changed since the plan.*: {word} {name};"
                                            r" put them back as planned, or plan again") as e:
        inputs.check("P1", planned, _collect(project))
    assert e.value.exit_code == 4


def test_what_the_run_does_not_read_may_change(project: Path) -> None:
    planned = _collect(project).manifest()
    _write(project, {"roles/r_unused/tasks/main.yml": "- fail: {}\n", "inventories/prod/hosts.yml": "x: 1\n",
                     "tools/esa_sim.py": "# edited\n", "playbooks/other.yml": "[]\n", "catalog/comm.yml": "x: 1\n",
                     "roles/r1/tasks/__pycache__/x.cpython-311.pyc": "recompiled"})
    inputs.check("P1", planned, _collect(project))  # no refusal


def test_a_plan_without_inputs_or_from_another_project_is_refused(project: Path, tmp_path: Path) -> None:
    now = _collect(project)
    with pytest.raises(PolicyRefused, match="does not record its inputs"):
        inputs.check("P1", {"run_id": "P1"}, now)
    with pytest.raises(PolicyRefused, match=r"made from the project /elsewhere, the apply would run from"):
        inputs.check("P1", {**now.manifest(), "project_dir": "/elsewhere"}, now)


def test_many_changes_are_named_up_to_a_limit(project: Path) -> None:
    planned = _collect(project).manifest()
    _write(project, {f"desired_state/new-{i:02d}.yml": "x\n" for i in range(15)})
    with pytest.raises(PolicyRefused, match=r"added desired_state/new-00.yml, .*new-11.yml and 3 more;"):
        inputs.check("P1", planned, _collect(project))


def test_commit_and_clean_tree_of_the_inputs(project: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "c")
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    clean = _collect(project)
    assert (clean.commit, clean.clean, clean.dirty) == (head, True, [])
    _write(project, {"desired_state/esa/sandbox.yml": "entries: [198.18.0.0/16]\n", "library/new.py": "#\n",
                     "tools/esa_sim.py": "# not an input\n"})
    (project / "roles/r_more/tasks/main.yml").unlink()
    dirty = _collect(project)
    assert dirty.commit == head and dirty.clean is False
    assert dirty.dirty == ["desired_state/esa/sandbox.yml", "library/new.py", "roles/r_more/tasks/main.yml"]
    m = dirty.manifest()
    assert (m["project_commit"], m["project_clean"], m["project_dirty"]) == (head, False, dirty.dirty)
    assert any("3 input file(s) differ from the commit" in w for w in inputs.warnings(m))


def test_ops_project_dir_elsewhere_is_refused_outside_the_sandbox(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("OPS_PROJECT_DIR", str(tmp_path))
    assert inputs.project_override("sandbox") == [f"OPS_PROJECT_DIR={tmp_path}"]
    for env in ("prod", "dr", "maint"):
        with pytest.raises(PolicyRefused, match=r"OPS_PROJECT_DIR=.*outside the sandbox environment; unset"):
            inputs.project_override(env)
    monkeypatch.setenv("OPS_PROJECT_DIR", str(package_project()))
    assert inputs.project_override("prod") == []  # the package's own project: no override
    monkeypatch.delenv("OPS_PROJECT_DIR")
    assert inputs.project_override("prod") == []


def test_the_catalog_s_tasks_bind_their_role_and_scheduled_ones_the_schedule() -> None:
    catalog = load_catalog()
    ec2 = inputs.bind(catalog.get("INFO-005"), "sandbox")
    roles = {k.split("/")[1] for k in ec2.files if k.startswith("roles/")}
    assert roles == {"ec2_power", "ec2_targets"}  # ec2_power includes ec2_targets
    assert {"playbooks/info-005-ec2-stop.yml", "catalog/info.yml", "policy/change.yml",
            "desired_state/esa/sandbox.yml", "ansible.cfg"} <= set(ec2.files)
    assert not any(k.startswith(("schedule/", "inventories/prod/")) for k in ec2.files)
    assert ec2.project_dir == str(project_root())
    core = inputs.bind(catalog.get("CORE-049"), "prod")
    assert "schedule/calendar.yml" in core.files and "inventories/prod/hosts.yml" in core.files
