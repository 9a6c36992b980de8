"""The ledger (ops_driver/evidence/ledger.py): hash chain, head, corrupt lines, concurrent appends."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from ops_driver.errors import InvalidInput
from ops_driver.evidence import ledger


def _fill(base: Path, n: int) -> list[ledger.Entry]:
    return [ledger.append(base, "plan", f"run-{i}", f"{i:064x}") for i in range(1, n + 1)]


def _lines(base: Path) -> list[str]:
    return ledger.path_of(base).read_text(encoding="utf-8").splitlines()


def _write(base: Path, lines: list[str]) -> None:
    ledger.path_of(base).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_append_chains_each_line_to_the_one_before(tmp_path: Path) -> None:
    got = _fill(tmp_path, 3)
    assert [e.seq for e in got] == [1, 2, 3]
    assert got[0].prev == ledger.GENESIS
    lines = _lines(tmp_path)
    assert got[1].prev == ledger.line_hash(lines[0]) and got[2].prev == ledger.line_hash(lines[1])
    entries, problems = ledger.read(tmp_path)
    assert problems == [] and ledger.check_chain(entries) == []
    assert ledger.head(tmp_path) == (3, ledger.line_hash(lines[2]))
    assert json.loads(lines[0]) == {"at": got[0].at, "kind": "plan", "prev": ledger.GENESIS, "run_id": "run-1",
                                    "seq": 1, "sha256": f"{1:064x}"}


def test_ref_is_kept_and_empty_ledger_has_no_head(tmp_path: Path) -> None:
    assert ledger.head(tmp_path) is None
    e = ledger.append(tmp_path, "apply", "a-1", "0" * 64, ref="plan-1")
    assert ledger.entries(tmp_path)[0].ref == "plan-1" == e.ref


def test_edited_line_breaks_the_chain_at_the_next_line(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    lines = _lines(tmp_path)
    lines[1] = lines[1].replace("run-2", "run-X")
    _write(tmp_path, lines)
    problems = ledger.check_chain(ledger.read(tmp_path)[0])
    assert len(problems) == 1 and "line 3 (seq 3)" in problems[0] and "edited, removed or reordered" in problems[0]


def test_removed_line_is_a_sequence_gap_and_a_broken_link(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    lines = _lines(tmp_path)
    _write(tmp_path, [lines[0], lines[2]])
    problems = ledger.check_chain(ledger.read(tmp_path)[0])
    assert any("sequence number 3, expected 2" in p for p in problems)
    assert any("previous-line hash" in p for p in problems)


def test_reordered_lines_are_caught(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    lines = _lines(tmp_path)
    _write(tmp_path, [lines[1], lines[0], lines[2]])
    problems = ledger.check_chain(ledger.read(tmp_path)[0])
    assert any("line 1: sequence number 2, expected 1" in p for p in problems)
    assert len(problems) >= 3


def test_truncation_is_caught_only_against_a_head_written_down(tmp_path: Path) -> None:
    _fill(tmp_path, 4)
    mark = ledger.head(tmp_path)
    assert mark is not None
    _write(tmp_path, _lines(tmp_path)[:2])
    entries = ledger.read(tmp_path)[0]
    assert ledger.check_chain(entries) == []  # a chain alone cannot see it
    problems = ledger.check_chain(entries, mark)
    assert len(problems) == 1 and "truncated" in problems[0] and "seq 4" in problems[0]


def test_rewritten_ledger_differs_from_the_head(tmp_path: Path) -> None:
    _fill(tmp_path, 2)
    seq, _ = ledger.head(tmp_path) or (0, "")
    problems = ledger.check_chain(ledger.read(tmp_path)[0], (seq, "f" * 64))
    assert len(problems) == 1 and "rewritten" in problems[0]


def test_corrupt_line_is_named_with_its_number_and_never_rewritten(tmp_path: Path) -> None:
    _fill(tmp_path, 2)
    lines = _lines(tmp_path)
    _write(tmp_path, [lines[0], "{not json", lines[1]])
    before = ledger.path_of(tmp_path).read_bytes()
    entries, problems = ledger.read(tmp_path)
    assert len(entries) == 2 and problems and problems[0].startswith("ledger.jsonl line 2: not JSON")
    with pytest.raises(InvalidInput, match="line 2"):
        ledger.entries(tmp_path)
    assert ledger.path_of(tmp_path).read_bytes() == before


def test_incomplete_last_line_is_reported(tmp_path: Path) -> None:
    _fill(tmp_path, 1)
    with ledger.path_of(tmp_path).open("a", encoding="utf-8") as f:
        f.write('{"seq": 2')
    problems = ledger.read(tmp_path)[1]
    assert any("incomplete" in p for p in problems)


def test_run_recorded_twice(tmp_path: Path) -> None:
    ledger.append(tmp_path, "plan", "p1", "0" * 64)
    ledger.append(tmp_path, "plan", "p1", "1" * 64)
    problems = ledger.check_chain(ledger.read(tmp_path)[0])
    assert problems == ["ledger.jsonl line 2: plan p1 is recorded twice (first on line 1)"]


@pytest.mark.parametrize("text", ["", "12", "0:" + "a" * 64, "3:" + "A" * 64, "3:abc", "x:" + "a" * 64])
def test_parse_head_refuses_what_is_not_seq_hash(text: str) -> None:
    with pytest.raises(InvalidInput, match="--head"):
        ledger.parse_head(text)


def test_parse_head() -> None:
    assert ledger.parse_head("7:" + "ab" * 32) == (7, "ab" * 32)


def _appender(base: str, who: str, n: int) -> None:
    for i in range(n):
        ledger.append(Path(base), "plan", f"{who}-{i}", f"{i:064x}")


def test_concurrent_appends_lose_and_interleave_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(tmp_path), who, 150)) for who in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    entries, problems = ledger.read(tmp_path)
    assert problems == []
    assert [e.seq for e in entries] == list(range(1, 451))
    assert ledger.check_chain(entries) == []
    assert sorted(e.run_id for e in entries) == sorted(f"{w}-{i}" for w in "abc" for i in range(150))


# ---------------------------------------------------------------- issue 22 item 8: bounded lines, a lock with a timeout

def _reads_of_last_line(base: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Bytes read by ``_last_line`` on the ledger as it is (counted through os.pread)."""
    import os

    read = 0
    real = os.pread

    def counting(fd: int, n: int, pos: int) -> bytes:
        nonlocal read
        read += n
        return real(fd, n, pos)

    monkeypatch.setattr(ledger.os, "pread", counting)
    fd = os.open(ledger.path_of(base), os.O_RDONLY)
    try:
        try:
            ledger._last_line(fd)
        except ledger.LedgerCorrupt:
            pass
    finally:
        os.close(fd)
        monkeypatch.setattr(ledger.os, "pread", real)
    return read


