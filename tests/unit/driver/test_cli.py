"""The CLI contract: exit codes, --json on stdout, messages on stderr; bad input runs nothing."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from ops_driver.catalog import load_catalog
from ops_driver.cli import build_parser, main, parser_for


def test_catalog_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--automated", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # the catalog's automated tasks, in its order (which they are: tests/unit/driver/test_wiring.py)
    assert [t["id"] for t in data["tasks"]] == [t.id for t in load_catalog().select(automated=True)]
    assert {"INFO-005", "STAT-011", "COMM-025"} <= {t["id"] for t in data["tasks"]}


def test_catalog_list_area_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--area", "HELP"]) == 0
    assert "HELP-021" in capsys.readouterr().out
    assert main(["catalog", "show", "INFO-005", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name_ja"].endswith("インスタンス停止") and data["params_schema"]["required"] == ["instances"]
    assert main(["catalog", "show", "CORE-050"]) == 0
    assert "manual task" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["catalog", "show", "NOPE-1"], ["catalog", "list", "--area", "XX"],
                                  ["frobnicate"], ["evidence", "show", "nope"]])
def test_bad_input_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2


def test_invalid_request_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = tmp_path / "r.yml"
    req.write_text("task: INFO-005\nenvironment: sandbox\nticket: REQ-1\nrequested_by: a\nreason: b\n"
                   "params: {instances: [web01], colour: red}\n")
    assert main(["plan", "--json", str(req)]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["exit_code"] == 2 and "unknown parameter(s) colour" in out.err
    assert _store_untouched()  # nothing run, no bundle


def test_evidence_verify_with_no_bundles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evidence", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"bundles": {}, "verified": True, "checked": 0, "failed": 0}


@pytest.mark.parametrize("argv", [["catalog", "list"], ["catalog", "list", "--json"], ["catalog", "show", "NOPE-1",
                                                                                       "--json"]])
def test_a_closed_stdout_ends_quietly_with_141(argv: list[str]) -> None:
    """``ops-driver … | head``: the reader goes away; no traceback, exit 128 + SIGPIPE."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "ops_driver.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.close()  # before the command writes anything: every write to stdout fails
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err


EXITING = """
import atexit, sys, threading
from ops_driver import cli
atexit.register(lambda: print("exit handler ran", flush=True))
if sys.argv[1] == "thread":  # a thread still running: the usual exit waits for it
    threading.Thread(target=lambda: print("thread read " + sys.stdin.readline().strip(), flush=True)).start()
print("waiting", flush=True)
print("buffered, not flushed", end="")
cli._exit(int(sys.argv[2]))
"""


@pytest.mark.parametrize("mode", ["alone", "thread"])
def test_the_exit_skips_only_the_interpreters_teardown(mode: str) -> None:
    """cli._exit: the exit handlers run, buffered output is flushed, the code is the process's exit status; with a
    thread still running, the process waits for it as a usual exit does."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", EXITING, mode, "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": ""})
    assert proc.stdout is not None
    head = b""
    while b"waiting\n" not in head:  # unbuffered reads: nothing read ahead of what communicate() reads next
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, head
        head += chunk
    rest, err = proc.communicate(b"go\n", timeout=60)  # the thread, if any, reads it only now
    out = (head + rest).decode()
    assert proc.returncode == 3, err
    assert out.startswith("waiting\n") and "Traceback" not in err.decode()
    if mode == "thread":  # waited for: the thread's line came before the exit handlers'
        assert out.endswith("thread read go\nbuffered, not flushedexit handler ran\n") or out.endswith(
            "buffered, not flushedthread read go\nexit handler ran\n"), out
    else:
        assert out == "waiting\nbuffered, not flushedexit handler ran\n"


def _store_untouched() -> bool:
    """Nothing run: the test's evidence store holds only its empty ledger (no bundle, no ledger line)."""
    base = Path(os.environ["OPS_EVIDENCE_DIR"])
    return [f.name for f in base.iterdir()] == ["ledger.jsonl"] and (base / "ledger.jsonl").stat().st_size == 0


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_a_command_line_builds_only_its_commands_parser_and_parses_the_same() -> None:
    full = build_parser()
    every = _commands(full)
    assert {"plan", "apply", "evidence", "awx", "tower"} <= every
    aliases = {"awx": {"awx", "tower"}, "tower": {"awx", "tower"}}
    for name in sorted(every):
        assert _commands(parser_for([name])) == aliases.get(name, {name}), name
    for argv in (["plan", "req.yml", "--quiet"], ["--json", "evidence", "verify", "--failed"],
                 ["evidence", "show", "last", "--json"], ["apply", "abc", "--at-window"], ["tower", "ee"]):
        one, whole = vars(parser_for(argv).parse_args(argv)), vars(full.parse_args(argv))
        assert one == whole, argv


@pytest.mark.parametrize("argv", [[], ["--help"], ["plna", "x.yml"], ["--json"]])
def test_no_or_a_misspelt_command_gets_every_commands_parser(argv: list[str]) -> None:
    assert _commands(parser_for(argv)) == _commands(build_parser())


def test_a_misspelt_command_is_told_the_commands_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plna", "x.yml"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'plna'" in err and "'plan'" in err and "'evidence'" in err
