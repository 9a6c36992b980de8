# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""The AsyncOS CLI of a Cisco Secure Email Gateway (ESA) over SSH: read and edit HAT sender groups, commit, clear.

Used by ``library/esa_sender_group.py`` (COMM-025, CORE-023). The dialogue it drives is the one printed in Cisco's
*CLI Reference Guide for AsyncOS for Cisco Secure Email Gateway* (``listenerconfig`` → ``EDIT`` → ``HOSTACCESS`` →
``EDIT`` → ``1`` (Edit Sender Group) → ``NEW`` / ``DELETE``; ``commit``; ``clear``); the exact contract, and what
this client relies on, is written down in ``tools/esa_sim/DIALOGUE.md`` (the ESA simulator speaks it too). The HAT
text format read back by ``PRINT`` is the export format of the *User Guide for AsyncOS*, chapter "Defining Which
Hosts Are Allowed to Connect Using the Host Access Table (HAT)".

The AsyncOS REST API does not write HAT sender groups, hence the CLI.

Every exchange is one **round trip**: one line sent, the output read up to the next prompt (``[...]> `` or
``<hostname>> ``). :attr:`EsaSession.round_trips` counts them. SSH host keys are always checked against a
``known_hosts`` file; the password is used for SSH authentication only and never written to the channel or the
transcript.
"""

from __future__ import annotations

import asyncio
import re

try:
    import asyncssh
    HAS_ASYNCSSH = True
    ASYNCSSH_IMPORT_ERROR = None
except ImportError as _e:  # pragma: no cover - reported by the module with missing_required_lib
    asyncssh = None
    HAS_ASYNCSSH = False
    ASYNCSSH_IMPORT_ERROR = _e

#: A menu prompt (``[]> ``, ``[1]> ``; ``[Y]> `` may end a question's line) or a top prompt (``host.example.jp> ``)
#: at the end of the output.
_ANY_PROMPT = re.compile(r"(?:(?:\A|\n|\? )\[[^\]\r\n]{0,40}\]> |(?:\A|\n)[A-Za-z0-9][A-Za-z0-9.\-]{0,252}> )\Z")
_MENU_PROMPT = re.compile(r"\n\[[^\]\r\n]{0,40}\]> \Z")
_PROMPT_MAX_LEN = 260
_ERROR_LINE = re.compile(r"^\s*Error:.*$", re.MULTILINE)
#: Longest line of senders sent to one NEW (the CLI's line editor; entries are separated by ", ").
MAX_NEW_LINE = 1000


class EsaCliError(Exception):
    """A failed exchange. ``kind``: ``invalid`` (bad input: unknown listener or sender group, refused sender),
    ``auth`` (SSH authentication or host key), ``timeout``, ``disconnected`` or ``failed`` (anything else)."""

    def __init__(self, message, kind="failed", output=""):
        super().__init__(message)
        self.kind = kind
        self.output = output


class EsaSession:
    """One SSH session to the CLI of one appliance, driven line by line (synchronous wrapper over asyncssh).

    ``host``/``port``: the appliance's SSH address. ``known_hosts``: OpenSSH known_hosts file holding its host key
    (for a port other than 22 the entry is ``[host]:port``). ``connect_timeout_s``/``command_timeout_s``: seconds.
    """

    def __init__(self, host, port, username, password, known_hosts, connect_timeout_s=30, command_timeout_s=60):
        self.host = host
        self.port = int(port)
        self.username = username
        self._password = password
        self.known_hosts = known_hosts
        self.connect_timeout_s = connect_timeout_s
        self.command_timeout_s = command_timeout_s
        self.round_trips = 0
        self.hostname = None
        self.transcript = []  # (sent line, first line of the answer) pairs, for the evidence
        self._loop = asyncio.new_event_loop()
        self._conn = None
        self._proc = None
        self._top = None

    # -- connection -------------------------------------------------------------------------------------------
    def open(self):
        """Connect, authenticate, start the shell and read up to the top prompt. Returns the login banner."""
        try:
            banner = self._run(self._open(), self.connect_timeout_s, "connecting")
        except EsaCliError:
            self.close()
            raise
        m = re.search(r"([A-Za-z0-9][A-Za-z0-9.\-]*)> \Z", banner)
        if not m or not banner.endswith("> ") or _MENU_PROMPT.search(banner):
            self.close()
            raise EsaCliError("%s:%s: no AsyncOS CLI prompt after login" % (self.host, self.port), output=banner)
        self.hostname = m.group(1)
        # a menu prompt on its own line, or ending a yes/no question ("... for rollback? [Y]> "), or the top prompt
        self._top = re.compile(r"(?:(?:\A|\n|\? )\[[^\]\r\n]{0,40}\]> |(?:\A|\n)%s> )\Z"
                               % re.escape(self.hostname))
        return banner

    async def _open(self):
        try:
            self._conn = await asyncssh.connect(
                self.host, port=self.port, username=self.username, password=self._password,
                known_hosts=self.known_hosts, client_keys=None, agent_path=None, preferred_auth="password",
                connect_timeout=self.connect_timeout_s)
        except asyncssh.HostKeyNotVerifiable as e:
            raise EsaCliError("%s:%s: the host key does not match %s (%s); check the appliance's fingerprint and "
                              "the known_hosts file" % (self.host, self.port, self.known_hosts, e),
                              kind="auth") from None
        except asyncssh.PermissionDenied:
            raise EsaCliError("%s:%s: SSH authentication failed for user %s" % (self.host, self.port, self.username),
                              kind="auth") from None
        except (OSError, asyncssh.Error) as e:
            raise EsaCliError("%s:%s: cannot connect: %s" % (self.host, self.port, e), kind="disconnected") from None
        self._proc = await self._conn.create_process(term_type=None, encoding="utf-8", errors="replace")
        return await self._proc.stdout.readuntil(_ANY_PROMPT, _PROMPT_MAX_LEN)

    def close(self):
        """Close the session (uncommitted changes are dropped by the appliance). Never raises."""
        async def _close():
            if self._proc is not None:
                try:
                    self._proc.stdin.write("exit\n")
                except (OSError, asyncssh.Error):
                    pass
            if self._conn is not None:
                self._conn.close()
                try:
                    await asyncio.wait_for(self._conn.wait_closed(), 5)
                except (OSError, asyncssh.Error, asyncio.TimeoutError):
                    pass
        try:
            if not self._loop.is_closed():
                self._loop.run_until_complete(_close())
                self._loop.close()
        except Exception:  # noqa: BLE001, S110 - closing must not hide the real error
            pass
        self._conn = self._proc = None

    def _run(self, coro, timeout_s, what):
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, timeout_s))
        except asyncio.TimeoutError:
            raise EsaCliError("%s:%s: no prompt within %s s while %s" % (self.host, self.port, timeout_s, what),
                              kind="timeout") from None
        except asyncio.IncompleteReadError as e:
            raise EsaCliError("%s:%s: the appliance closed the session while %s" % (self.host, self.port, what),
                              kind="disconnected", output=e.partial or "") from None
        except (OSError, asyncssh.Error) as e:
            if isinstance(e, EsaCliError):
                raise
            raise EsaCliError("%s:%s: SSH error while %s: %s" % (self.host, self.port, what, e),
                              kind="disconnected") from None

    # -- exchanges --------------------------------------------------------------------------------------------
    def send(self, line, what=None):
        """Send one line and return the output up to the next prompt (prompt included). One round trip."""
        if self._proc is None:
            raise EsaCliError("%s:%s: not connected" % (self.host, self.port), kind="disconnected")
        what = what or ("answering %r" % line if len(line) < 60 else "sending %d characters" % len(line))

        async def _exchange():
            self._proc.stdin.write(line + "\n")
            return await self._proc.stdout.readuntil(self._top, _PROMPT_MAX_LEN)

        out = self._run(_exchange(), self.command_timeout_s, what)
        self.round_trips += 1
        first = next((x.strip() for x in out.splitlines() if x.strip()), "")
        self.transcript.append([line if len(line) <= 200 else line[:200] + "...", first[:200]])
        return out

    def at_top(self, out):
        return out.endswith("\n%s> " % self.hostname) or out == "%s> " % self.hostname


def errors_in(output):
    """The ``Error:`` lines of an answer (stripped)."""
    return [m.group(0).strip() for m in _ERROR_LINE.finditer(output)]


# -- parsing ----------------------------------------------------------------------------------------------------
def parse_numbered(output, heading):
    """Names of the numbered list under ``heading`` (``1. InboundMail (on ...)`` → ``InboundMail``)."""
    lines = output.splitlines()
    try:
        start = next(i for i, x in enumerate(lines) if x.strip() == heading)
    except StopIteration:
        return []
    names = []
    for x in lines[start + 1:]:
        m = re.match(r"^\s*\d+\.\s+(\S.*)$", x)
        if not m:
            break
        text = m.group(1)
        # "WHITELIST (comment)" -> WHITELIST; "(no name, first host = ALL) (Everyone else)" -> ALL
        if text.startswith("(no name, first host = "):
            names.append(text[len("(no name, first host = "):].split(")", 1)[0])
        else:
            names.append(text.split(" (", 1)[0].strip())
    return names


def parse_hat(text):
    """Sender groups of a HAT in the text format of ``HOSTACCESS`` → ``PRINT`` (the HAT export format).

    Returns ``{group: {"entries": [entry, ...] in table order, "policy": "$POLICY (comment)"}}`` in table order.
    A sender group starts with ``NAME:`` at column 0 (the catch-all ``ALL`` without a colon); its entries are the
    indented lines up to its ``$POLICY`` line. Mail flow policy definitions (``$NAME`` at column 0) are skipped.
    """
    groups = {}
    current = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            current = None
            head = line.strip()
            if head.endswith(":") and not head.startswith("$"):
                current = head[:-1]
                groups[current] = {"entries": [], "policy": ""}
            elif head == "ALL":
                current = "ALL"
                groups[current] = {"entries": ["ALL"], "policy": ""}
            continue
        if current is None:
            continue
        item = line.strip()
        if item.startswith("$"):
            groups[current]["policy"] = item
            current = None
        else:
            groups[current]["entries"].append(item)
    return groups


def sender_lines(entries, limit=MAX_NEW_LINE):
    """Split senders into comma-separated answers of at most ``limit`` characters (one NEW each)."""
    lines, cur = [], ""
    for e in entries:
        piece = e if not cur else ", " + e
        if cur and len(cur) + len(piece) > limit:
            lines.append(cur)
            cur, piece = "", e
        cur += piece
    if cur:
        lines.append(cur)
    return lines


# -- the HAT of a listener --------------------------------------------------------------------------------------
class Hat:
    """Read and edit the HAT sender groups of one listener through an open :class:`EsaSession`.

    Every method starts and ends at the top prompt.
    """

    def __init__(self, session, listener):
        self.s = session
        self.listener = listener
        self.listeners = []

    def _enter_hostaccess(self):
        out = self.s.send("listenerconfig")
        self.listeners = parse_numbered(out, "Currently configured listeners:")
        if self.listener not in self.listeners:
            self.s.send("")  # back to the top prompt
            raise EsaCliError("listener: %s is not a listener of %s (listeners: %s)" % (
                self.listener, self.s.hostname, ", ".join(self.listeners) or "none"), kind="invalid")
        self.s.send("edit")
        out = self.s.send(self.listener)
        if errors_in(out) or "HOSTACCESS" not in out:
            self._back(1)
            raise EsaCliError("%s: cannot edit listener %s: %s" % (
                self.s.hostname, self.listener, "; ".join(errors_in(out)) or "no listener menu"), output=out)
        out = self.s.send("hostaccess")
        if "PRINT" not in out:
            self._back(2)
            raise EsaCliError("%s: no HOSTACCESS menu for listener %s" % (self.s.hostname, self.listener), output=out)

    def _back(self, levels):
        """Empty answers until the top prompt (at most ``levels`` + 2)."""
        for _ in range(levels + 2):
            out = self.s.send("")
            if self.s.at_top(out):
                return
        raise EsaCliError("%s: cannot get back to the top prompt" % self.s.hostname)

    def read(self):
        """``(hat_text, groups)``: the HAT as ``PRINT`` shows it and :func:`parse_hat` of it."""
        self._enter_hostaccess()
        out = self.s.send("print").replace("\r\n", "\n")
        self._back(3)
        # PRINT answers with the table, then the HOSTACCESS menu again (its "Default Policy Parameters" first)
        for marker in ("\nDefault Policy Parameters", "\nChoose the operation"):
            if marker in out:
                out = out.split(marker, 1)[0]
                break
        return out.strip("\n") + "\n", parse_hat(out)

    def edit(self, changes, comment):
        """Apply ``changes`` ``{group: {"add": [...], "delete": [...]}}`` as pending (uncommitted) edits.

        ``add``: senders in the appliance's syntax (one or more NEW, comma separated, ``comment`` as the senders'
        comment). ``delete``: senders exactly as the appliance lists them (one DELETE each). Raises EsaCliError
        (``invalid`` when the appliance refuses a sender or does not know the group) after going back to the top.
        """
        self._enter_hostaccess()
        try:
            for group, change in changes.items():
                if not change.get("add") and not change.get("delete"):
                    continue
                self._edit_group(group, change.get("add") or [], change.get("delete") or [], comment)
        except EsaCliError:
            try:
                self._back(4)
            except EsaCliError:
                pass
            raise
        self._back(2)

    def _edit_group(self, group, add, delete, comment):
        self.s.send("edit")
        out = self.s.send("1")
        groups = parse_numbered(out, "Currently configured HAT sender groups:")
        if group not in groups:
            raise EsaCliError("sender_group: %s is not a sender group of listener %s on %s (groups: %s)" % (
                group, self.listener, self.s.hostname, ", ".join(groups)), kind="invalid")
        out = self.s.send(group)
        if errors_in(out) or "NEW" not in out:
            raise EsaCliError("%s: cannot edit sender group %s: %s" % (
                self.s.hostname, group, "; ".join(errors_in(out)) or "no sender group menu"), output=out)
        for line in sender_lines(add):
            self.s.send("new")
            out = self.s.send(line, what="adding senders to %s" % group)
            errs = errors_in(out)
            if errs:
                raise EsaCliError("%s refused senders for %s: %s" % (self.s.hostname, group, "; ".join(errs)),
                                  kind="invalid", output=out)
            if "comment" in out.lower():  # "Enter a comment for these senders (optional)."
                out = self.s.send(comment[:200])
        for entry in delete:
            self.s.send("delete")
            out = self.s.send(entry, what="deleting %s from %s" % (entry, group))
            errs = errors_in(out)
            if errs:
                raise EsaCliError("%s cannot delete %s from %s: %s" % (self.s.hostname, entry, group,
                                                                      "; ".join(errs)), output=out)
        self.s.send("")  # back to the HOSTACCESS menu


def commit(session, comment):
    """``commit`` with ``comment`` (answering Y to saving the configuration for rollback).

    Returns the ``Changes committed: ...`` line, or None when there was nothing to commit. Raises EsaCliError when
    the appliance reports an error or the session drops.
    """
    out = session.send("commit")
    if "no changes to commit" in out.lower():
        return None
    for _ in range(3):
        if session.at_top(out):
            break
        if "comment" in out.lower() and "describing" in out.lower():
            out = session.send(comment[:200], what="committing")
        elif "rollback" in out.lower():
            out = session.send("Y", what="committing")
        else:
            out = session.send("", what="committing")
    errs = errors_in(out)
    m = re.search(r"^Changes committed:.*$", out, re.MULTILINE)
    if errs or not m:
        raise EsaCliError("commit failed on %s: %s" % (session.hostname, "; ".join(errs) or out.strip()[-200:]),
                          output=out)
    return m.group(0).strip()


def clear(session):
    """``clear``: drop the pending (uncommitted) changes. Returns the appliance's answer line."""
    out = session.send("clear")
    if "no changes to clear" in out.lower():
        return "There are no changes to clear."
    if not session.at_top(out):
        out = session.send("Y")
    m = re.search(r"^Changes cleared:.*$", out, re.MULTILINE)
    if not m:
        raise EsaCliError("clear failed on %s: %s" % (session.hostname, out.strip()[-200:]), output=out)
    return m.group(0).strip()
