"""``ops-driver record`` (ops_driver/records/manual.py): the record of manual work as evidence, and its refusals."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ops_driver.cli import main
from ops_driver.evidence import bundles, governance, ledger
from ops_driver.records import manual


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TODAY", "2026-12-07")
    monkeypatch.delenv("OPS_OPERATOR", raising=False)


#: The store as `evidence init` leaves it (tests/conftest.py): what "nothing written" looks like.
EMPTY_STORE = {"ledger.jsonl": b""}


def state(base: Path) -> dict[str, bytes]:
    """Every file under ``base`` with its bytes (to show that a refusal wrote nothing)."""
    if not base.exists():
        return {}
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_a_record_is_a_bundle_with_its_ledger_line(_scratch_dirs: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    shot = tmp_path / "console.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    csv = tmp_path / "スクリーン一覧.csv"
    csv.write_text("id,state\ni-1,ok\n", encoding="utf-8")
    assert main(["record", "INFO-001", "--result", "done", "--note", "backups checked\nall green",
                 "--attach", str(shot), "--attach", str(csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    run_id = out["run_id"]
    assert "-INFO-001-record-" in run_id
    b = bundles.bundle(run_id, _scratch_dirs)
    m = b.manifest()
    assert (m["kind"], m["task"], m["environment"], m["date"], m["result"], m["status"], m["exit_code"]) == (
        "record", "INFO-001", "prod", "2026-12-07", "done", "done", 0)
    assert m["note"] == "backups checked\nall green" and m["today_override"] == "2026-12-07"
    assert m["operator_source"] == "system" and m["operator"] == m["os_account"]
    files = {a["name"]: a for a in m["attachments"]}
    assert files["console.png"]["sha256"] == hashlib.sha256(shot.read_bytes()).hexdigest()
    assert files["console.png"]["bytes"] == 264 and files["console.png"]["file"] == "attachment-1-console.png"
    assert files["スクリーン一覧.csv"]["file"] == "attachment-2-_.csv"
    assert (b.path / "attachment-1-console.png").read_bytes() == shot.read_bytes()  # byte for byte
    assert bundles.verify(b) == []
    lines = ledger.entries(_scratch_dirs)
    assert [(e.kind, e.run_id, e.sha256) for e in lines] == [("record", run_id, governance.manifest_sha256(b))]
    assert governance.verify_all(_scratch_dirs) == {}
    assert "backups checked" in (b.path / "report.md").read_text(encoding="utf-8")


def test_evidence_list_verify_and_show_know_records(_scratch_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "COMM-014", "--result", "ng", "--note", "web01 slow", "--date", "2026-12-04"]) == 0
    run_id = manual_run(_scratch_dirs)
    capsys.readouterr()
    assert main(["evidence", "list"]) == 0
    assert f"record   {run_id}  [COMM-014 2026-12-04 prod: ng]" in capsys.readouterr().out
    assert main(["evidence", "verify"]) == 0
    assert f"{run_id}: OK" in capsys.readouterr().out
    assert main(["evidence", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert "Record of manual work: COMM-014" in shown and "web01 slow" in shown and "**ng**" in shown
    (_scratch_dirs / run_id / "report.md").write_text("edited\n", encoding="utf-8")
    assert main(["evidence", "verify"]) == 4
    assert "report.md: altered" in capsys.readouterr().out


def manual_run(base: Path) -> str:
    return next(p.name for p in base.iterdir() if "-record-" in p.name)


@pytest.mark.parametrize(("argv", "message"), [
    (["record", "XX-999", "--result", "done"], "task: unknown catalog ID 'XX-999'"),
    (["record", "INFO-001", "--result", "ok"], "invalid choice: 'ok'"),
    (["record", "INFO-001", "--result", "done", "--date", "2026-12-08"], "--date: 2026-12-08 is in the future"),
    (["record", "INFO-001", "--result", "done", "--date", "2026-02-30"], "--date: '2026-02-30' is not a date"),
    (["record", "INFO-001", "--result", "ng"], "--note: an ng result needs a note"),
    (["record", "INFO-001", "--result", "ng", "--note", "  "], "--note: an ng result needs a note"),
    (["record", "INFO-001", "--result", "done", "--note", "ok\x1b[2J"], "--note: holds the control"),
    (["record", "INFO-001", "--result", "done", "--note", "a\u202eb"], "--note: holds the control or format"),
    (["record", "INFO-001", "--result", "done", "--environment", "staging"], "--environment: 'staging'"),
    (["record", "INFO-001", "--result", "done", "--attach", "/nonexistent/shot.png"], "no such attachment"),
    (["record", "INFO-001", "--result", "done", "--attach", "/tmp"], "/tmp: cannot read the attachment"),
])
def test_refusals_exit_2_and_write_nothing(argv: list[str], message: str, _scratch_dirs: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = state(_scratch_dirs)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert state(_scratch_dirs) == before


def test_an_oversized_or_fifo_attachment_is_refused_without_reading_it(_scratch_dirs: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(manual, "MAX_ATTACHMENT_BYTES", 1024)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 1025)
    assert main(["record", "INFO-001", "--result", "done", "--attach", str(big)]) == 2
    assert "larger than" in capsys.readouterr().err
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # nobody writes to it: a blocking read would hang the command
    assert main(["record", "INFO-001", "--result", "done", "--attach", str(fifo)]) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert state(_scratch_dirs) == EMPTY_STORE


def test_an_attachment_name_with_a_control_character_is_refused(_scratch_dirs: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "shot\x1b[31m.png"
    bad.write_bytes(b"png")
    assert main(["record", "INFO-001", "--result", "done", "--attach", str(bad)]) == 2
    assert "rename the file" in capsys.readouterr().err and state(_scratch_dirs) == EMPTY_STORE


def test_a_declared_operator_is_the_sandbox_s_only(_scratch_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "INFO-001", "--result", "done", "--operator", "sato"]) == 4
    assert "accepted only in the sandbox" in capsys.readouterr().err and state(_scratch_dirs) == EMPTY_STORE
    assert main(["record", "INFO-001", "--result", "skipped", "--operator", "sato", "--environment", "sandbox",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m = bundles.bundle(out["run_id"], _scratch_dirs).manifest()
    assert (m["operator"], m["operator_source"], m["environment"], m["result"]) == ("sato", "declared", "sandbox",
                                                                                   "skipped")


def test_a_ledger_that_refuses_the_line_leaves_no_bundle(_scratch_dirs: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise ledger.LedgerCorrupt("ledger.jsonl: the last line is not an entry")

    monkeypatch.setattr(ledger, "append", refuse)
    with pytest.raises(ledger.LedgerCorrupt):
        manual.record("INFO-001", "done", base=_scratch_dirs)
    assert state(_scratch_dirs) == EMPTY_STORE
