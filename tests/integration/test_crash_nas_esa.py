"""Crash-safe applies of the NAS copy (STAT-011) and of an ESA sender-group change (CORE-023), issue 23 items 5
and 6: ``ops-driver apply`` killed with SIGKILL while a module's test hook holds the run at a named point
(tests/support/crash.py ``HookHold``), then ``ops-driver evidence recover``, then a new plan that must show exactly
what is left, and its apply that must finish the work. Deterministic: the signal is sent once the hook says the
run is at its point, never after a sleep; the hook is let go only once the run's processes are gone, so a step
after the point could only be made by an orphan nobody records - and the tests check it was not.

Points: the NAS copy between two files (``before_write`` of persons.csv: detail/part-001.csv is in place, the
other two are not started) and with a file complete in its ``.part`` but not renamed (``before_rename`` of
persons.csv: issue item 5); the ESA change with its edits pending (``before_commit``: the appliance drops them
with the session) and once committed (``after_commit``: the change is made, the driver does not know yet).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ops_sandbox
from ops_driver.evidence import bundles, guards, ledger
from ops_driver.paths import evidence_dir
from ops_driver.run import pipeline
from tests.integration.conftest import write_request
from tests.support.approvals import approved
from tests.support.crash import HookHold, apply_of, cli, marked, start_apply

pytestmark = pytest.mark.integration

COPIED = ["detail/part-001.csv", "persons.csv", "summary.csv"]  # the order the module copies them in
CORE = "esa-core-sandbox01"
CORE_PROMPT = "esa-core-sandbox01.example.jp"  # the host name its CLI prompt gives (EsaSession.where)
ADD = ["198.51.100.77", "198.51.100.78"]


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``root`` (hidden ``.part`` files included)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def hold() -> Iterator[HookHold]:
    h = HookHold()
    yield h
    h.close()


@pytest.fixture()
def nas(sandbox_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh sandbox NAS shares (nas/prod/work/2026-11 with three files, nas/maint)."""
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(sandbox_server["dir"]))
    root = Path(sandbox_server["dir"]) / "nas"
    shutil.rmtree(root, ignore_errors=True)
    ops_sandbox.seed_nas(root)
    return root


@pytest.fixture()
def esa(sandbox_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sandbox's ESA simulator with every appliance back to its seeded state; its folder."""
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(sandbox_server["dir"]))
    d = Path(sandbox_server["dir"]) / "esa"
    ops_sandbox.esa.seed(d)
    return d


def _core_blacklist(d: Path) -> list[str]:
    sim = ops_sandbox.simulators.load("esa")
    return list(sim.sender_group_entries(ops_sandbox.esa.state_file(d, CORE), "InboundMail", "BLACKLIST"))


def _core_commits(d: Path) -> list[dict[str, Any]]:
    sim = ops_sandbox.simulators.load("esa")
    return list(sim.effective_state(ops_sandbox.esa.state_file(d, CORE)).get("commits") or [])


def _kill_held_apply(plan_id: str, hook_env: dict[str, str], hold: HookHold,
                     expect_at: str) -> tuple[str, dict[str, Any]]:
    """Start the apply of ``plan_id`` with ``hook_env``, wait until the hook holds it at ``expect_at``, SIGKILL the
    driver, wait for the driver's guard to end the run's processes, then let the hook go (a process of the run
    still alive would go on from there: none must be). Returns the apply's run ID and its written-ahead manifest."""
    hold.arm(expect_at)
    driver = start_apply(plan_id, OPS_TEST_HOOKS="1", **hook_env)
    try:
        assert hold.wait(600, driver) == expect_at
    finally:
        if driver.poll() is not None:
            print(driver.communicate())
    apply_id = apply_of(plan_id)
    start = bundles.bundle(apply_id).manifest()
    assert start["status"] == "running" and start["process"]["pid"] == driver.pid  # on the record already
    marker = start["place"]["marker"]
    driver.send_signal(signal.SIGKILL)
    driver.communicate(timeout=600)
    assert driver.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 120  # the guard ends the run's processes when the driver dies: a poll for it
    while marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked(marker) == []
    hold.release()
    return apply_id, start


