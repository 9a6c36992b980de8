"""COMM-025 / CORE-023 through ops-driver against the ESA SIMULATOR (tools/esa_sim) of the sandbox.

The communication system's two appliances are one cluster whose HAT is kept at the cluster level (AsyncOS 15:
ALLOWED_LIST / BLOCKED_LIST): a change is committed once, through esa-comm-sandbox01, and verified on
esa-comm-sandbox02. The core system's appliance is standalone on AsyncOS 13.5 (WHITELIST / BLACKLIST).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import ops_sandbox
from ops_driver.evidence import bundles
from ops_driver.paths import project_root
from ops_driver.run import pipeline
from tests.integration.conftest import write_request
from tests.support.approvals import approved

pytestmark = pytest.mark.integration
COMM = ["esa-comm-sandbox01", "esa-comm-sandbox02"]
CORE = ["esa-core-sandbox01"]
DESIRED = yaml.safe_load((project_root() / "desired_state" / "esa" / "sandbox.yml").read_text())


class Esa:
    """The simulated appliances of the sandbox: their committed entries, command logs and fault switches."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.sim = ops_sandbox.simulators.load("esa")

    def state(self, name: str) -> dict[str, Any]:
        """The configuration the appliance works with (the cluster's shared one for a clustered machine)."""
        result: dict[str, Any] = self.sim.effective_state(ops_sandbox.esa.state_file(self.dir, name))
        return result

    def entries(self, name: str, group: str, listener: str = "InboundMail") -> list[str]:
        result: list[str] = self.sim.sender_group_entries(ops_sandbox.esa.state_file(self.dir, name), listener, group)
        return result

    def commits(self, name: str) -> list[dict[str, Any]]:
        return list(self.state(name).get("commits") or [])

    def lines(self, name: str) -> list[str]:
        log = self.dir / f"{name}.commands.log"
        if not log.is_file():
            return []
        return [json.loads(x)["line"] for x in log.read_text().splitlines() if x.strip()]

    def sessions(self, name: str) -> int:
        log = self.dir / f"{name}.commands.log"
        if not log.is_file():
            return 0
        return len({json.loads(x)["session"] for x in log.read_text().splitlines() if x.strip()})

    def arm(self, name: str, fault: str, value: Any) -> None:
        self.sim.arm_fault(ops_sandbox.esa.state_file(self.dir, name), fault, value)

    def snapshot(self) -> dict[str, Any]:
        return {n: self.state(n)["listeners"] for n in COMM + CORE}


