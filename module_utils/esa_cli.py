# Operations automation collection - GPL-3.0-or-later (as Ansible modules are)
"""The AsyncOS CLI of a Cisco Secure Email Gateway (ESA) over SSH: read and edit HAT sender groups, commit, clear.

Used by ``library/esa_sender_group.py`` (COMM-025, CORE-023). Sources of the behaviour (each named where it is
used; tools/esa_sim/README.md has the table of what is confirmed and what is not):

- ``netfishers-onl/Netshot`` ``src/main/resources/drivers/Cisco_AsyncOS.js`` (``const CLI``): a PTY; the top prompt
  ``host> `` or ``(Cluster NAME)> `` / ``(Machine HOST)> ``; the pager ``-Press Any Key For More-`` that cannot be
  disabled, answered with a space; ``commit`` asks ``Do you want to save the current configuration for
  rollback?``; ``clear`` asks ``Are you sure you want to clear all changes since the last commit?``; ``version``
  prints ``Version: 15.0.0-104``.
- Cisco's own CLI test library (``sarf_centos/testlib/*/cli/ctor``: ``commit.py`` - ``Please enter some
  comments`` or ``no data to commit``, then the rollback question; ``clustermode.py`` - ``Choose the
  configuration`` mode, then ``Choose the group to configure.`` / ``Choose a machine.``; ``listenerconfig.py`` -
  ``listenerconfig`` > ``EDIT`` > ``HOSTACCESS`` > ``EDIT`` > sender group > ``NEW`` / ``DELETE``, ``PRINT`` up to
  ``Choose the operation``); other automation of the ESA CLI expects ``There is no data to commit.``.
- Cisco *CLI Reference Guide* and *User Guide for AsyncOS* (HAT text format, "Centralized Management Using
  Clusters": cluster / group / machine levels, ``clustermode``).

The AsyncOS REST API does not write HAT sender groups, hence the CLI.

Every exchange is one **round trip**: one line sent, the output read up to the next prompt (``[...]> `` or the top
prompt), the pager answered on the way. :attr:`EsaSession.round_trips` counts them. SSH host keys are always
checked against a ``known_hosts`` file; the password is used for SSH authentication only and never written to the
channel or the transcript. No line sent holds a control character (:data:`CONTROL`).

Test hooks (never active in production): only when the environment has ``OPS_TEST_HOOKS=1``, an executable named
by ``OPS_TEST_HOOK_ESA_BEFORE_COMMIT`` / ``OPS_TEST_HOOK_ESA_AFTER_COMMIT`` is run by :func:`commit` with the
appliance (``EsaSession.where``) as its argument - before ``commit`` is sent (the edits pending) and once the
appliance has said ``Changes committed`` - so a test can hold a change at that point and kill the run there
(issue #23), deterministically.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess

try:
    import asyncssh
    HAS_ASYNCSSH = True
    ASYNCSSH_IMPORT_ERROR = None
except ImportError as _e:  # pragma: no cover - reported by the module with missing_required_lib
    asyncssh = None
    HAS_ASYNCSSH = False
    ASYNCSSH_IMPORT_ERROR = _e

#: The top prompt (Netshot ``Cisco_AsyncOS.js``, ``CLI.oper.prompt``): ``host.example.jp> `` on a standalone
#: appliance; ``(Cluster NAME)> `` / ``(Machine HOST)> `` (and, not confirmed, ``(Group NAME)> ``) on a clustered one.
_TOP_TEXT = r"(?:[A-Za-z0-9][A-Za-z0-9_.\-]{0,252}|\((?:Cluster|Group|Machine) [A-Za-z0-9][A-Za-z0-9_.\-]{0,252}\) ?)> "
_TOP_PROMPT = re.compile(r"(?:\A|\n)(%s)\Z" % _TOP_TEXT)
_TOP_PARTS = re.compile(r"\((Cluster|Group|Machine) ([^)]+)\) ?> \Z|([A-Za-z0-9][A-Za-z0-9_.\-]*)> \Z")
#: The pager, which cannot be disabled: long output stops at this text and waits for any key (Netshot
#: ``CLI.oper.pager``: ``/-Press Any Key For More-$/``, answered with a space). After the key the appliance hides it
#: with ``\r`` + spaces + ``\r`` (Netshot's comment above ``const CLI``).
PAGER = "-Press Any Key For More-"
_PAGER_HIDE = re.compile(r"-Press Any Key For More-(?:\r *\r)?")
#: What ends one answer: the top prompt, a menu prompt (``[]> ``, ``[1]> ``; ``[Y]> `` may end a question's line),
#: or the pager.
_ANY_PROMPT = re.compile(r"(?:(?:\A|\n|\? )\[[^\]\r\n]{0,40}\]> |(?:\A|\n)%s|%s)\Z"
                         % (_TOP_TEXT, re.escape(PAGER)))
_MENU_PROMPT = re.compile(r"\n\[[^\]\r\n]{0,40}\]> \Z")
_PROMPT_MAX_LEN = 300
_ERROR_LINE = re.compile(r"^\s*Error:.*$", re.MULTILINE)
#: Anything a terminal would act on: C0 controls (CR, LF, ESC, ...), DEL and C1 controls. One line sent to the CLI
#: holds none of them, so a value can never become a second command (issue #22, item 5).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Longest line of senders sent to one NEW (the CLI's line editor; entries are separated by ", ").
MAX_NEW_LINE = 1000
#: Terminal size asked for with the PTY (Netshot asks for 0xffffff x 0xffffff; the pager stays on anyway).
TERM_SIZE = (4096, 4096)
#: Configuration levels (``clustermode``, User Guide "Centralized Management Using Clusters"); ``standalone`` is an
#: appliance outside any cluster.
LEVELS = ("standalone", "cluster", "group", "machine")
#: AsyncOS 14.0 and later name the default list sender groups ALLOWED_LIST / BLOCKED_LIST (before: WHITELIST /
#: BLACKLIST; Cisco TechNote on HAT export/import). Requests keep one spelling; the appliance's is used.
LIST_NAMES_14 = {"WHITELIST": "ALLOWED_LIST", "BLACKLIST": "BLOCKED_LIST"}


class EsaCliError(Exception):
    """A failed exchange. ``kind``: ``invalid`` (bad input: unknown listener or sender group, refused sender,
    a control character in a line to send, a configuration level that does not match the appliance), ``auth`` (SSH
    authentication or host key), ``timeout``, ``disconnected`` or ``failed`` (anything else)."""

    def __init__(self, message, kind="failed", output=""):
        super().__init__(message)
        self.kind = kind
        self.output = output


def check_text(value, field):
    """Raise EsaCliError (``invalid``) naming ``field`` when ``value`` holds a control character (CR, LF, ...)."""
    m = CONTROL.search(value or "")
    if m:
        raise EsaCliError("%s: holds the control character %r; the CLI takes one line of printable text - remove "
                          "line breaks, tabs and escape sequences" % (field, m.group(0)), kind="invalid")


def parse_prompt(out):
    """``(level, name)`` of the top prompt ending ``out``: ``("standalone", host)``, ``("cluster", NAME)``,
    ``("group", NAME)``, ``("machine", HOST)``; None when ``out`` does not end with a top prompt."""
    m = _TOP_PARTS.search(out)
    if not m:
        return None
    if m.group(3):
        return "standalone", m.group(3)
    return m.group(1).lower(), m.group(2).strip()


class _SshChannel:
    """The interactive shell of an asyncssh connection (the transport of :class:`EsaSession`)."""

    def __init__(self, proc):
        self._proc = proc

    async def write(self, data):
        self._proc.stdin.write(data)

    async def readuntil(self, pattern):
        return await self._proc.stdout.readuntil(pattern, _PROMPT_MAX_LEN)


class EsaSession:
    """One SSH session to the CLI of one appliance, driven line by line (synchronous wrapper over asyncssh).

    ``host``/``port``: the appliance's SSH address. ``known_hosts``: OpenSSH known_hosts file holding its host key
    (for a port other than 22 the entry is ``[host]:port``). ``connect_timeout_s``/``command_timeout_s``: seconds.
    The shell runs on a PTY (Netshot ``CLI.ssh.config.terminal.pty``), so the appliance pages long output and
    echoes what is typed; :meth:`send` answers the pager with a space and drops the echo. ``channel``: a stand-in
    transport (``async write(str)``, ``async readuntil(regex) -> str``) used instead of SSH by the replay tests.
    """

    def __init__(self, host, port, username, password, known_hosts, connect_timeout_s=30, command_timeout_s=60,
                 channel=None):
        self.host = host
        self.port = int(port)
        self.username = username
        self._password = password
        self.known_hosts = known_hosts
        self.connect_timeout_s = connect_timeout_s
        self.command_timeout_s = command_timeout_s
        self.round_trips = 0
        self.pages = 0  # pager stops answered
        self.hostname = None
        self.level = None  # standalone, cluster, group or machine (from the prompt)
        self.level_name = None  # the cluster, group or machine the prompt names
        self.transcript = []  # (sent line, first line of the answer) pairs, for the evidence
        self._loop = asyncio.new_event_loop()
        self._conn = None
        self._chan = channel

    # -- connection -------------------------------------------------------------------------------------------
    def open(self):
        """Connect, authenticate, start the shell on a PTY and read up to the top prompt. Returns the banner."""
        try:
            banner = self._run(self._open(), self.connect_timeout_s, "connecting")
        except EsaCliError:
            self.close()
            raise
        where = parse_prompt(banner)
        if where is None or _MENU_PROMPT.search(banner):
            self.close()
            raise EsaCliError("%s:%s: no AsyncOS CLI prompt after login" % (self.host, self.port), output=banner)
        self._learn(where)
        return banner

    def _learn(self, where):
        self.level, self.level_name = where
        if self.level in ("standalone", "machine"):
            self.hostname = self.level_name

    async def _open(self):
        if self._chan is None:
            try:
                self._conn = await asyncssh.connect(
                    self.host, port=self.port, username=self.username, password=self._password,
                    known_hosts=self.known_hosts, client_keys=None, agent_path=None, preferred_auth="password",
                    connect_timeout=self.connect_timeout_s)
            except asyncssh.HostKeyNotVerifiable as e:
                raise EsaCliError("%s:%s: the host key does not match %s (%s); check the appliance's fingerprint "
                                  "and the known_hosts file" % (self.host, self.port, self.known_hosts, e),
                                  kind="auth") from None
            except asyncssh.PermissionDenied:
                raise EsaCliError("%s:%s: SSH authentication failed for user %s" % (
                    self.host, self.port, self.username), kind="auth") from None
            except (OSError, asyncssh.Error) as e:
                raise EsaCliError("%s:%s: cannot connect: %s" % (self.host, self.port, e),
                                  kind="disconnected") from None
            proc = await self._conn.create_process(term_type="vt100", term_size=TERM_SIZE, encoding="utf-8",
                                                   errors="replace")
            self._chan = _SshChannel(proc)
        return await self._read_answer()

    async def _read_answer(self):
        """Read up to the next prompt, answering every pager stop with a space; the pager text is dropped."""
        out = ""
        while True:
            out += await self._chan.readuntil(_ANY_PROMPT)
            if not out.endswith(PAGER):
                return _PAGER_HIDE.sub("", out)
            self.pages += 1
            await self._chan.write(" ")

    def close(self):
        """Close the session (uncommitted changes are dropped by the appliance). Never raises."""
        async def _close():
            if self._chan is not None:
                try:
                    await self._chan.write("exit\n")
                except Exception:  # noqa: BLE001, S110 - closing must not hide the real error
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
        self._conn = self._chan = None

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
        """Send one line and return the output up to the next prompt (prompt included, echo and pager removed).

        One round trip (pager stops are counted in :attr:`pages`). ``line`` must be one line of printable text:
        a control character (CR, LF, ESC, ...) raises EsaCliError ``invalid`` and nothing is sent.
        """
        check_text(line, what or "the line to send")
        if self._chan is None:
            raise EsaCliError("%s:%s: not connected" % (self.host, self.port), kind="disconnected")
        what = what or ("answering %r" % line if len(line) < 60 else "sending %d characters" % len(line))

        async def _exchange():
            await self._chan.write(line + "\n")
            return await self._read_answer()

        out = self._run(_exchange(), self.command_timeout_s, what)
        self.round_trips += 1
        # a PTY echoes the line typed: drop it (up to the end of its line)
        if line and out.startswith(line):
            rest = out[len(line):]
            if rest.startswith("\r\n") or rest.startswith("\n"):
                out = rest
        where = parse_prompt(out) if _TOP_PROMPT.search(out) else None
        if where is not None:
            self._learn(where)
        first = next((x.strip() for x in out.splitlines() if x.strip()), "")
        self.transcript.append([line if len(line) <= 200 else line[:200] + "...", first[:200]])
        return out

    def at_top(self, out):
        """Whether ``out`` ends with the top prompt (whatever level it names)."""
        return bool(_TOP_PROMPT.search(out))

    @property
    def where(self):
        """The appliance for messages: its host name, or ``host:port (cluster NAME)`` before one is known."""
        if self.hostname:
            return self.hostname
        if self.level_name:
            return "%s:%s (%s %s)" % (self.host, self.port, self.level, self.level_name)
        return "%s:%s" % (self.host, self.port)


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
        if "Currently configured listeners:" not in out and not self.s.at_top(out) and " mode" in out:
            # the cluster-mode question: the HAT is configured at another level than the one this run works at;
            # any answer would switch level or copy settings, so the session is dropped unanswered
            self.s.close()
            raise EsaCliError("cluster_mode: on %s listenerconfig is not configured at the %s level this run "
                              "works at (esa_sender_groups_cluster_mode); the appliance asks: %s" % (
                                  self.s.where, self.s.level, " / ".join(
                                      x.strip() for x in out.splitlines() if x.strip())[:400]),
                              kind="invalid", output=out)
        self.listeners = parse_numbered(out, "Currently configured listeners:")
        if self.listener not in self.listeners:
            self.s.send("")  # back to the top prompt
            raise EsaCliError("listener: %s is not a listener of %s (listeners: %s)" % (
                self.listener, self.s.where, ", ".join(self.listeners) or "none"), kind="invalid")
        self.s.send("edit")
        out = self.s.send(self.listener)
        if errors_in(out) or "HOSTACCESS" not in out:
            self._back(1)
            raise EsaCliError("%s: cannot edit listener %s: %s" % (
                self.s.where, self.listener, "; ".join(errors_in(out)) or "no listener menu"), output=out)
        out = self.s.send("hostaccess")
        if "PRINT" not in out:
            self._back(2)
            raise EsaCliError("%s: no HOSTACCESS menu for listener %s" % (self.s.where, self.listener), output=out)

    def _back(self, levels):
        """Empty answers until the top prompt (at most ``levels`` + 2)."""
        for _ in range(levels + 2):
            out = self.s.send("")
            if self.s.at_top(out):
                return
        raise EsaCliError("%s: cannot get back to the top prompt" % self.s.where)

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
                group, self.listener, self.s.where, ", ".join(groups)), kind="invalid")
        out = self.s.send(group)
        if errors_in(out) or "NEW" not in out:
            raise EsaCliError("%s: cannot edit sender group %s: %s" % (
                self.s.where, group, "; ".join(errors_in(out)) or "no sender group menu"), output=out)
        for line in sender_lines(add):
            self.s.send("new")
            out = self.s.send(line, what="adding senders to %s" % group)
            errs = errors_in(out)
            if errs:
                raise EsaCliError("%s refused senders for %s: %s" % (self.s.where, group, "; ".join(errs)),
                                  kind="invalid", output=out)
            if "comment" in out.lower():  # "Enter a comment for these senders (optional)."
                out = self.s.send(comment[:200])
        for entry in delete:
            self.s.send("delete")
            out = self.s.send(entry, what="deleting %s from %s" % (entry, group))
            errs = errors_in(out)
            if errs:
                raise EsaCliError("%s cannot delete %s from %s: %s" % (self.s.where, entry, group,
                                                                      "; ".join(errs)), output=out)
        self.s.send("")  # back to the HOSTACCESS menu


def _hook(point, appliance):
    """The test hook of ``point`` ("before_commit", "after_commit"); see the module's doc. Only with
    ``OPS_TEST_HOOKS=1`` (never set in production): the executable named by ``OPS_TEST_HOOK_ESA_<POINT>`` runs with
    ``appliance`` as its argument, and must succeed."""
    if os.environ.get("OPS_TEST_HOOKS") == "1":
        script = os.environ.get("OPS_TEST_HOOK_ESA_" + point.upper())
        if script:
            subprocess.run([script, appliance], check=True)


def commit(session, comment):
    """``commit`` with ``comment`` (answering Y to saving the configuration for rollback).

    Returns the ``Changes committed: ...`` line, or None when the appliance answers ``There is no data to commit.``
    (nothing was pending: no change, never a failure). Raises EsaCliError when the appliance reports an error or
    the session drops. Sources: Cisco ``testlib/.../cli/ctor/commit.py`` (``Please enter some comments`` /
    ``no data to commit``, then ``Do you want to save the current configuration for rollback? [Y]>``), Netshot
    ``Cisco_AsyncOS.js`` (``commitSaveConfirm``). Test hooks "before_commit" and "after_commit" (see ``_hook``).
    """
    check_text(comment, "comment")
    _hook("before_commit", session.where)
    out = session.send("commit")
    if "There is no data to commit." in out:
        return None
    for _ in range(4):
        if session.at_top(out):
            break
        if "comments describing your changes" in out:
            out = session.send(comment[:200], what="committing")
        elif "save the current configuration for rollback" in out:
            out = session.send("Y", what="committing")
        else:
            out = session.send("", what="committing")
    errs = errors_in(out)
    m = re.search(r"^Changes committed:.*$", out, re.MULTILINE)
    if errs or not m:
        raise EsaCliError("commit failed on %s: %s" % (session.where,
                                                      "; ".join(errs) or out.strip()[-200:]), output=out)
    _hook("after_commit", session.where)
    return m.group(0).strip()


def clear(session):
    """``clear``: drop the pending (uncommitted) changes, answering Y to ``Are you sure you want to clear all
    changes since the last commit?`` (Netshot ``Cisco_AsyncOS.js``, ``clearConfirm``). Returns the appliance's
    last line before the prompt."""
    out = session.send("clear")
    if "Are you sure you want to clear all changes" in out:
        out = session.send("Y", what="clearing")
    if not session.at_top(out):
        raise EsaCliError("clear failed on %s: %s" % (session.where, out.strip()[-200:]),
                          output=out)
    lines = [x.strip() for x in out.splitlines() if x.strip()]
    return lines[-2] if len(lines) > 1 else "cleared"


def parse_list(output):
    """``{label: number}`` of the numbered choices ``N. label`` in ``output`` (the last list wins a label)."""
    return {m.group(2).strip(): m.group(1) for m in re.finditer(r"^\s*(\d+)\. (.+?)\s*$", output, re.MULTILINE)}


def set_level(session, level, name=None):
    """Make ``level`` (``cluster``, ``group`` or ``machine``) the CLI's configuration mode with ``clustermode``.

    ``name``: the group or machine (a machine matches its host name or its first label); None takes the only one
    offered. Nothing happens when the prompt already names that level (and name). Raises EsaCliError ``invalid``
    when the appliance is not in a cluster, or the level or name is not offered. Source: Cisco
    ``testlib/.../cli/ctor/clustermode.py`` (``Choose the configuration`` mode; then ``Choose the group to
    configure.`` or ``Choose a machine.``); User Guide, "Centralized Management Using Clusters".
    """
    where = session.where
    if session.level == "standalone":
        raise EsaCliError("cluster_mode: %s is not in a cluster (its prompt is %s> ); set cluster_mode: standalone "
                          "for it" % (where, session.level_name), kind="invalid")
    if session.level == level and (name is None or _same_name(session.level_name, name)):
        return
    out = session.send("clustermode")
    if "Choose the configuration" not in out:
        _leave(session, out)
        raise EsaCliError("%s: clustermode offers no configuration mode: %s" % (where, out.strip()[-200:]),
                          output=out)
    choice = next((n for label, n in parse_list(out).items() if label.split(":")[0].strip().lower() == level), None)
    if choice is None:
        _leave(session, out)
        raise EsaCliError("cluster_mode: %s offers no %s mode" % (where, level), kind="invalid", output=out)
    out = session.send(choice, what="choosing %s mode" % level)
    if not session.at_top(out) and ("Choose the group" in out or "Choose a machine" in out):
        items = parse_list(out)
        pick = [n for label, n in items.items() if name is None or _same_name(label, name)]
        if len(pick) != 1:
            _leave(session, out)
            raise EsaCliError("cluster_mode: %s: %s %s is not one of %s" % (
                where, level, name or "(one)", ", ".join(items) or "none"), kind="invalid", output=out)
        out = session.send(pick[0], what="choosing the %s" % level)
    if not session.at_top(out) or session.level != level:
        _leave(session, out)
        raise EsaCliError("%s: clustermode did not switch to %s mode: %s" % (where, level, out.strip()[-200:]),
                          output=out)


def _same_name(have, want):
    have, want = have.lower(), want.lower()
    return have == want or have.split(".", 1)[0] == want.split(".", 1)[0]


def _leave(session, out):
    """Empty answers until the top prompt (a few at most)."""
    for _ in range(4):
        if session.at_top(out):
            return
        out = session.send("")


def read_version(session):
    """``{"version": "15.0.0-104", "major": 15, "model": ...}`` from ``version`` (Netshot ``snapshot()``:
    ``/^Version: ([0-9.-]+)/m``, ``/^Model: (.+)/m``). Raises EsaCliError when no version line is printed."""
    out = session.send("version")
    m = re.search(r"^Version: ([0-9][0-9.\-]*)", out, re.MULTILINE)
    if not m:
        raise EsaCliError("%s: version printed no Version: line" % (session.where),
                          output=out)
    model = re.search(r"^Model: (.+?)\s*$", out, re.MULTILINE)
    return {"version": m.group(1), "major": int(m.group(1).split(".")[0]),
            "model": model.group(1) if model else None}


def appliance_group_name(name, major):
    """The sender group an appliance of AsyncOS ``major`` calls ``name``: WHITELIST / BLACKLIST and
    ALLOWED_LIST / BLOCKED_LIST are one group under the names of before and from 14.0; other names unchanged."""
    back = {v: k for k, v in LIST_NAMES_14.items()}
    if major >= 14:
        return LIST_NAMES_14.get(name, name)
    return back.get(name, name)