def test_the_last_line_is_found_reading_it_once_and_a_long_one_is_not_read_further(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(tmp_path, 3)
    lines = _lines(tmp_path)
    assert ledger.head(tmp_path) == (3, ledger.line_hash(lines[-1]))
    small = _reads_of_last_line(tmp_path, monkeypatch)
    assert small <= len(lines[-1]) + 4096 + 1
    # a 16 MB last line (the review's case): refused after reading at most MAX_LINE + one block, not 16 MB
    with ledger.path_of(tmp_path).open("a") as f:
        f.write("x" * (16 << 20) + "\n")
    assert _reads_of_last_line(tmp_path, monkeypatch) <= ledger.MAX_LINE + 2 * 4096 + 1
    with pytest.raises(ledger.LedgerCorrupt, match=f"longer than {ledger.MAX_LINE} bytes"):
        ledger.append(tmp_path, "plan", "run-4", "4" * 64)
    _, problems = ledger.read(tmp_path)
    assert problems == [f"{ledger.LEDGER} line 4: longer than {ledger.MAX_LINE} bytes (the most a ledger line may be)"]


def test_a_line_over_the_maximum_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    _fill(tmp_path, 1)
    before = ledger.path_of(tmp_path).read_bytes()
    with pytest.raises(InvalidInput, match=f"longer than {ledger.MAX_LINE}"):
        ledger.append(tmp_path, "plan", "r" * ledger.MAX_LINE, "1" * 64)
    assert ledger.path_of(tmp_path).read_bytes() == before


def test_the_ledger_lock_is_waited_for_then_refused_naming_its_holder(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from ops_driver.errors import PolicyRefused

    _fill(tmp_path, 1)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ledger._locked(tmp_path):
            entered.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(30)
    monkeypatch.setenv("OPS_LEDGER_LOCK_WAIT", "0.2")
    with pytest.raises(PolicyRefused, match=r"not free within 0.2 s \(OPS_LEDGER_LOCK_WAIT\); held by pid \d+"):
        ledger.append(tmp_path, "plan", "run-2", "2" * 64)
    release.set()
    t.join()
    monkeypatch.setenv("OPS_LEDGER_LOCK_WAIT", "30")
    assert ledger.append(tmp_path, "plan", "run-2", "2" * 64).seq == 2
