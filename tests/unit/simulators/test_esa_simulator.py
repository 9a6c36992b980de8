"""tools/esa_sim/esasim.py: the ESA (AsyncOS) CLI SIMULATOR over real SSH on loopback - dialogue, state, faults."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from ops_sandbox import procs, simulators

SIM = simulators.path("esa")
esasim = simulators.load("esa")

USER, PASSWORD = "admin", "sandbox pass phrase"
HOSTNAME = "esa-comm-sandbox01.example.jp"
BIG_HOSTNAME = "esa-big.example.jp"
BIG = [f"10.{i // 250}.{i % 250}.1" for i in range(10_000)]
OLD = "13.5.1-277"  # AsyncOS before 14.0: the list sender groups are WHITELIST / BLACKLIST


@dataclass
class Sim:
    dir: Path
    config: Path
    apps: list[dict[str, Any]]
    proc: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return int(self.apps[0]["port"])

    @property
    def big_port(self) -> int:
        return int(self.apps[1]["port"])

    @property
    def state(self) -> Path:
        return self.dir / "esa-comm-sandbox01.json"

    @property
    def log(self) -> Path:
        return self.dir / "esa-comm-sandbox01.commands.log"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    def seed(self) -> None:
        esasim.seed_esa(self.dir, self.apps, username=USER, password=PASSWORD)

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.log.read_text().splitlines()]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("esasim") / "sim"
    p1, p2 = procs.free_ports(2)
    apps = [{"name": "esa-comm-sandbox01", "hostname": HOSTNAME, "port": p1, "version": OLD,
             "sender_groups": {"WHITELIST": ["10.1.1.1", ".partner.example.jp"], "BLACKLIST": ["198.51.100.7"]}},
            {"name": "esa-big", "hostname": BIG_HOSTNAME, "port": p2, "version": OLD,
             "sender_groups": {"WHITELIST": BIG}}]
    config = esasim.seed_esa(d, apps, username=USER, password=PASSWORD)
    pid_file = d / "esasim.pid"
    proc = subprocess.Popen([sys.executable, str(SIM), "serve", "--config", str(config), "--pid-file", str(pid_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while not pid_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the simulator did not start: {proc.communicate()[1].decode()}")
        time.sleep(0.02)
    assert int(pid_file.read_text()) == proc.pid
    yield Sim(d, config, apps, proc)
    proc.terminate()
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    assert not pid_file.exists()


@pytest.fixture()
def esa(server: Sim) -> Sim:
    server.seed()  # fresh state and empty logs for every test (the host key is kept)
    return server


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


class Cli:
    """A small expect helper: every answer is read up to the next prompt (menu ``[...]> `` or the top prompt)."""

    def __init__(self, proc: asyncssh.SSHClientProcess[str], hostname: str) -> None:
        self.proc = proc
        self.hostname = hostname
        self.top = f"\n{hostname}> "
        self.prompt = re.compile(rf"(?:\[[^\]\r\n]*\]> |\n{re.escape(hostname)}> )\Z")
        self.banner = ""

    async def expect(self, timeout: float = 10) -> str:
        buf: list[str] = []
        tail = ""
        while not self.prompt.search(tail):
            chunk = await asyncio.wait_for(self.proc.stdout.read(1 << 16), timeout)
            if not chunk:
                raise EOFError("".join(buf))
            buf.append(chunk)
            tail = (tail + chunk)[-300:]
        return "".join(buf)

    async def send(self, line: str, timeout: float = 10) -> str:
        self.proc.stdin.write(line + "\n")
        return await self.expect(timeout)

    async def to_group(self, group: str, listener: str = "InboundMail") -> str:
        for line in ("listenerconfig", "edit", listener, "hostaccess", "edit", "1"):
            await self.send(line)
        return await self.send(group)

    async def to_top(self) -> str:
        for _ in range(6):
            out = await self.send("")
            if out.endswith(self.top):
                return out
        raise AssertionError("not back at the top prompt")

    async def commit(self, comment: str) -> str:
        out = await self.send("commit")
        assert out.endswith("[]> ") and "Please enter some comments describing your changes:" in out
        out = await self.send(comment)
        assert out.endswith("Do you want to save the current configuration for rollback? [Y]> ")
        return await self.send("Y")


@contextlib.asynccontextmanager
async def shell(port: int, known_hosts: Path, *, hostname: str = HOSTNAME, password: str = PASSWORD,
                term_type: str | None = None) -> AsyncIterator[Cli]:
    conn = await asyncssh.connect("127.0.0.1", port, username=USER, password=password, known_hosts=str(known_hosts),
                                  client_keys=None, agent_path=None, preferred_auth="password")
    try:
        proc = await conn.create_process(term_type=term_type)
        cli = Cli(proc, hostname)
        cli.banner = await cli.expect()
        yield cli
    finally:
        conn.close()
        await conn.wait_closed()


def entries(esa: Sim, group: str = "WHITELIST") -> list[str]:
    return esasim.sender_group_entries(esa.state, "InboundMail", group)


def scenario(esa: Sim, body: Callable[[Cli], Coroutine[Any, Any, Any]], **kw: Any) -> Any:
    async def go() -> Any:
        async with shell(esa.port, esa.known_hosts, **kw) as cli:
            return await body(cli)
    return run(go())


# -- sender syntax (no server) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sender", [
    "10.1.1.1", "10.1.1.", "10.1.1", "10.", "10", "10.1.1.10-20", "10.1.1-5.", "10.1.1-5", "10-20.",
    "10.1.1.0/24", "10.1/16", "2001:db8::1", "2001:DB8::1", "2001:db8::/32", "2001:db8::2-2001:db8::10",
    "crm.example.com", "Mail-1.Example.JP", ".example.com", ".jp", "SBRS[7.5:10.0]", "SBRS[-10:-3.0]", "SBRS[none]",
    "SBO:12345", "dnslist[query.blacklist.example]", "xn--r8jz45g.example.jp", "1host.example.jp",
])
def test_valid_senders(sender: str) -> None:
    assert esasim.valid_sender(sender), sender


@pytest.mark.parametrize("sender", [
    "user@example.jp", "@example.jp", "256.1.1.1", "10.1.1.300", "10.1.1.1.", "10.1.1.1.1", "10.1.1.20-10",
    "10.1.1.10-300", "10.1.1.1-5.", "10.1.1.1-10.1.1.5", "10.1.1.0/33", "10.1.1.0/", "/24", "2001:db8::/129",
    "2001:db8::10-2001:db8::2", "2001:db8::g", "fe80::1%eth0", "host", "ALL", "-bad.example.jp", "bad-.example.jp",
    "ex ample.jp", "under_score.example.jp", "example.jp.", "..example.jp", "a..example.jp",
    "SBRS[11:12]", "SBRS[5:1]", "SBRS[]", "SBO:", "SBO:abc", "dnslist[]", "dnslist[nodot]", "", "例え.jp",
    "10.1.1.1/24/8",
    "x" * 64 + ".example.jp",
])
def test_invalid_senders(sender: str) -> None:
    assert not esasim.valid_sender(sender), sender


def test_duplicate_key_is_case_insensitive_for_host_names_only() -> None:
    assert esasim.sender_key("Mail.Example.JP") == esasim.sender_key("mail.example.jp")
    assert esasim.sender_key(".Partner.example.jp") == ".partner.example.jp"
    assert esasim.sender_key("2001:DB8::1") != esasim.sender_key("2001:db8::1")


# -- seeding ---------------------------------------------------------------------------------------------------
def test_seed_writes_config_known_hosts_and_state(tmp_path: Path) -> None:
    d = tmp_path / "esa"
    apps = [{"name": "esa-comm-sandbox01", "hostname": HOSTNAME, "port": 2221, "version": OLD,
             "sender_groups": {"WHITELIST": ["10.1.1.1", "10.1.1.1", "Mail.example.jp", "mail.EXAMPLE.jp"],
                               "OutboundMail/RELAYLIST": ["192.0.2.0/24"]}}]
    config_path = esasim.seed_esa(d, apps, username=USER, password=PASSWORD)
    assert config_path == d / "esasim.json"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    config = json.loads(config_path.read_text())
    assert config["host"] == "127.0.0.1" and config["host_key"] == str(d / "host_key")
    assert config["users"] == {USER: {"password_sha256": hashlib.sha256(PASSWORD.encode()).hexdigest()}}
    assert config["appliances"] == [{"name": "esa-comm-sandbox01", "port": 2221,
                                     "state": str(d / "esa-comm-sandbox01.json"),
                                     "log": str(d / "esa-comm-sandbox01.commands.log")}]
    key = asyncssh.read_private_key(str(d / "host_key"))
    line = (d / "known_hosts").read_text()
    algorithm, blob = key.export_public_key().decode().split()[:2]
    assert line == f"[127.0.0.1]:2221 {algorithm} {blob}\n"
    assert line.startswith("[127.0.0.1]:2221 ssh-ed25519 AAAA")
    state = esasim.read_state(d / "esa-comm-sandbox01.json")
    assert (state["hostname"], state["model"], state["version"], state["commits"], state["faults"]) == (
        HOSTNAME, "C600V", OLD, [], {})
    inbound, outbound = state["listeners"]
    assert (inbound["name"], inbound["type"], outbound["name"], outbound["type"]) == (
        "InboundMail", "Public", "OutboundMail", "Private")
    assert [(g["name"], g["policy"], g["hosts"]) for g in inbound["sender_groups"]] == [
        ("WHITELIST", "$TRUSTED", ["10.1.1.1", "Mail.example.jp"]), ("BLACKLIST", "$BLOCKED", []),
        ("SUSPECTLIST", "$THROTTLED", ["SBRS[-3.0:-1.0]"]),
        ("UNKNOWNLIST", "$ACCEPTED", ["SBRS[-1.0:10.0]", "SBRS[none]"]), ("ALL", "$ACCEPTED", [])]
    assert [(g["name"], g["policy"], g["hosts"]) for g in outbound["sender_groups"]] == [
        ("RELAYLIST", "$RELAYED", ["192.0.2.0/24"]), ("ALL", "$BLOCKED", [])]
    # idempotent: re-seeding overwrites the state and keeps the host key (known_hosts stays valid)
    esasim.arm_fault(d / "esa-comm-sandbox01.json", "commit_fail", 2)
    esasim.seed_esa(d, apps, username=USER, password=PASSWORD)
    assert (d / "known_hosts").read_text() == line
    assert esasim.read_state(d / "esa-comm-sandbox01.json")["faults"] == {}


def test_seed_refuses_bad_input(tmp_path: Path) -> None:
    app = {"name": "esa1", "hostname": "esa1.example.jp", "port": 2221}
    with pytest.raises(ValueError, match="loopback"):
        esasim.seed_esa(tmp_path / "a", [app], username=USER, password=PASSWORD, host="0.0.0.0")
    with pytest.raises(ValueError, match="not a valid sender"):
        esasim.seed_esa(tmp_path / "b", [dict(app, sender_groups={"BLACKLIST": ["spam@example.jp"]})],
                        username=USER, password=PASSWORD)
    with pytest.raises(ValueError, match="unique TCP port"):
        esasim.seed_esa(tmp_path / "c", [app, dict(app, name="esa2")], username=USER, password=PASSWORD)


def test_serve_refuses_a_non_loopback_address(esa: Sim, tmp_path: Path) -> None:
    config = json.loads(esa.config.read_text())
    config["host"] = "0.0.0.0"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, str(SIM), "serve", "--config", str(bad)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    assert "loopback address only" in proc.stderr and "0.0.0.0" in proc.stderr


# -- the SSH server --------------------------------------------------------------------------------------------
def test_login_banner_and_top_prompt(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        assert cli.banner.startswith("Last login: ")
        assert "\r\nAsyncOS 13.5.1 for Cisco C600V build 277 (SIMULATOR)\r\n" in cli.banner
        assert cli.banner.endswith(f"\r\nWelcome to the Cisco C600V Email Security Virtual Appliance\r\n{HOSTNAME}> ")
        out = await cli.send("showconfig now")
        assert out == f"showconfig now\r\nUnknown command or missing feature key: showconfig\r\n{HOSTNAME}> "
        assert await cli.send("") == f"\r\n{HOSTNAME}> "
    scenario(esa, body, term_type="xterm")  # on a PTY the line typed is echoed


def test_wrong_password_is_refused(esa: Sim) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        scenario(esa, lambda cli: asyncio.sleep(0), password="wrong")
    assert esa.log.read_text() == ""


def test_host_key_is_checked_against_known_hosts(esa: Sim, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{esa.port} {other[0]} {other[1]}\n")

    async def go() -> None:
        async with shell(esa.port, wrong):
            pass
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        run(go())
    assert esa.log.read_text() == ""


def test_unknown_listener_is_an_error(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        out = await cli.send("listenerconfig")
        assert "Currently configured listeners:\r\n1. InboundMail (on Data 1, 192.0.2.10) SMTP TCP Port 25 Public\r\n" \
               "2. OutboundMail (on Data 2, 192.0.2.11) SMTP TCP Port 25 Private\r\n" in out
        assert (await cli.send("EDIT")).endswith("Enter the name or number of the listener you wish to edit.\r\n[]> ")
        out = await cli.send("NoSuchListener")
        assert out.startswith('\r\nError: No listener named "NoSuchListener".\r\n\r\nCurrently configured listeners:')
        assert out.endswith("- SETUP - Change global settings.\r\n[]> ")
        assert (await cli.send("")).endswith(cli.top)
    scenario(esa, body)


def test_hostaccess_print_shows_the_hat(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        for line in ("listenerconfig", "edit", "1"):
            out = await cli.send(line)
        assert "Name: InboundMail\r\nType: Public\r\n" in out and "- HOSTACCESS - Modify the Host Access Table." in out
        out = await cli.send("hostaccess")
        assert "There are currently 4 policies defined.\r\nThere are currently 5 sender groups.\r\n" in out
        out = await cli.send("print")
        hat = out.split("\r\n\r\nDefault Policy Parameters")[0].replace("\r\n", "\n")
        assert hat.startswith("\n$BLOCKED\n    REJECT {}\n\n$TRUSTED\n    ACCEPT {\n")
        assert ("WHITELIST:\n    10.1.1.1\n    .partner.example.jp\n"
                "    $TRUSTED (My trusted senders have no anti-spam scanning or rate limiting)\n\n"
                "BLACKLIST:\n    198.51.100.7\n    $BLOCKED (Spammers are rejected)\n\n") in hat
        assert hat.endswith("ALL\n    $ACCEPTED (Everyone else)\n")
        assert out.endswith("RESET - Remove senders and set policies to system default.\r\n[]> ")
        await cli.to_top()
        out = await cli.to_group("RELAYLIST", listener="OutboundMail")
        assert "NEW - Add a new host." in out
        assert (await cli.send("print")).startswith("\r\nRELAYLIST:\r\n    $RELAYED (")
    scenario(esa, body)


def test_unknown_sender_group_is_an_error(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        for line in ("listenerconfig", "edit", "InboundMail", "hostaccess", "edit"):
            out = await cli.send(line)
        assert out.endswith("\r\n1. Edit Sender Group\r\n2. Edit Policy\r\n[1]> ")
        out = await cli.send("")
        assert ("Currently configured HAT sender groups:\r\n1. WHITELIST (My trusted senders have no anti-spam "
                "scanning or rate limiting)\r\n") in out
        assert "\r\n5. (no name, first host = ALL) (Everyone else)\r\n" in out
        out = await cli.send("whitelist")  # names are matched case-sensitively
        assert out.startswith('\r\nError: No sender group named "whitelist".\r\n')
        assert "PRINT - Display the table" in out
    scenario(esa, body)


def test_new_senders_then_commit(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        out = await cli.to_group("WHITELIST")
        assert out.endswith("- RENAME - Rename this sender group.\r\n[]> ")
        out = await cli.send("new")
        assert "Separate multiple hosts with commas\r\n[]> " in out
        out = await cli.send(" 192.0.2.1 , .new.example.jp,10.1.1.1, 192.0.2.1,,")
        assert out == ("\r\nThe following senders are already in this sender group and were not added: 10.1.1.1, "
                       "192.0.2.1\r\n\r\nEnter a comment for these senders (optional).\r\n[]> ")
        out = await cli.send("CHG-1 partners")
        assert out.endswith("- RENAME - Rename this sender group.\r\n[]> ")
        out = await cli.send("print")
        assert out.startswith("\r\nWHITELIST:\r\n    10.1.1.1\r\n    .partner.example.jp\r\n    192.0.2.1\r\n"
                              "    .new.example.jp\r\n    $TRUSTED (")
        assert entries(esa) == ["10.1.1.1", ".partner.example.jp"]  # pending only
        await cli.to_top()
        out = await cli.commit("CHG-1 add partners")
        when = r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4}"
        assert re.fullmatch(rf"\r\nChanges committed: {when} GMT\r\n{re.escape(HOSTNAME)}> ", out)
        assert (await cli.send("commit")) == f"\r\nThere is no data to commit.\r\n{HOSTNAME}> "
    scenario(esa, body)
    assert entries(esa) == ["10.1.1.1", ".partner.example.jp", "192.0.2.1", ".new.example.jp"]
    [commit] = esasim.read_state(esa.state)["commits"]
    assert commit["user"] == USER and commit["comment"] == "CHG-1 add partners" and commit["at"]
    records = esa.log_records()
    assert [r["line"] for r in records[:7]] == ["listenerconfig", "edit", "InboundMail", "hostaccess", "edit", "1",
                                                "WHITELIST"]
    assert {r["user"] for r in records} == {USER} and len({r["session"] for r in records}) == 1
    assert records[-1]["line"] == "commit" and len(records) == 19


def test_delete_by_text_and_by_number(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        await cli.to_group("WHITELIST")
        out = await cli.send("delete")
        assert out.endswith("\r\nEnter the sender to delete, or its number:\r\n1. 10.1.1.1\r\n"
                            "2. .partner.example.jp\r\n[]> ")
        out = await cli.send(".PARTNER.example.jp")  # host names: case-insensitive
        assert out.startswith("\r\n\r\nChoose the operation you want to perform:")
        await cli.send("delete")
        out = await cli.send("9")
        assert out.startswith('\r\nError: "9" is not in this sender group.\r\n')
        await cli.send("delete")
        out = await cli.send("198.51.100.7")
        assert out.startswith('\r\nError: "198.51.100.7" is not in this sender group.\r\n')
        await cli.send("delete")
        await cli.send("1")
        assert (await cli.send("delete")).startswith("\r\nThere are no senders in this sender group.\r\n")
        await cli.to_top()
        assert "Changes committed:" in await cli.commit("remove")
    scenario(esa, body)
    assert entries(esa) == []


def test_invalid_sender_refuses_the_whole_answer(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        await cli.to_group("BLACKLIST")
        await cli.send("new")
        out = await cli.send("203.0.113.9, spammer@example.jp, 10.1.1.300, bad_host.example.jp")
        assert out == ('\r\nError: "spammer@example.jp" is not a valid sender.\r\n'
                       'Error: "10.1.1.300" is not a valid sender.\r\n'
                       'Error: "bad_host.example.jp" is not a valid sender.\r\n[]> ')
        out = await cli.send(" , ")
        assert out.startswith("\r\nError: No senders entered.\r\n\r\nChoose the operation you want to perform:")
        await cli.to_top()
        assert "There is no data to commit." in await cli.send("commit")
    scenario(esa, body)
    assert entries(esa, "BLACKLIST") == ["198.51.100.7"]


def test_pending_changes_are_lost_on_disconnect_and_exit(esa: Sim) -> None:
    async def add(cli: Cli) -> None:
        await cli.to_group("BLACKLIST")
        await cli.send("new")
        await cli.send("203.0.113.9")
        await cli.send("")
    scenario(esa, add)  # the connection closes without commit

    async def check(cli: Cli) -> None:
        await cli.to_group("BLACKLIST")
        assert "203.0.113.9" not in await cli.send("print")
        await add(cli)
        await cli.to_top()
        cli.proc.stdin.write("exit\n")
        with pytest.raises(EOFError) as e:
            await cli.expect()
        assert str(e.value) == "\r\nUncommitted changes were discarded.\r\n"
    scenario(esa, check)
    assert entries(esa, "BLACKLIST") == ["198.51.100.7"]
    assert esasim.read_state(esa.state)["commits"] == []
    sessions = [r["session"] for r in esa.log_records()]
    assert len(set(sessions)) == 2 and sessions == sorted(sessions)


def test_clear_drops_pending_changes(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        assert (await cli.send("clear")) == f"\r\nThere are no changes to clear.\r\n{HOSTNAME}> "
        await cli.to_group("WHITELIST")
        await cli.send("delete")
        await cli.send("10.1.1.1")
        await cli.to_top()
        out = await cli.send("clear")
        assert out.endswith("\r\nAre you sure you want to clear all changes since the last commit? [Y]> ")
        assert (await cli.send("N")).endswith(cli.top)
        await cli.send("clear")
        out = await cli.send("")
        assert re.fullmatch(rf"\r\nChanges cleared: .* GMT\r\n{re.escape(HOSTNAME)}> ", out)
        await cli.to_group("WHITELIST")
        assert "    10.1.1.1\r\n" in await cli.send("print")
        await cli.to_top()
        assert "There is no data to commit." in await cli.send("commit")
    scenario(esa, body)
    assert entries(esa) == ["10.1.1.1", ".partner.example.jp"]


def test_commit_fail_fault_keeps_the_changes_pending(esa: Sim) -> None:
    before = esasim.read_state(esa.state)
    esasim.arm_fault(esa.state, "commit_fail", 1)  # armed while the server runs

    async def body(cli: Cli) -> None:
        await cli.to_group("WHITELIST")
        await cli.send("new")
        await cli.send("192.0.2.44")
        await cli.send("")
        await cli.to_top()
        out = await cli.commit("first try")
        assert out.startswith("\r\nError: The changes could not be committed: ") and out.endswith(cli.top)
        after = esasim.read_state(esa.state)
        assert after["faults"] == {"commit_fail": 0}
        assert after["listeners"] == before["listeners"] and after["commits"] == []
        assert "Changes committed:" in await cli.commit("second try")
    scenario(esa, body)
    assert entries(esa)[-1] == "192.0.2.44"
    assert [c["comment"] for c in esasim.read_state(esa.state)["commits"]] == ["second try"]


def test_disconnect_on_commit_fault(esa: Sim) -> None:
    before = esasim.read_state(esa.state)
    esasim.arm_fault(esa.state, "disconnect_on_commit", 1)

    async def body(cli: Cli) -> None:
        await cli.to_group("WHITELIST")
        await cli.send("new")
        await cli.send("192.0.2.45")
        await cli.send("")
        await cli.to_top()
        await cli.send("commit")
        await cli.send("dropped")
        cli.proc.stdin.write("Y\n")
        with pytest.raises((EOFError, asyncssh.Error, ConnectionError)):
            await cli.expect()
    scenario(esa, body)
    after = esasim.read_state(esa.state)
    assert after["faults"] == {"disconnect_on_commit": 0}
    assert after["listeners"] == before["listeners"] and after["commits"] == []
    assert esa.log_records()[-1]["line"] == "Y"


def test_two_sessions_do_not_lose_each_others_commits(esa: Sim) -> None:
    async def go() -> None:
        async with shell(esa.port, esa.known_hosts) as a, shell(esa.port, esa.known_hosts) as b:
            for cli, sender in ((a, "192.0.2.1"), (b, "192.0.2.2")):
                await cli.to_group("WHITELIST")
                await cli.send("delete")
                await cli.send("10.1.1.1")  # both delete the same entry
                await cli.send("new")
                await cli.send(sender)
                await cli.send("")
                await cli.to_top()
            assert "Changes committed:" in await a.commit("a")
            assert "Changes committed:" in await b.commit("b")
            await b.to_group("WHITELIST")
            assert "    192.0.2.1\r\n    192.0.2.2\r\n" in await b.send("print")
    run(go())
    assert entries(esa) == [".partner.example.jp", "192.0.2.1", "192.0.2.2"]
    assert [c["comment"] for c in esasim.read_state(esa.state)["commits"]] == ["a", "b"]


def test_delay_fault_slows_every_prompt(esa: Sim) -> None:
    async def body(cli: Cli) -> None:
        esasim.arm_fault(esa.state, "delay_ms", 300)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await cli.send("", timeout=0.1)
        assert (await cli.expect()).endswith(cli.top)
        assert time.monotonic() - started >= 0.3
        esasim.arm_fault(esa.state, "delay_ms", None)
        assert esasim.read_state(esa.state)["faults"].get("delay_ms") is None
        assert (await cli.send("")).endswith(cli.top)
    scenario(esa, body)


def test_ten_thousand_entries(esa: Sim) -> None:
    async def go() -> None:
        async with shell(esa.big_port, esa.known_hosts, hostname=BIG_HOSTNAME) as cli:
            for line in ("listenerconfig", "edit", "InboundMail", "hostaccess"):
                await cli.send(line)
            out = await cli.send("print")
            assert out.count("\r\n    10.") == 10_000
            assert parse_group(out, "WHITELIST") == BIG
            await cli.send("edit")
            await cli.send("1")
            await cli.send("WHITELIST")
            for i in range(100):
                out = await cli.send("delete")
                assert out.count("\r\n") >= 10_000 - i
                out = await cli.send(BIG[i])
                assert "Error" not in out
            added = [f"192.0.2.{i}" for i in range(100)]
            out = await cli.send("new")
            out = await cli.send(", ".join(added))
            assert "Error" not in out
            await cli.send("")
            await cli.to_top()
            assert "Changes committed:" in await cli.commit("bulk")
    run(go())  # correctness only; the time is measured by `make bench` (bench/esa.py)
    assert esasim.sender_group_entries(esa.dir / "esa-big.json", "InboundMail", "WHITELIST") == BIG[100:] + [
        f"192.0.2.{i}" for i in range(100)]


def parse_group(hat: str, group: str) -> list[str]:
    lines = hat.split("\r\n")
    start = lines.index(group + ":") + 1
    out = []
    for line in lines[start:]:
        if line.strip().startswith("$"):
            break
        out.append(line.strip())
    return out


def test_command_log_and_state_helpers(esa: Sim) -> None:
    assert os.path.getsize(esa.log) == 0  # never contacted since seeding
    assert (esa.dir / "esa-big.commands.log").read_text() == ""
    with pytest.raises(KeyError):
        esasim.sender_group_entries(esa.state, "InboundMail", "NOPE")
    state = esasim.read_state(esa.state)
    state["hostname"] = "renamed.example.jp"
    esasim.write_state(esa.state, state)
    assert esasim.read_state(esa.state)["hostname"] == "renamed.example.jp"
    assert not [p for p in esa.dir.iterdir() if p.name.endswith(".tmp")]


# -- AsyncOS 14+, cluster levels, the pager under a PTY (issue #25) ---------------------------------------------
ANY_PROMPT = re.compile(r"(?:\[[^\]\r\n]*\]> |\n(?:\((?:Cluster|Group|Machine) [^)]+\)|[A-Za-z0-9.-]+)> |"
                        r"-Press Any Key For More-)\Z")
PAIR = ["esa-pair01.example.jp", "esa-pair02.example.jp"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two machines of the cluster ``esa-pair`` (HAT at the cluster level, AsyncOS 15) and a standalone 15.x."""
    d = tmp_path_factory.mktemp("esapair") / "sim"
    ports = procs.free_ports(3)
    apps = [{"name": "esa-pair01", "hostname": PAIR[0], "port": ports[0], "cluster": "esa-pair",
             "sender_groups": {"WHITELIST": ["10.1.1.1"]}},
            {"name": "esa-pair02", "hostname": PAIR[1], "port": ports[1], "cluster": "esa-pair"},
            {"name": "esa-new", "hostname": "esa-new.example.jp", "port": ports[2],
             "sender_groups": {"WHITELIST": BIG[:100]}}]
    clusters = {"esa-pair": {"level": "cluster", "group": "Main_Group"}}
    config = esasim.seed_esa(d, apps, username=USER, password=PASSWORD, clusters=clusters)
    pid_file = d / "esasim.pid"
    proc = subprocess.Popen([sys.executable, str(SIM), "serve", "--config", str(config), "--pid-file", str(pid_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not pid_file.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the simulator did not start"
        time.sleep(0.02)
    yield d, apps, clusters
    proc.terminate()
    proc.communicate(timeout=15)


class Raw:
    """A PTY shell read up to any prompt, the pager included (the answer is returned as the appliance sent it)."""

    def __init__(self, proc: asyncssh.SSHClientProcess[str]) -> None:
        self.proc = proc

    async def read(self) -> str:
        buf = ""
        while not ANY_PROMPT.search(buf[-300:]):
            chunk = await asyncio.wait_for(self.proc.stdout.read(1 << 16), 10)
            if not chunk:
                raise EOFError(buf)
            buf += chunk
        return buf

    async def send(self, data: str) -> str:
        self.proc.stdin.write(data)
        return await self.read()


def raw_shell(d: Path, port: int, body: Callable[[Raw, str], Coroutine[Any, Any, Any]]) -> Any:
    async def go() -> Any:
        conn = await asyncssh.connect("127.0.0.1", port, username=USER, password=PASSWORD,
                                      known_hosts=str(d / "known_hosts"), client_keys=None, agent_path=None,
                                      preferred_auth="password")
        try:
            proc = await conn.create_process(term_type="vt100", term_size=(4096, 4096))
            raw = Raw(proc)
            return await body(raw, await raw.read())
        finally:
            conn.close()
            await conn.wait_closed()
    return run(go())


def test_a_clustered_machine_logs_in_at_the_cluster_level_and_commits_for_the_whole_cluster(pair: Any) -> None:
    d, apps, clusters = pair
    esasim.seed_states(d, apps, clusters)

    async def body(cli: Raw, banner: str) -> None:
        assert banner.endswith("\r\n(Cluster esa-pair)> ")
        out = await cli.send("version\n")
        assert out.startswith("version\r\n") and "\r\nVersion: 15.0.0-104\r\n" in out and "\r\nModel: C600V\r\n" in out
        out = await cli.send("clustermode\n")
        assert "Choose the configuration mode.\r\n1. Cluster: esa-pair\r\n2. Group\r\n3. Machine\r\n[1]> " in out
        out = await cli.send("3\n")
        assert f"Choose a machine.\r\n1. {PAIR[0]}\r\n2. {PAIR[1]}\r\n[1]> " in out
        assert (await cli.send("1\n")).endswith(f"\r\n(Machine {PAIR[0]})> ")
        out = await cli.send("listenerconfig\n")  # configured at the cluster level: the mode question
        assert "configured in cluster mode; you are in machine mode" in out and out.endswith("\r\n[1]> ")
        out = await cli.send("1\n")  # switch to the cluster level and go on
        assert "Currently configured listeners:" in out
        for line in ("edit", "1", "hostaccess", "edit", "1", "ALLOWED_LIST", "new", "192.0.2.77", "", "", "", "", ""):
            out = await cli.send(line + "\n")
        assert out.endswith("\r\n(Cluster esa-pair)> ")
        assert "There is no data to commit." not in await cli.send("commit\n")
        await cli.send("CHG-PAIR\n")
        assert "Changes committed: " in await cli.send("Y\n")
        assert "There is no data to commit." in await cli.send("commit\n")
    raw_shell(d, apps[0]["port"], body)
    for name in ("esa-pair01", "esa-pair02"):  # one commit, both machines
        assert esasim.sender_group_entries(d / f"{name}.json", "InboundMail", "ALLOWED_LIST") == ["10.1.1.1",
                                                                                               "192.0.2.77"]
        assert esasim.sender_group_entries(d / f"{name}.json", "InboundMail", "WHITELIST")[-1] == "192.0.2.77"
    assert esasim.read_state(d / "cluster-esa-pair.json")["commits"][-1]["machine"] == "esa-pair01"


def test_long_output_stops_at_the_pager_on_a_pty_and_a_space_goes_on(pair: Any) -> None:
    d, apps, clusters = pair
    esasim.seed_states(d, apps, clusters)

    async def body(cli: Raw, banner: str) -> None:
        assert banner.endswith("\r\nesa-new.example.jp> ")
        for line in ("listenerconfig", "edit", "1", "hostaccess"):
            await cli.send(line + "\n")
        out = await cli.send("print\n")
        assert out.endswith("-Press Any Key For More-") and "ALLOWED_LIST:" in out
        assert len(out.split("\r\n")) == esasim.PAGER_LINES + 1
        pages = 1
        while out.endswith("-Press Any Key For More-"):
            out = await cli.send(" ")
            assert out.startswith("\r" + " " * len("-Press Any Key For More-") + "\r")
            pages += 1
        assert out.endswith("\r\n[]> ") and pages >= 3
        assert "BLOCKED_LIST:" in out or pages > 3
    raw_shell(d, apps[2]["port"], body)
    lines = [json.loads(x)["line"] for x in (d / "esa-new.commands.log").read_text().splitlines()]
    assert lines == ["listenerconfig", "edit", "1", "hostaccess", "print"]  # pager keys are not lines


def test_clear_asks_the_real_question_and_drops_the_pending_change(pair: Any) -> None:
    d, apps, clusters = pair
    esasim.seed_states(d, apps, clusters)

    async def body(cli: Raw, banner: str) -> None:
        for line in ("listenerconfig", "edit", "1", "hostaccess", "edit", "1", "BLOCKED_LIST", "new", "192.0.2.66",
                     "", "", "", "", ""):
            out = await cli.send(line + "\n")
        out = await cli.send("clear\n")
        assert out.endswith("\r\nAre you sure you want to clear all changes since the last commit? [Y]> ")
        assert (await cli.send("Y\n")).endswith("\r\nesa-new.example.jp> ")
        assert "There is no data to commit." in await cli.send("commit\n")
    raw_shell(d, apps[2]["port"], body)
    assert esasim.sender_group_entries(d / "esa-new.json", "InboundMail", "BLOCKED_LIST") == []
