"""module_utils/esa_cli.py and library/esa_sender_group.py against REPLAYED AsyncOS answers, without the simulator.

Every answer is a byte-exact fixture in ``tests/fixtures/esa/`` (``README.md`` there names the source of each
one: Netshot's ``Cisco_AsyncOS.js``, Cisco's CLI test library, other ESA automation, the User Guide). A stand-in
channel (:class:`Replay`) checks each line the client writes against the script and answers with the next fixture,
so the client's prompt, pager, echo, cluster-mode, version, commit and clear handling is tested on the real
formats; the simulator's own tests are in test_esa_simulator.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic, esa_cli

from tests.support.modules import library_module

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "esa"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


class Replay:
    """Stand-in transport: ``steps`` is ``[(line the client must write, fixture answered), ...]``; the first step's
    line is None (the login banner). A write that is not the next expected one fails the test."""

    def __init__(self, steps: list[tuple[str | None, str]]) -> None:
        first, name = steps[0]
        assert first is None
        self.buf = fixture(name)
        self.steps = steps[1:]
        self.written: list[str] = []

    async def write(self, data: str) -> None:
        self.written.append(data)
        if data == "exit\n" and not self.steps:
            return  # closing the session
        assert self.steps, f"unexpected write {data!r} after the end of the script"
        want, name = self.steps.pop(0)
        assert data == want, f"the client wrote {data!r}, the script expects {want!r}"
        self.buf += fixture(name)

    async def readuntil(self, pattern: re.Pattern[str]) -> str:
        m = pattern.search(self.buf)
        if m is None:
            raise asyncio.IncompleteReadError(self.buf.encode(), None)
        out, self.buf = self.buf[:m.end()], self.buf[m.end():]
        return out


OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_sessions() -> Any:
    yield
    while OPEN:
        OPEN.pop().close()  # each session owns an event loop


def session(steps: list[tuple[str | None, str]]) -> tuple[Any, Replay]:
    chan = Replay(steps)
    s = esa_cli.EsaSession("192.0.2.10", 22, "opsadmin", "not-sent", "/dev/null", 5, 5, channel=chan)
    OPEN.append(s)
    s.open()
    return s, chan


READ_HAT = [("listenerconfig\n", "listenerconfig.txt"), ("edit\n", "listenerconfig-edit.txt"),
            ("InboundMail\n", "listener-menu.txt"), ("hostaccess\n", "hostaccess-menu.txt"),
            ("print\n", "hat-print-page1.txt"), (" ", "hat-print-page2.txt"), ("\n", "back-1.txt"),
            ("\n", "back-2.txt"), ("\n", "back-top.txt")]


@pytest.mark.parametrize(("text", "where"), [
    ("x\r\nesa01.example.jp> ", ("standalone", "esa01.example.jp")),
    ("x\r\n(Cluster esa-comm)> ", ("cluster", "esa-comm")),
    ("x\r\n(Cluster esa-comm) > ", ("cluster", "esa-comm")),  # Netshot's prompt allows a space before '>'
    ("x\r\n(Machine esa01.example.jp)> ", ("machine", "esa01.example.jp")),
    ("x\r\n(Group Main_Group)> ", ("group", "Main_Group")),
    ("x\r\n[]> ", None),
])
def test_top_prompts_of_a_standalone_and_a_clustered_appliance(text: str, where: tuple[str, str] | None) -> None:
    assert esa_cli.parse_prompt(text) == where


def test_login_at_the_cluster_level_reads_the_version_and_a_no_op_commit_is_no_change() -> None:
    s, chan = session([(None, "login-cluster.txt"), ("version\n", "version-15.txt"),
                       ("commit\n", "commit-no-data.txt")])
    assert (s.level, s.level_name, s.hostname) == ("cluster", "esa-comm", None)
    assert esa_cli.read_version(s) == {"version": "15.0.0-104", "major": 15, "model": "C600V"}
    assert esa_cli.commit(s, "REQ-1 COMM-025") is None  # "There is no data to commit.": nothing, never a failure
    assert s.round_trips == 2 and chan.written == ["version\n", "commit\n"]
    assert esa_cli.appliance_group_name("WHITELIST", 15) == "ALLOWED_LIST"
    assert esa_cli.appliance_group_name("BLOCKED_LIST", 13) == "BLACKLIST"
    assert esa_cli.appliance_group_name("SUSPECTLIST", 15) == "SUSPECTLIST"


def test_commit_answers_the_comment_and_the_rollback_question() -> None:
    comment = "REQ-2026-1207-001 COMM-025 ops-driver"
    s, _ = session([(None, "login-cluster.txt"), ("commit\n", "commit-comment.txt"),
                       (comment + "\n", "commit-rollback.txt"), ("Y\n", "commit-done.txt")])
    assert esa_cli.commit(s, comment) == "Changes committed: Mon Dec 07 02:12:40 2026 GMT"
    assert s.transcript[-1] == ["Y", "Changes committed: Mon Dec 07 02:12:40 2026 GMT"]  # the echo is dropped


def test_clear_answers_its_question() -> None:
    s, _ = session([(None, "login-cluster.txt"), ("clear\n", "clear-question.txt"), ("Y\n", "clear-done.txt")])
    assert esa_cli.clear(s) == "Changes cleared: Mon Dec 07 02:13:05 2026 GMT"


def test_clustermode_switches_to_the_machine_level() -> None:
    s, chan = session([(None, "login-cluster.txt"), ("clustermode\n", "clustermode-levels.txt"),
                       ("3\n", "clustermode-machines.txt"), ("1\n", "clustermode-machine-chosen.txt")])
    esa_cli.set_level(s, "machine", "esa-comm01")
    assert (s.level, s.hostname) == ("machine", "esa-comm01.example.jp")
    esa_cli.set_level(s, "machine", "esa-comm01.example.jp")  # already there: nothing sent
    assert len(chan.written) == 3


def test_a_standalone_appliance_refuses_a_cluster_level() -> None:
    s, chan = session([(None, "login-standalone.txt")])
    with pytest.raises(esa_cli.EsaCliError, match="not in a cluster") as e:
        esa_cli.set_level(s, "cluster")
    assert e.value.kind == "invalid" and chan.written == []


def test_the_mode_question_is_never_answered() -> None:
    s, chan = session([(None, "login-cluster.txt"), ("clustermode\n", "clustermode-levels.txt"),
                       ("3\n", "clustermode-machines.txt"), ("1\n", "clustermode-machine-chosen.txt"),
                       ("listenerconfig\n", "mode-question.txt")])
    esa_cli.set_level(s, "machine", "esa-comm01")
    with pytest.raises(esa_cli.EsaCliError, match="not configured at the machine level") as e:
        esa_cli.Hat(s, "InboundMail").read()
    assert e.value.kind == "invalid"
    assert chan.written[-1] == "exit\n"  # the session was dropped, no option chosen


def test_a_paged_print_is_read_whole_through_the_pager() -> None:
    s, chan = session([(None, "login-cluster.txt"), *READ_HAT])
    text, groups = esa_cli.Hat(s, "InboundMail").read()
    assert s.pages == 1 and " " in chan.written
    assert esa_cli.PAGER not in text and "\r" not in text
    assert list(groups) == ["ALLOWED_LIST", "BLOCKED_LIST", "ALL"]
    allowed = groups["ALLOWED_LIST"]["entries"]
    assert len(allowed) == 61 and allowed[-1] == ".partner.example.jp"
    assert groups["BLOCKED_LIST"]["entries"] == ["SBRS[-10.0:-3.0]", "203.0.113.66"]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "x\x1b]0;t\x07", "tab\there", "del\x7f", "c1\x9b"])
def test_a_control_character_is_never_sent(bad: str) -> None:
    s, chan = session([(None, "login-cluster.txt")])
    with pytest.raises(esa_cli.EsaCliError, match="control character") as e:
        s.send(bad)
    assert e.value.kind == "invalid" and chan.written == []
    with pytest.raises(esa_cli.EsaCliError, match="comment: holds the control character"):
        esa_cli.commit(s, "REQ-1" + bad)
    assert chan.written == []


def test_cli_parsers_read_the_hat_and_the_menus() -> None:
    hat = ("$BLOCKED\n    REJECT {}\n\n$TRUSTED\n    ACCEPT {\n        spam_check = \"off\"\n    }\n\n"
           "WHITELIST:\n    10.1.1.1\n    .partner.example.jp\n    $TRUSTED (My trusted senders)\n\n"
           "BLACKLIST:\n    $BLOCKED (Spammers are rejected)\n\nALL\n    $ACCEPTED (Everyone else)\n")
    groups = esa_cli.parse_hat(hat)
    assert list(groups) == ["WHITELIST", "BLACKLIST", "ALL"]
    assert groups["WHITELIST"]["entries"] == ["10.1.1.1", ".partner.example.jp"]
    assert groups["BLACKLIST"] == {"entries": [], "policy": "$BLOCKED (Spammers are rejected)"}
    menu = ("\nCurrently configured HAT sender groups:\n1. WHITELIST (My trusted senders)\n2. BLACKLIST (Spammers)\n"
            "3. (no name, first host = ALL) (Everyone else)\n\nEnter the sender group number or name you wish to edit.")
    assert esa_cli.parse_numbered(menu, "Currently configured HAT sender groups:") == ["WHITELIST", "BLACKLIST",
                                                                                       "ALL"]
    lines = esa_cli.sender_lines([f"10.0.{i // 256}.{i % 256}" for i in range(300)], limit=1000)
    assert all(len(x) <= 1000 for x in lines) and len(lines) == 4
    assert sum(len(x.split(", ")) for x in lines) == 300
    assert esa_cli.errors_in("\nError: \"x\" is not a valid sender.\n[]> ") == ['Error: "x" is not a valid sender.']


# -- the module, through the stand-in ------------------------------------------------------------------------------
ARGS = {"host": "192.0.2.10", "port": 22, "username": "opsadmin", "password": "pw-never-sent",
        "known_hosts": "/dev/null", "listener": "InboundMail", "cluster_mode": "cluster",
        "appliance": "esa-comm-prod01"}


def run_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: dict[str, Any],
               steps: list[tuple[str | None, str]] | None) -> tuple[dict[str, Any], list[Replay]]:
    mod = library_module("esa_sender_group")
    chans: list[Replay] = []

    def fake_session(*a: Any) -> Any:
        assert steps is not None, "the module contacted the appliance"
        chans.append(Replay(list(steps)))
        OPEN.append(esa_cli.EsaSession(*a, channel=chans[-1]))
        return OPEN[-1]

    monkeypatch.setattr(mod, "EsaSession", fake_session)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": dict(ARGS, **args)}).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        mod.main()
    return json.loads(capsys.readouterr().out), chans


def test_module_inventory_of_a_cluster_maps_the_list_names_of_asyncos_15(monkeypatch: pytest.MonkeyPatch,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out, chans = run_module(monkeypatch, capsys, {"operation": "inventory", "sender_groups": ["WHITELIST"]},
                            [(None, "login-cluster.txt"), ("version\n", "version-15.txt"), *READ_HAT])
    assert not out.get("failed"), out.get("msg")
    assert out["asyncos"]["sender_groups"] == {"WHITELIST": "ALLOWED_LIST"}
    assert out["asyncos"]["level"] == "cluster" and out["pages"] == 1 and out["changed"] is False
    assert len(out["groups"]["WHITELIST"]["before"]) == 61
    assert out["ops_changes"][0]["resource"] == "esa:esa-comm-prod01/InboundMail/ALLOWED_LIST"
    assert "pw-never-sent" not in json.dumps(out) and not any("pw-never-sent" in w for w in chans[0].written)


def test_module_refuses_a_change_the_plan_did_not_predict(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out, chans = run_module(monkeypatch, capsys, {
        "operation": "change", "sender_groups": ["WHITELIST"], "add": ["198.18.0.0/16"], "allow_broad": True,
        "comment": "REQ-1 COMM-025", "planned_changes": {"WHITELIST": {"add": ["192.0.2.1"], "delete": []}}},
        [(None, "login-cluster.txt"), ("version\n", "version-15.txt"), *READ_HAT])
    assert out["failed"] and out["msg"].startswith("DRIFT: esa-comm-prod01 InboundMail: the change differs")
    assert "WHITELIST add not planned: 198.18.0.0/16" in out["msg"]
    assert "WHITELIST add planned but no longer to do: 192.0.2.1" in out["msg"]
    assert not {"new\n", "delete\n", "commit\n"} & set(chans[0].written)


@pytest.mark.parametrize(("field", "value"), [("comment", "REQ-1\nlistenerconfig"), ("add", ["192.0.2.1\r"]),
                                              ("listener", "InboundMail\x1b[2J")])
def test_module_refuses_control_characters_before_contacting_the_appliance(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], field: str, value: Any) -> None:
    args = {"operation": "change", "sender_groups": ["WHITELIST"], "add": ["192.0.2.1"], "comment": "REQ-1",
            field: value}
    out, chans = run_module(monkeypatch, capsys, args, None)
    assert out["failed"] and out["msg"].startswith(f"INVALID INPUT: {field}: holds the control character")
    assert chans == []