@pytest.fixture()
def esa(sandbox_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Esa:
    """The appliances as `sandbox up` seeds them (one entry off the desired state), command logs emptied."""
    monkeypatch.setenv("OPS_SANDBOX_DIR", str(sandbox_server["dir"]))
    d = Path(sandbox_server["dir"]) / "esa"
    ops_sandbox.esa.seed(d)
    for log in d.glob("*.commands.log"):
        log.unlink()
    return Esa(d)


def _req(tmp_path: Path, task: str = "COMM-025", name: str = "r.yml", ticket: str = "REQ-TEST-025",
         **params: Any) -> Path:
    return write_request(tmp_path / name, task, params, ticket=ticket)


def _bundle_text(out: pipeline.Outcome, name: str) -> str:
    return (out.path / name).read_text()


def test_inventory_writes_csv_and_difference_and_changes_nothing(esa: Esa, tmp_path: Path) -> None:
    before = esa.snapshot()
    plan = pipeline.plan(_req(tmp_path, operation="inventory"))
    assert plan.exit_code == 0, plan.message
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert esa.snapshot() == before
    assert not any(line == "commit" for n in COMM for line in esa.lines(n))
    assert bundles.verify(bundles.bundle(out.run_id, out.path.parent)) == []
    for host in COMM:
        assert out.manifest["evidence"]["esa"][host]["asyncos"]["sender_groups"] == {"WHITELIST": "ALLOWED_LIST",
                                                                                     "BLACKLIST": "BLOCKED_LIST"}
        rows = list(csv.DictReader(io.StringIO(_bundle_text(out, f"attachment-esa-inventory-{host}.csv"))))
        states = {(r["sender_group"], r["entry"]): r["state"] for r in rows}
        assert states[("WHITELIST", "192.0.2.99")] == "not_in_desired"
        assert states[("WHITELIST", "mail.gov-partner.example.jp")] == "missing_from_appliance"
        assert states[("BLACKLIST", "203.0.113.66")] == "in_desired"
        assert {r["appliance"] for r in rows} == {host}  # a cluster-level prompt names no machine
        groups = out.manifest["evidence"]["esa"][host]["groups"]
        assert groups["WHITELIST"]["missing_from_appliance"] == ["mail.gov-partner.example.jp"]
        assert groups["WHITELIST"]["not_in_desired"] == ["192.0.2.99"]
    assert not any(c["changed"] for c in out.changes)
    report = _bundle_text(out, "report.md")
    assert "## ESA sender groups" in report and "missing from the appliance: mail.gov-partner.example.jp" in report


def test_change_adds_on_every_appliance_of_the_group_check_mode_first(esa: Esa, tmp_path: Path) -> None:
    before = esa.snapshot()
    req = _req(tmp_path, operation="change", sender_groups=["WHITELIST"], add=["203.0.113.25", ".Mail.Example.org"])
    plan = pipeline.plan(req)
    assert plan.exit_code == 0, plan.message
    assert esa.snapshot() == before  # check mode changed nothing
    # one cluster: the change is made once, through the first appliance; the second reports it, not its own
    assert [c["host"] for c in plan.changes if c["changed"]] == [COMM[0]]
    assert all(c["after"]["add"] == ["203.0.113.25", ".mail.example.org"] for c in plan.changes if c["changed"])
    second = next(c for c in plan.changes if c["host"] == COMM[1])
    assert "cluster level: made once through esa-comm-sandbox01 (2 additions, 0 deletions)" in second["note"]
    stdout = _bundle_text(plan, "stdout.txt")
    assert "+203.0.113.25" in stdout  # the diff a reviewer reads
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert out.manifest["comparison"]["unpredicted"] == [] and out.manifest["comparison"]["not_done"] == []
    for host in COMM:
        assert esa.entries(host, "WHITELIST")[-2:] == ["203.0.113.25", ".mail.example.org"]
        assert esa.commits(host)[-1]["comment"].startswith("REQ-TEST-025 COMM-025")
    assert len(esa.commits(COMM[0])) == 1 and esa.commits(COMM[0])[0]["machine"] == COMM[0]
    assert esa.lines(COMM[1]).count("commit") == 0  # verified there, not changed twice
    hat = _bundle_text(out, f"attachment-esa-hat-before-{COMM[0]}.txt")
    assert "ALLOWED_LIST:" in hat and "192.0.2.99" in hat and "203.0.113.25" not in hat
    assert esa.state(CORE[0])["listeners"] == before[CORE[0]]  # the core system's ESA is another group
    # the same request again: nothing to do, reported, no commit
    again = pipeline.plan(_req(tmp_path, name="again.yml", operation="change", sender_groups=["WHITELIST"],
                                 add=["203.0.113.25", ".mail.example.org"]))
    assert again.exit_code == 0 and not any(c["changed"] for c in again.changes)
    assert "already in the sender group" in _bundle_text(again, "report.md")


def test_delete_reports_an_entry_that_is_not_there(esa: Esa, tmp_path: Path) -> None:
    plan = pipeline.plan(_req(tmp_path, operation="change", sender_groups=["BLACKLIST"],
                                delete=["203.0.113.66", "198.51.100.200"]))
    assert plan.exit_code == 0, plan.message
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    for host in COMM:
        assert "203.0.113.66" not in esa.entries(host, "BLACKLIST")
    groups = {h: out.manifest["evidence"]["esa"][h]["groups"]["BLACKLIST"] for h in COMM}
    assert groups[COMM[0]]["not_present"] == ["198.51.100.200"]  # the cluster's change, made through the first
    assert groups[COMM[1]]["made_through"] == COMM[0] and groups[COMM[1]]["verified_delete"] == ["203.0.113.66"]
    report = _bundle_text(out, "report.md")
    assert "198.51.100.200 is not in the sender group" in report  # a warning, not silence
    assert "not there, not deleted: 198.51.100.200" in report


def test_reconcile_makes_every_appliance_equal_to_the_desired_state(esa: Esa, tmp_path: Path) -> None:
    plan = pipeline.plan(_req(tmp_path, operation="reconcile"))
    assert plan.exit_code == 0, plan.message
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    want = DESIRED["comm"]["InboundMail"]
    for host in COMM:
        for group in ("WHITELIST", "BLACKLIST"):
            assert sorted(esa.entries(host, group)) == sorted(want[group])
        assert out.manifest["evidence"]["esa"][host]["round_trips"] < 45
    # one listenerconfig session reads, edits and commits for the whole cluster; no line per unchanged entry
    assert esa.lines(COMM[0]).count("commit") == 1 and esa.lines(COMM[1]).count("commit") == 0
    again = pipeline.plan(_req(tmp_path, name="again.yml", operation="reconcile"))
    assert again.exit_code == 0 and not any(c["changed"] for c in again.changes)


BAD = [
    ({"operation": "change", "sender_groups": ["WHITELIST"], "add": ["sato@example.jp"]}, "e-mail address"),
    ({"operation": "change", "sender_groups": ["WHITELIST"], "add": ["10.1.1.5/24"]}, "10.1.1.0/24"),
    ({"operation": "change", "sender_groups": ["WHITELIST"], "add": ["10.1.1.0/33"]}, "10.1.1.0/33"),
    ({"operation": "change", "sender_groups": ["WHITELIST"], "add": ["10.1.300.1"]}, "10.1.300.1"),
    ({"operation": "change", "sender_groups": ["WHITELIST"], "listener": "InboundMial", "add": ["192.0.2.1"]},
     "listener: InboundMial is not a listener"),
    ({"operation": "change", "sender_groups": ["WHITLIST"], "add": ["192.0.2.1"]}, "WHITLIST not a sender group"),
    ({"operation": "change", "sender_groups": ["WHITELIST"]}, "the change is empty"),
    ({"operation": "change", "sender_groups": ["WHITELIST"], "add": ["192.0.2.1"], "delete": ["192.0.2.1"]},
     "both added and deleted"),
    ({"operation": "change", "sender_groups": ["WHITELIST", "BLACKLIST"], "add": ["192.0.2.1"]},
     "exactly one sender group"),
    ({"operation": "reconcile", "max_changes": 1}, "more than max_changes 1"),
    ({"operation": "change", "sender_groups": ["WHITELIST"], "add": ["10."]}, "set allow_broad: true"),
    ({"operation": "change", "sender_groups": ["BLACKLIST"], "add": [".co.jp"]}, "public suffix .co.jp"),
    ({"operation": "change", "sender_groups": ["ALL"], "add": ["192.0.2.1"]},
     "sender_groups: ALL is the built-in catch-all sender group; it takes no senders"),
    ({"operation": "reconcile", "sender_groups": ["WHITELIST", "ALL"]}, "ALL is the built-in catch-all"),
]


@pytest.mark.parametrize(("params", "says"), BAD, ids=[b[1] for b in BAD])
def test_bad_input_exits_2_and_commits_nothing(esa: Esa, tmp_path: Path, params: dict[str, Any], says: str) -> None:
    before = esa.snapshot()
    out = pipeline.plan(_req(tmp_path, **params))
    assert out.exit_code == 2, out.message
    assert says in out.message
    assert out.message.count("failed;") == 1 and "not started: esa-comm-sandbox02" in out.message
    assert esa.snapshot() == before
    assert not any(line == "commit" for n in COMM + CORE for line in esa.lines(n))
    if "listener" not in params and "WHITLIST" not in str(params) and "max_changes" not in params:
        assert all(esa.sessions(n) == 0 for n in COMM + CORE)  # refused before any appliance was contacted


def test_failed_commit_on_the_first_appliance_never_touches_the_second(esa: Esa, tmp_path: Path) -> None:
    plan = pipeline.plan(_req(tmp_path, operation="change", sender_groups=["WHITELIST"], add=["203.0.113.25"]))
    assert plan.exit_code == 0, plan.message
    esa.arm(COMM[0], "commit_fail", 1)
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3
    assert "done before it: none" in out.message and "not started: esa-comm-sandbox02" in out.message
    # the second appliance was only read (plan, preflight): never edited, never committed
    assert not {"new", "delete", "commit"} & set(esa.lines(COMM[1]))
    assert "203.0.113.25" not in esa.entries(COMM[0], "WHITELIST")


def test_connection_dropped_during_commit_is_checked_in_a_new_session(esa: Esa, tmp_path: Path) -> None:
    before = esa.snapshot()
    plan = pipeline.plan(_req(tmp_path, operation="change", sender_groups=["BLACKLIST"], delete=["203.0.113.66"]))
    esa.arm(COMM[0], "disconnect_on_commit", 1)
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 3
    assert esa.snapshot() == before
    restore = out.manifest["evidence"]["esa"][COMM[0]]["restore"]
    assert restore["verified"] is True


def test_password_never_reaches_evidence_or_output(esa: Esa, tmp_path: Path) -> None:
    password = (esa.dir / "password").read_text().strip()
    plan = pipeline.plan(_req(tmp_path, operation="change", sender_groups=["WHITELIST"], add=["203.0.113.25"]))
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    for b in (plan, out):
        for f in b.path.iterdir():
            assert password not in f.read_text(errors="replace"), f
    assert all(password not in line for n in COMM for line in esa.lines(n))


def test_unknown_host_key_is_refused(esa: Esa, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kh = esa.dir / "known_hosts"
    saved = kh.read_text()
    other = ops_sandbox.simulators.load("esa")
    try:
        fake = tmp_path / "other"
        other.seed_esa(fake, [{"name": "x", "hostname": "x.example.jp", "port": 1}], username="u", password="p" * 8)
        key = (fake / "known_hosts").read_text().split()[1:3]
        kh.write_text("".join(f"{line.split()[0]} {' '.join(key)}\n" for line in saved.splitlines()))
        out = pipeline.plan(_req(tmp_path, operation="inventory"))
        assert out.exit_code == 3
        assert "host key" in out.message
    finally:
        kh.write_text(saved)
    assert os.environ["OPS_SANDBOX_DIR"]


def test_an_appliance_that_stops_answering_times_out_and_nothing_is_committed(esa: Esa) -> None:
    from ops_driver.paths import inventory_dir
    from ops_driver.run.runner import run_playbook

    before = esa.snapshot()
    esa.arm(COMM[0], "delay_ms", 3000)  # every prompt 3 s late; the inventory allows 1 s here
    result = run_playbook(project_root() / "playbooks" / "comm-025-esa-sender-groups.yml", inventory_dir("sandbox"),
                          {"operation": "change", "sender_groups": ["WHITELIST"], "add": ["203.0.113.25"],
                           "esa_sender_groups_command_timeout": 1}, check=False)
    esa.arm(COMM[0], "delay_ms", None)
    assert result.failure_kind() == "failed"
    msg = " ".join(str(f.get("msg")) for f in result.failures)
    assert "no prompt within 1 s" in msg and "preflight check; nothing was changed on any appliance" in msg
    assert esa.snapshot() == before
    assert not {"new", "delete", "commit"} & set(esa.lines(COMM[1]))



def test_a_broad_entry_is_planned_when_the_request_allows_it(esa: Esa, tmp_path: Path) -> None:
    out = pipeline.plan(_req(tmp_path, operation="change", sender_groups=["WHITELIST"], add=["10."],
                               allow_broad=True))
    assert out.exit_code == 0, out.message
    assert all(c["after"]["add"] == ["10."] for c in out.changes if c["changed"])


def test_a_sender_group_changed_since_the_plan_is_drift_and_nothing_is_committed(esa: Esa, tmp_path: Path) -> None:
    plan = pipeline.plan(_req(tmp_path, operation="change", sender_groups=["WHITELIST"], add=["203.0.113.25"]))
    assert plan.exit_code == 0, plan.message
    shared = esa.sim.config_path(ops_sandbox.esa.state_file(esa.dir, COMM[1]))  # the cluster's configuration
    state = esa.sim.read_state(shared)  # someone edits the cluster's ALLOWED_LIST by hand after the plan
    allowed = next(g for g in state["listeners"][0]["sender_groups"] if g["name"] == "ALLOWED_LIST")
    allowed["hosts"].append("198.51.100.99")
    esa.sim.write_state(shared, state)
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 4, out.message
    assert "DRIFT: esa-comm-sandbox01 InboundMail/WHITELIST changed since the plan" in out.message
    assert "preflight check; nothing was changed on any appliance" in out.message
    for host in COMM:  # the preflight read every appliance before the first change: none was changed
        assert "203.0.113.25" not in esa.entries(host, "WHITELIST")
        assert esa.lines(host).count("commit") == 0 and "new" not in esa.lines(host)


def test_an_entry_added_to_the_desired_state_after_the_plan_is_refused_before_any_change(
        esa: Esa, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #24: the apply makes the planned changes; one the plan did not predict fails with DRIFT (exit 4).

    The driver already refuses an apply whose inputs changed since the plan (ops_driver.run.inputs, naming the
    desired-state file: tests/integration/test_governance.py); this test takes that layer away to show the role's
    own: the module acts on the planned additions and deletions and refuses any other."""
    from ops_driver.run import inputs

    monkeypatch.setattr(inputs, "check", lambda *args, **kwargs: None)
    project = tmp_path / "project"  # a copy of the project whose desired state can be edited
    project.mkdir()
    for entry in project_root().iterdir():
        if entry.name in ("desired_state", "playbooks"):
            shutil.copytree(entry, project / entry.name)
        elif not entry.name.startswith(".") and entry.name != "evidence":
            (project / entry.name).symlink_to(entry)
    monkeypatch.setenv("OPS_PROJECT_DIR", str(project))
    before = esa.snapshot()
    plan = pipeline.plan(_req(tmp_path, operation="reconcile"))
    assert plan.exit_code == 0, plan.message
    planned = plan.manifest["apply_extravars"]["ops_planned_esa_changes"]
    assert planned[COMM[0]]["WHITELIST"] == {"add": ["mail.gov-partner.example.jp"], "delete": ["192.0.2.99"]}
    desired = project / "desired_state" / "esa" / "sandbox.yml"
    doc = yaml.safe_load(desired.read_text())
    doc["comm"]["InboundMail"]["WHITELIST"].append("198.18.0.0/16")  # edited after the review, not re-planned
    desired.write_text(yaml.safe_dump(doc))
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 4, out.message
    assert "DRIFT: esa-comm-sandbox01 InboundMail: the change differs from the reviewed plan" in out.message
    assert "WHITELIST add not planned: 198.18.0.0/16" in out.message
    assert "preflight check; nothing was changed on any appliance" in out.message
    assert esa.snapshot() == before
    for host in COMM:
        assert not {"new", "delete", "commit"} & set(esa.lines(host))


def test_a_newline_in_the_ticket_of_a_direct_run_is_refused_before_the_appliance_is_contacted(esa: Esa) -> None:
    """Issue #22: ansible-playbook run directly (no ops-driver request check): the module refuses the comment."""
    from ops_driver.paths import inventory_dir
    from ops_driver.run.runner import run_playbook

    before = esa.snapshot()
    result = run_playbook(project_root() / "playbooks" / "comm-025-esa-sender-groups.yml", inventory_dir("sandbox"),
                          {"operation": "change", "sender_groups": ["WHITELIST"], "add": ["203.0.113.25"],
                           "ops_ticket": "REQ-1\ncommit"}, check=False)
    msg = " ".join(str(f.get("msg")) for f in result.failures)
    assert "INVALID INPUT: comment: holds the control character '\\n'" in msg, msg
    assert esa.snapshot() == before
    assert all(esa.sessions(n) == 0 for n in COMM + CORE)


def test_core_appliance_on_asyncos_13_keeps_the_old_list_names(esa: Esa, tmp_path: Path) -> None:
    plan = pipeline.plan(_req(tmp_path, task="CORE-023", operation="change", sender_groups=["BLACKLIST"],
                                add=["198.51.100.77"]))
    assert plan.exit_code == 0, plan.message
    out = pipeline.apply(approved(plan.run_id))
    assert out.exit_code == 0, out.message
    assert out.manifest["evidence"]["esa"][CORE[0]]["asyncos"]["sender_groups"] == {"BLACKLIST": "BLACKLIST"}
    assert esa.entries(CORE[0], "BLACKLIST")[-1] == "198.51.100.77"
    assert esa.commits(CORE[0])[-1]["comment"].startswith("REQ-TEST-025 CORE-023")
