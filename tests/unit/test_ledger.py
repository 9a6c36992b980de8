"""The ledger (ops_driver/ledger.py): hash chain, head, corrupt lines, concurrent appends."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from ops_driver import ledger
from ops_driver.errors import InvalidInput


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