def _recover(apply_id: str) -> dict[str, Any]:
    """``ops-driver evidence recover --json`` closes the one interrupted apply; its summary."""
    assert bundles.bundle(apply_id).manifest()["status"] == "running"
    recovered = cli("evidence", "recover", "--json")
    assert recovered.returncode == 3, recovered.stderr
    out = json.loads(recovered.stdout)
    assert out["closed"] == 1
    run: dict[str, Any] = next(r for r in out["runs"] if r["run_id"] == apply_id)
    assert run["state"] == "interrupted"
    return run


def _check_closed(apply_id: str, plan_id: str, start: dict[str, Any], host: str, task: str) -> dict[str, Any]:
    """The interrupted apply's record (``task``: the start of the held task's name on ``host``), the consumed
    plan, the free lock, a verified ledger, nothing left behind."""
    b = bundles.bundle(apply_id)
    m = b.manifest()
    assert (m["status"], m["exit_code"]) == ("interrupted", 3), m["message"]
    events, _ = bundles.read_events(b.path / "events.jsonl")
    started = [str(e["event_data"]["task"]) for e in events
               if e.get("event") == "runner_on_start" and e["event_data"].get("host") == host]
    assert any(t.startswith(task) for t in started), started  # streamed: the task the kill interrupted had started
    # the changes the streamed events show: no host result said changed (the module held never returned; the ESA
    # role's preflight ran in check mode and says so: its would-be changes are not changes made) ...
    assert not [e for e in events if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed")
                and e["event_data"]["res"].get("ops_check_mode") is not True]
    assert b.read_json("changes.json") == []
    # ... and the task that had started without a result is named, to be checked
    assert [t for t in m["interrupted"]["unfinished"] if t["host"] == host and t["task"].startswith(task)], m[
        "interrupted"]["unfinished"]
    assert "had started and not finished" in m["message"]
    assert [(e.kind, e.run_id) for e in ledger.entries(evidence_dir()) if e.run_id == apply_id] == [
        ("start", apply_id), ("apply", apply_id)]
    assert marked(start["place"]["marker"]) == []
    assert not Path(start["place"]["private_dir"]).exists()
    tmp = Path.home() / ".ansible" / "tmp"
    assert not tmp.is_dir() or list(tmp.iterdir()) == []
    again = cli("apply", "--quiet", plan_id)
    assert again.returncode == 4 and f"applied or interrupted: see {apply_id}" in again.stderr, again.stderr
    with guards.environment_lock(evidence_dir() / ".locks", "sandbox", "the test", wait_s=0):
        pass
    verified = cli("evidence", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return m


# --- STAT-011: the NAS copy ---------------------------------------------------------------------------------------

COPY_TASK = "Copy, archive or extract with SHA-256 manifests"


def _nas_request(path: Path) -> Path:
    return write_request(path, "STAT-011", {"source_dir": "work/2026-11", "dest_dir": "from-prod",
                                            "items": ["*.csv", "detail"], "personal_data": False,
                                            "personal_data_reason": "test data"})


@pytest.mark.parametrize("point", ["before_write", "before_rename"])
def test_a_nas_copy_killed_part_way_is_recovered_and_a_new_plan_copies_exactly_what_is_left(
        nas: Path, hold: HookHold, tmp_path: Path, point: str) -> None:
    """Killed between two files (before_write) or with persons.csv whole in its ``.part`` (before_rename): the
    file copied before stays, the ``.part`` is removed by recovery and never renamed into place, and the new plan
    copies the two files that are left."""
    source, dest = nas / "prod" / "work" / "2026-11", nas / "maint" / "from-prod"
    plan = pipeline.plan(_nas_request(tmp_path / "r.yml"))
    assert plan.exit_code == 0, plan.message
    assert sorted(c["name"] for c in plan.changes if c["changed"]) == COPIED
    plan_id = approved(plan.run_id)
    apply_id, start = _kill_held_apply(plan_id, {f"OPS_TEST_HOOK_NAS_{point.upper()}": str(hold.script)},
                                       hold, "persons.csv")
    want = _tree(source)
    here = _tree(dest)
    if point == "before_rename":
        parts = [p for p in here if p.startswith(".persons.csv.part-")]
        assert len(parts) == 1 and here[parts[0]] == want["persons.csv"]  # whole, never renamed into place
        part_file = str(dest / parts[0])
    else:
        part_file = None
        assert not any(".part-" in p for p in here)
    assert {k: v for k, v in here.items() if ".part-" not in k} == {"detail/part-001.csv": want["detail/part-001.csv"]}

    run = _recover(apply_id)
    assert run["part_files"] == ([part_file] if part_file else [])
    m = _check_closed(apply_id, plan_id, start, "nas-sandbox", COPY_TASK)
    assert m["interrupted"]["part_files"] == run["part_files"]
    if part_file:
        assert "1 partial NAS file(s) removed" in m["message"]
    # no .part left, and nothing was renamed into place after the kill: only the file copied before it
    assert _tree(dest) == {"detail/part-001.csv": want["detail/part-001.csv"]}

    replan = pipeline.plan(_nas_request(tmp_path / "again.yml"))
    assert replan.exit_code == 0, replan.message
    assert sorted(c["name"] for c in replan.changes if c["changed"]) == ["persons.csv", "summary.csv"]
    assert {c["name"]: c["action"] for c in replan.changes}["detail/part-001.csv"] == "none"
    done = pipeline.apply(approved(replan.run_id))
    assert done.exit_code == 0, done.message
    assert _tree(dest) == want
    assert cli("evidence", "verify").returncode == 0


# --- CORE-023: an ESA sender-group change ------------------------------------------------------------------------

CHANGE_TASK = "Sender groups of the appliance"  # "- change" (templated)


def _esa_request(path: Path) -> Path:
    return write_request(path, "CORE-023", {"operation": "change", "sender_groups": ["BLACKLIST"], "add": ADD},
                         ticket="REQ-TEST-023")


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_an_esa_change_killed_at_its_commit_is_recovered_and_a_new_plan_adds_exactly_what_is_left(
        esa: Path, hold: HookHold, tmp_path: Path, point: str) -> None:
    """Killed with the additions pending (the appliance drops them with the session: both are left) or once the
    appliance committed them (the change is made, the record names the unfinished task: nothing is left)."""
    before = _core_blacklist(esa)
    assert not set(ADD) & set(before)
    plan = pipeline.plan(_esa_request(tmp_path / "r.yml"))
    assert plan.exit_code == 0, plan.message
    assert [c["host"] for c in plan.changes if c["changed"]] == [CORE]
    plan_id = approved(plan.run_id)
    apply_id, start = _kill_held_apply(plan_id, {f"OPS_TEST_HOOK_ESA_{point.upper()}": str(hold.script)},
                                       hold, CORE_PROMPT)
    left = ADD if point == "before_commit" else []
    assert _core_blacklist(esa) == before + [a for a in ADD if a not in left]
    assert len(_core_commits(esa)) == (0 if left else 1)

    _recover(apply_id)
    _check_closed(apply_id, plan_id, start, CORE, CHANGE_TASK)
    assert _core_blacklist(esa) == before + [a for a in ADD if a not in left]  # recovery changed nothing there

    replan = pipeline.plan(_esa_request(tmp_path / "again.yml"))
    assert replan.exit_code == 0, replan.message
    adds = [c["after"]["add"] for c in replan.changes if c["changed"]]
    assert adds == ([left] if left else [])
    done = pipeline.apply(approved(replan.run_id))
    assert done.exit_code == 0, done.message
    assert _core_blacklist(esa) == before + ADD
    commits = _core_commits(esa)
    assert len(commits) == 1 and commits[0]["comment"].startswith("REQ-TEST-023 CORE-023")  # made once
    assert cli("evidence", "verify").returncode == 0
