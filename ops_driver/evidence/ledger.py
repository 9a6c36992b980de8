"""The ledger: an append-only, hash-chained record of every plan, approval and apply (change governance).

File ``$OPS_EVIDENCE_DIR/ledger.jsonl``, one JSON object per line, keys sorted, no spaces::

    {"at": "2026-12-03T05:00:00Z", "kind": "plan", "prev": "<64 hex>", "run_id": "…", "seq": 1, "sha256": "<64 hex>"}

- ``seq``: 1, 2, 3 … without gaps; ``at``: UTC time of the append;
- ``kind``: ``plan`` or ``apply`` (``sha256`` is that of the bundle's ``manifest.json``, which holds the SHA-256 of
  every other file of the bundle), ``start`` (an apply about to run, written ahead under the environment lock before
  its playbook starts: ``sha256`` of the bundle's ``start.json``; its ``apply`` line closes it, see recovery.py),
  ``approval`` (``sha256`` of the approval record, see governance.py), ``record`` (the record of a manual task,
  ``ops-driver record``: ``sha256`` of its bundle's ``manifest.json``, see records/manual.py) or ``reject``
  (``sha256`` of the signed rejection record of a plan, ``rejections/<plan>/<id>.json``: governance.reject);
- ``ref``: for an apply, the plan it ran; for an approval, the run it approves; for a reject, the plan it rejects;
- ``prev``: SHA-256 of the previous line as written (its UTF-8 bytes without the newline); 64 zeros on line 1.

As with CloudTrail's digest files (each holds the previous digest's hash), editing, removing or reordering a line
breaks the chain at the next line, and a bundle or approval record edited after its line no longer matches it. A
chain cannot show that lines were cut off its end: ``head()`` gives the sequence number and hash of the last line to
write on the ticket, and ``verify(head=…)`` checks the ledger still holds that line.

Appends hold an exclusive ``flock`` on the ledger for read-last-line + write + fsync, so concurrent ``ops-driver``
processes never lose or interleave a line (one ``write`` of one line in ``O_APPEND`` mode, under the lock). The lock
is waited for at most :func:`lock_wait_s` seconds (``$OPS_LEDGER_LOCK_WAIT``, default 30), then refused (exit 4)
naming its holder (``.locks/ledger.holder``). A line is at most :data:`MAX_LINE` bytes: a longer one is refused when
written and reported when read, and the last line is found by reading backwards in time proportional to its length.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops_driver.errors import InvalidInput, PolicyRefused
from ops_driver.evidence import syslog_sink
from ops_driver.paths import LEDGER_FILE

LEDGER = LEDGER_FILE
GENESIS = "0" * 64
KINDS = ("plan", "apply", "approval", "start", "record", "reject")
#: The kinds whose ``run_id`` is a record ID (approval or rejection), not a bundle's run ID.
DECISIONS = ("approval", "reject")
#: The longest ledger line in bytes, without its newline (a real line is about 300 bytes).
MAX_LINE = 4096
DEFAULT_LOCK_WAIT_S = 30.0
HOLDER = ".locks/ledger.holder"
_KEYS = {"seq", "at", "kind", "run_id", "sha256", "prev"}


@dataclass(frozen=True)
class Entry:
    """One ledger line. ``line_no`` is its 1-based line number in the file, ``digest`` the SHA-256 of its text."""

    seq: int
    at: str
    kind: str
    run_id: str
    sha256: str
    prev: str
    ref: str | None
    line_no: int
    digest: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "kind": self.kind, "run_id": self.run_id, "sha256": self.sha256,
                "prev": self.prev, **({"ref": self.ref} if self.ref else {}), "line": self.line_no,
                "line_sha256": self.digest}


class LedgerCorrupt(InvalidInput):
    """A ledger line that is not a ledger entry; names the line."""


def path_of(base: Path) -> Path:
    return base / LEDGER


def line_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _entry(text: str, line_no: int) -> Entry:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise LedgerCorrupt(f"{LEDGER} line {line_no}: not JSON ({e})") from None
    if not isinstance(data, dict) or not _KEYS <= set(data):
        raise LedgerCorrupt(f"{LEDGER} line {line_no}: not a ledger entry (needs {', '.join(sorted(_KEYS))})")
    if not isinstance(data["seq"], int) or data["kind"] not in KINDS:
        raise LedgerCorrupt(f"{LEDGER} line {line_no}: seq must be an integer and kind one of {', '.join(KINDS)}")
    return Entry(seq=data["seq"], at=str(data["at"]), kind=data["kind"], run_id=str(data["run_id"]),
                 sha256=str(data["sha256"]), prev=str(data["prev"]), ref=data.get("ref"), line_no=line_no,
                 digest=line_hash(text))


def read(base: Path) -> tuple[list[Entry], list[str]]:
    """(entries that parse, problems): every line of the ledger, in file order; no ledger: ([], [])."""
    p = path_of(base)
    if not p.exists():
        return [], []
    entries, problems = [], []
    with p.open("r", encoding="utf-8", errors="replace", newline="\n") as f:
        for n, raw in enumerate(f, 1):
            text = raw[:-1] if raw.endswith("\n") else raw
            if not raw.endswith("\n"):
                problems.append(f"{LEDGER} line {n}: incomplete (no newline at the end): a write was cut short")
            if len(text.encode("utf-8", errors="replace")) > MAX_LINE:
                problems.append(f"{LEDGER} line {n}: longer than {MAX_LINE} bytes (the most a ledger line may be)")
                continue
            try:
                entries.append(_entry(text, n))
            except LedgerCorrupt as e:
                problems.append(str(e))
    return entries, problems


def entries(base: Path) -> list[Entry]:
    """The ledger's entries; LedgerCorrupt (exit 2) when a line does not parse (run ``evidence verify``)."""
    got, problems = read(base)
    if problems:
        raise LedgerCorrupt(problems[0] + "; run `ops-driver evidence verify` for the whole list")
    return got


