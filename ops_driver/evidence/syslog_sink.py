"""Every ledger line also goes to syslog as it is written, so that a record leaves the control node at once and a
rewritten ledger can be caught against the organisation's copy (issue #24, item 5).

Settings (environment):

- ``$OPS_SYSLOG``: where to send: ``unix:/dev/log`` (default: the local journal or rsyslog, which forwards to the
  collector), ``udp://HOST:PORT`` (straight to a collector), or ``off``;
- ``$OPS_SYSLOG_FACILITY``: ``local0`` (default) … ``local7``, ``user``, ``auth``, ``authpriv``, ``daemon``;
- ``$OPS_SYSLOG_TAG``: the tag (APP-NAME), default ``ops-driver``.

The message is the ledger line exactly as written (its JSON text, one datagram per line, severity ``info``), in
the BSD syslog format glibc's ``syslog(3)`` sends to ``/dev/log`` (RFC 3164: ``<PRI>Mmm dd hh:mm:ss TAG[PID]:
MSG``; PRI = facility x 8 + severity, RFC 5424 section 6.2.1). Sending never fails the run: a failure is a
warning on stderr and a line in ``$OPS_EVIDENCE_DIR/.syslog-undelivered.jsonl`` (the ledger line, where it
should have gone, why), so that it can be sent again and the gap explained.

:func:`compare` reads an exported copy of those syslog lines (a file rsyslog wrote, ``journalctl -t ops-driver -o
cat``, or the collector's export: any line that holds the tag and a ledger line's JSON) and names the first
difference from the ledger (``ops-driver evidence verify --against FILE``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
from pathlib import Path

SYSLOG_ENV = "OPS_SYSLOG"
FACILITY_ENV = "OPS_SYSLOG_FACILITY"
TAG_ENV = "OPS_SYSLOG_TAG"
DEFAULT_TARGET = "unix:/dev/log"
UNDELIVERED = ".syslog-undelivered.jsonl"
#: RFC 5424 section 6.2.1 facility codes (the ones an organisation's collector usually routes).
FACILITIES = {"user": 1, "daemon": 3, "auth": 4, "authpriv": 10, **{f"local{n}": 16 + n for n in range(8)}}
SEVERITY_INFO = 6
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LEDGER_KEYS = {"seq", "at", "kind", "run_id", "sha256", "prev"}


def settings() -> tuple[str, str, str]:
    """(target, facility, tag) from the environment (see the module docstring)."""
    target = os.environ.get(SYSLOG_ENV, "").strip() or DEFAULT_TARGET
    facility = os.environ.get(FACILITY_ENV, "").strip() or "local0"
    tag = os.environ.get(TAG_ENV, "").strip() or "ops-driver"
    return target, facility, tag


def message(text: str, facility: str, tag: str, now: dt.datetime | None = None) -> bytes:
    """One RFC 3164 message: ``<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT`` (UTC time), UTF-8. ValueError for an unknown
    facility."""
    if facility not in FACILITIES:
        raise ValueError(f"{FACILITY_ENV}={facility!r}: use one of {', '.join(FACILITIES)}")
    t = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = f"{_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"
    return f"<{FACILITIES[facility] * 8 + SEVERITY_INFO}>{stamp} {tag}[{os.getpid()}]: {text}".encode()


def _deliver(target: str, data: bytes) -> None:
    """Send one datagram to ``target``; OSError / ValueError when it cannot."""
    if target.startswith("unix:"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(target[5:])
            s.send(data)
    elif target.startswith("udp://"):
        host, sep, port = target[6:].rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{SYSLOG_ENV}={target!r}: give udp://HOST:PORT")
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.sendto(data, (host.strip("[]"), int(port)))
    else:
        raise ValueError(f"{SYSLOG_ENV}={target!r}: use unix:/dev/log, udp://HOST:PORT or off")


def send(text: str, base: Path) -> str | None:
    """Send one ledger line; None when sent (or ``off``), else the warning (also printed on stderr and noted in
    ``base/.syslog-undelivered.jsonl``). Never raises for a delivery problem."""
    target, facility, tag = settings()
    if target == "off":
        return None
    try:
        _deliver(target, message(text, facility, tag))
        return None
    except (OSError, ValueError) as e:
        warning = f"ops-driver: warning: ledger line not sent to syslog ({target}): {e}"
    print(warning, file=sys.stderr, flush=True)
    note = json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                       "target": target, "error": warning, "line": text}, ensure_ascii=False, sort_keys=True)
    try:
        with (base / UNDELIVERED).open("a", encoding="utf-8") as f:
            f.write(note + "\n")
    except OSError:
        pass  # the warning on stderr stands
    return warning


def exported(path: Path, tag: str | None = None) -> dict[int, list[str]]:
    """The ledger lines in an exported syslog file: seq → the texts found for it (in file order). A line counts
    when it holds the tag (default ``$OPS_SYSLOG_TAG``) before a JSON object with a ledger line's keys."""
    tag = tag or settings()[2]
    out: dict[int, list[str]] = {}
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            at = line.find("{")
            if at < 0 or tag not in line[:at]:
                continue
            text = line[at:].rstrip()
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict) and _LEDGER_KEYS <= set(data) and isinstance(data["seq"], int):
                texts = out.setdefault(data["seq"], [])
                if text not in texts:
                    texts.append(text)
    return out


def compare(ledger_file: Path, export: Path, tag: str | None = None) -> list[str]:
    """Differences between the ledger and an exported syslog copy, the first difference first (empty: they
    agree). Names: a ledger line not in the copy, a line that differs (both texts), a seq the copy holds twice
    with different texts (the ledger was rewritten after it was sent), lines the copy holds past the ledger's end."""
    copy = exported(export, tag)
    problems: list[str] = []
    last = 0
    lines = ledger_file.read_text(encoding="utf-8", errors="replace").splitlines() if ledger_file.exists() else []
    for n, text in enumerate(lines, 1):
        try:
            seq = json.loads(text)["seq"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"ledger line {n}: not a ledger line, so not in the syslog copy")
            continue
        last = max(last, seq if isinstance(seq, int) else 0)
        sent = copy.get(seq)
        if not sent:
            problems.append(f"ledger line {n} (seq {seq}) is not in the syslog copy {export}: not sent (see "
                            f"{UNDELIVERED}) or added to the ledger afterwards: {text}")
        elif text not in sent:
            problems.append(f"ledger line {n} (seq {seq}) differs from the syslog copy: the ledger has {text}, "
                            f"syslog has {sent[0]}")
        elif len(sent) > 1:
            problems.append(f"the syslog copy holds {len(sent)} different lines for seq {seq}: the ledger was "
                            "rewritten after that line was sent")
    for seq in sorted(s for s in copy if s > last):
        problems.append(f"the syslog copy holds seq {seq} past the ledger's end (seq {last}): the ledger was cut "
                        f"short: {copy[seq][0]}")
    return problems
