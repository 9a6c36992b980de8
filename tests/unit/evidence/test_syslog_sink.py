"""Ledger lines leave the control node as they are written (evidence/syslog_sink.py, issue #24 item 5): a syslog
listener on 127.0.0.1 receives them, and a consistently rewritten ledger verifies on its own but not against the
syslog copy."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_driver.cli import main
from ops_driver.evidence import governance, ledger, syslog_sink
from tests.unit.evidence.test_governance import make_bundle


@pytest.fixture()
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A UDP syslog listener on 127.0.0.1; ``$OPS_SYSLOG`` points at it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)  # a bound on a lost datagram, not a wait: every recv below has its datagram already sent
    monkeypatch.setenv("OPS_SYSLOG", f"udp://127.0.0.1:{s.getsockname()[1]}")
    monkeypatch.setenv("OPS_SYSLOG_FACILITY", "local3")
    yield s
    s.close()


def _received(s: socket.socket, n: int) -> list[str]:
    return [s.recv(65536).decode("utf-8") for _ in range(n)]


def test_every_ledger_line_is_sent_as_written(listener: socket.socket, tmp_path: Path) -> None:
    make_bundle(tmp_path, "p1")
    make_bundle(tmp_path, "p2", change_class="standard")
    got = _received(listener, 2)
    lines = ledger.path_of(tmp_path).read_text(encoding="utf-8").splitlines()
    # <PRI> = local3 (19) x 8 + info (6); then the RFC 3164 time stamp, the tag and the line exactly as written
    assert [g.startswith("<158>") and g.endswith(f"]: {line}") and " ops-driver[" in g
            for g, line in zip(got, lines, strict=True)] == [True, True]


def test_a_rewritten_ledger_verifies_alone_but_not_against_the_syslog_copy(
        listener: socket.socket, tmp_path: Path, _scratch_dirs: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    base = _scratch_dirs
    for run_id in ("p1", "p2", "p3"):
        make_bundle(base, run_id, change_class="standard")
    export = tmp_path / "syslog-export.log"
    export.write_text("".join(f"Dec  7 02:10:29 ctl {m.split(' ', 3)[3]}\n" for m in _received(listener, 3)),
                      encoding="utf-8")  # as rsyslog writes them to a file
    assert main(["evidence", "verify", "--against", str(export)]) == 0
    # the forger edits p2's manifest and rebuilds the chain with the ledger's own code, syslog switched off
    monkeypatch.setenv("OPS_SYSLOG", "off")
    m = base / "p2" / "manifest.json"
    m.write_text(m.read_text(encoding="utf-8").replace('"standard"', '"minor"'), encoding="utf-8")
    old = ledger.entries(base)
    ledger.path_of(base).unlink()
    for e in old:
        sha = governance.manifest_sha256(governance.bundles.bundle(e.run_id, base)) if e.run_id == "p2" else e.sha256
        ledger.append(base, e.kind, e.run_id, sha, now=dt.datetime.fromisoformat(e.at.replace("Z", "+00:00")))
    assert governance.verify_all(base) == {}  # consistent: the chain alone cannot tell
    capsys.readouterr()
    assert main(["evidence", "verify", "--against", str(export)]) == 4
    out = capsys.readouterr().out
    assert "syslog copy: FAILED: ledger line 2 (seq 2) differs from the syslog copy" in out
    problems = syslog_sink.compare(ledger.path_of(base), export)
    assert len(problems) == 2 and '"run_id":"p2"' in problems[0]  # p2, then p3 (its prev hash)


def test_a_cut_ledger_and_a_second_sending_are_named(listener: socket.socket, tmp_path: Path) -> None:
    for run_id in ("p1", "p2"):
        make_bundle(tmp_path, run_id, change_class="standard")
    export = tmp_path / "export.log"
    export.write_text("\n".join(_received(listener, 2)) + "\n", encoding="utf-8")
    lines = ledger.path_of(tmp_path).read_text(encoding="utf-8").splitlines(keepends=True)
    ledger.path_of(tmp_path).write_text(lines[0], encoding="utf-8")
    assert syslog_sink.compare(ledger.path_of(tmp_path), export) == [
        f"the syslog copy holds seq 2 past the ledger's end (seq 1): the ledger was cut short: {lines[1].strip()}"]
    ledger.append(tmp_path, "plan", "p9", "0" * 64)  # seq 2 again, a different line, sent too
    with export.open("a", encoding="utf-8") as f:
        f.write(_received(listener, 1)[0] + "\n")
    assert "holds 2 different lines for seq 2" in syslog_sink.compare(ledger.path_of(tmp_path), export)[0]


def test_a_failed_sending_is_a_warning_and_a_note_never_a_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_SYSLOG", f"unix:{tmp_path / 'no-such-socket'}")
    e = ledger.append(tmp_path, "plan", "p1", "0" * 64)
    assert e.seq == 1 and len(ledger.entries(tmp_path)) == 1
    assert "warning: ledger line not sent to syslog" in capsys.readouterr().err
    note = json.loads((tmp_path / syslog_sink.UNDELIVERED).read_text(encoding="utf-8"))
    assert note["line"] == ledger.path_of(tmp_path).read_text(encoding="utf-8").strip()
    monkeypatch.setenv("OPS_SYSLOG", "tcp://127.0.0.1:514")
    ledger.append(tmp_path, "plan", "p2", "0" * 64)
    assert "use unix:/dev/log, udp://HOST:PORT or off" in capsys.readouterr().err