def _last_line(fd: int, limit: int = MAX_LINE) -> str | None:
    """The last line of the open file ``fd`` (without its newline), reading backwards from the end in blocks.

    Each block is searched once and the blocks are joined once, so the time is proportional to the line's length
    (not its square). LedgerCorrupt when the last line is longer than ``limit`` bytes: it is not read further.
    """
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return None
    if os.pread(fd, 1, end - 1) == b"\n":
        end -= 1  # the last line's own newline
    chunk, pos, parts, size = 4096, end, [], 0
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        block = os.pread(fd, step, pos)
        cut = block.rfind(b"\n")
        if cut >= 0:
            parts.append(block[cut + 1:])
            break
        parts.append(block)
        size += len(block)
        if size > limit:
            raise LedgerCorrupt(f"{LEDGER}: the last line is longer than {limit} bytes (the most a ledger line may "
                                "be): not an entry written by ops-driver; run `ops-driver evidence verify`")
    text = b"".join(reversed(parts))
    if len(text) > limit:
        raise LedgerCorrupt(f"{LEDGER}: the last line is {len(text)} bytes, longer than {limit} (the most a ledger "
                            "line may be): not an entry written by ops-driver; run `ops-driver evidence verify`")
    return text.decode("utf-8", errors="replace")


def lock_wait_s() -> float:
    """``$OPS_LEDGER_LOCK_WAIT`` in seconds (default 30): how long an append waits for the ledger lock."""
    try:
        return max(0.0, float(os.environ.get("OPS_LEDGER_LOCK_WAIT", DEFAULT_LOCK_WAIT_S)))
    except ValueError:
        return DEFAULT_LOCK_WAIT_S


def flock_wait(fd: int, wait_s: float) -> bool:
    """Take an exclusive ``flock`` on ``fd``, polling (non-blocking tries, 1 ms growing to 50 ms apart) for at most
    ``wait_s`` seconds; True when taken. ``flock`` has no timeout of its own, and an alarm signal would interrupt
    whatever else the process waits for."""
    deadline = time.monotonic() + wait_s
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))  # a lock poll, not a synchronisation of tests
        pause = min(pause * 2, 0.05)


@contextmanager
def _locked(base: Path) -> Iterator[int]:
    """The ledger open for appending, under its exclusive lock (waited for at most :func:`lock_wait_s` seconds;
    PolicyRefused, exit 4, naming the holder written in ``.locks/ledger.holder``, when it is not free by then)."""
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(path_of(base), os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        wait = lock_wait_s()
        if not flock_wait(fd, wait):
            try:
                other = (base / HOLDER).read_text(encoding="utf-8", errors="replace").strip()[:200]
            except OSError:
                other = ""
            raise PolicyRefused(f"{path_of(base)}: the ledger lock was not free within {wait:g} s "
                                f"(OPS_LEDGER_LOCK_WAIT); held by {other or 'another ops-driver process'}; "
                                "try again when it has ended")
        try:
            (base / HOLDER).parent.mkdir(exist_ok=True)
            (base / HOLDER).write_text(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC).isoformat()}",
                                       encoding="utf-8")
        except OSError:
            pass  # the holder's name is a courtesy to whoever waits
        yield fd
    finally:
        os.close(fd)  # releases the lock


def append(base: Path, kind: str, run_id: str, sha256: str, ref: str | None = None,
           now: dt.datetime | None = None) -> Entry:
    """Append one line; returns its entry. LedgerCorrupt when the last line is not an entry (nothing written)."""
    if kind not in KINDS:
        raise ValueError(f"ledger kind {kind!r}")
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    with _locked(base) as fd:
        last = _last_line(fd)
        if last is None:
            seq, prev = 1, GENESIS
        else:
            before = _entry(last, 0)
            seq, prev = before.seq + 1, line_hash(last)
        data: dict[str, Any] = {"seq": seq, "at": at, "kind": kind, "run_id": run_id, "sha256": sha256, "prev": prev}
        if ref:
            data["ref"] = ref
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        payload = (text + "\n").encode("utf-8")
        if len(payload) - 1 > MAX_LINE:
            raise InvalidInput(f"ledger line for {kind} {run_id[:80]!r}: {len(payload) - 1} bytes, longer than "
                               f"{MAX_LINE} (the most a ledger line may be); nothing was written")
        written = os.write(fd, payload)
        if written != len(payload):  # a regular file on a local disk writes all or raises; say so if not
            raise OSError(f"{path_of(base)}: short write ({written} of {len(payload)} bytes)")
        os.fsync(fd)
    _witness(base, text)
    return Entry(seq=seq, at=at, kind=kind, run_id=run_id, sha256=sha256, prev=prev, ref=ref, line_no=seq,
                 digest=line_hash(text))


def _witness(base: Path, text: str) -> None:
    """The line leaves the control node as it is written: syslog (ops_driver/evidence/syslog_sink.py; never raises)."""
    syslog_sink.send(text, base)


def head(base: Path) -> tuple[int, str] | None:
    """(sequence number, SHA-256) of the last line, or None for an empty or missing ledger."""
    p = path_of(base)
    if not p.exists():
        return None
    fd = os.open(p, os.O_RDONLY)
    try:
        last = _last_line(fd)
    finally:
        os.close(fd)
    if last is None:
        return None
    return _entry(last, 0).seq, line_hash(last)


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as written on a ticket → (seq, hash); InvalidInput naming ``--head`` otherwise."""
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or int(seq) < 1 or len(digest) != 64 or not all(
            c in "0123456789abcdef" for c in digest):
        raise InvalidInput(f"--head {text!r}: give SEQ:HASH as printed by `ops-driver evidence head`, "
                           "e.g. 42:3fa9…(64 hex digits)")
    return int(seq), digest


def check_chain(found: list[Entry], head_mark: tuple[int, str] | None = None) -> list[str]:
    """Problems of the chain itself: sequence gaps or disorder, a broken ``prev`` link, a run recorded twice, and
    (with ``head_mark``) a ledger cut short of, or different at, the line written down."""
    problems: list[str] = []
    prev_digest, expected = GENESIS, 1
    seen: dict[tuple[str, str], int] = {}
    for e in found:
        if e.seq != expected:
            problems.append(f"{LEDGER} line {e.line_no}: sequence number {e.seq}, expected {expected} "
                            "(a line was removed, added or reordered)")
        if e.prev != prev_digest:
            problems.append(f"{LEDGER} line {e.line_no} (seq {e.seq}): its previous-line hash does not match the line "
                            "before it (a line before it was edited, removed or reordered)")
        key = (e.kind, e.run_id)
        if key in seen and e.kind not in DECISIONS:
            problems.append(f"{LEDGER} line {e.line_no}: {e.kind} {e.run_id} is recorded twice (first on line "
                            f"{seen[key]})")
        seen.setdefault(key, e.line_no)
        prev_digest, expected = e.digest, e.seq + 1
    if head_mark is not None:
        seq, digest = head_mark
        at = next((e for e in found if e.seq == seq), None)
        if at is None:
            last = found[-1].seq if found else 0
            problems.append(f"{LEDGER} ends at seq {last} but the head written down is seq {seq}: lines were cut off "
                            "its end (truncated)")
        elif at.digest != digest:
            problems.append(f"{LEDGER} seq {seq} hashes to {at.digest[:12]}…, not {digest[:12]}… as written down: the "
                            "ledger was rewritten")
    return problems
