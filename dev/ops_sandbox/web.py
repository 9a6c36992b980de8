"""The sandbox's web stack: nginx, haproxy and stand-in services under one private supervisord.

It gives the "closed mode / Sorry server" operation (issue #5) something real to switch: an haproxy load balancer
whose backend has the portal's nginx (``joho-web``) as its primary server and a Sorry nginx (``joho-sorry``, HTTP 503
for any path) as its backup, so the public URL shows the Sorry page exactly while ``joho-web`` is stopped. Beside
it run stand-ins for desknet's NEO: a web server (``neo-web``), an application (``neo-ap``, ``python3 -m
http.server``) and a database (``neo-db``, a TCP listener that accepts and closes).

Everything lives in ``<sandbox dir>/web/`` and listens on 127.0.0.1 only, on ports picked free at start-up, so every
sandbox directory (one per xdist worker in the tests) has its own stack:

* ``supervisord.conf``, ``supervisord.pid``, ``supervisor.sock`` (or, when that path is too long for AF_UNIX,
  ``/tmp/ops-sv-<hash of the web dir>/supervisor.sock``), ``endpoints.json``;
* ``logs/`` (supervisord's and every program's log), ``html/<site>/index.html``, ``nginx/<name>/`` (config, pid,
  temp folders: nginx never touches /etc/nginx or /var/log/nginx), ``haproxy/haproxy.cfg``.

Every process of the stack runs with ``web/`` as its working directory; ``down`` uses that to find and end any
process left behind. The programs are ``autorestart=false``: stopping one with ``supervisorctl stop`` keeps it
stopped, which is what the closed-mode operation does to ``joho-web``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ops_driver.errors import RunFailed
from ops_sandbox import procs
from ops_sandbox.procs import HOST

NORMAL_MARKER = "情報系ポータル（通常運用）"
SORRY_MARKER = "ただいまメンテナンス中です（Sorry）"
NEO_WEB_MARKER = "desknet's NEO"
NEO_AP_MARKER = "neo-ap"
#: The supervisord programs, in start order.
PROGRAMS = ("joho-web", "joho-sorry", "joho-lb", "neo-web", "neo-ap", "neo-db")
#: sun_path holds 108 bytes with the terminating NUL; stay well below it.
_MAX_SOCKET_PATH = 100
_ATTEMPTS = 3  # a port picked free can be taken by someone else before our server binds it: retry with new ports
PID_FILE = "supervisord.pid"  # in web/; supervisord rewrites it once it runs


def web_dir(directory: Path) -> Path:
    """The web stack's folder of the sandbox folder ``directory``: ``directory / "web"``."""
    return directory / "web"


def socket_path(directory: Path) -> Path:
    """supervisord's unix socket for the sandbox folder ``directory``.

    ``web/supervisor.sock`` unless its absolute path exceeds 100 bytes (AF_UNIX allows 107); then
    ``/tmp/ops-sv-<12 hex digits of sha256(web dir)>/supervisor.sock``. Deterministic, so ``down`` finds it too.
    """
    web = web_dir(directory).absolute()
    sock = web / "supervisor.sock"
    if len(os.fsencode(sock)) <= _MAX_SOCKET_PATH:
        return sock
    digest = hashlib.sha256(os.fsencode(web)).hexdigest()[:12]
    return Path("/tmp") / f"ops-sv-{digest}" / "supervisor.sock"  # noqa: S108 - a private 0700 folder, see _write


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):  # not on PATH for every user
        candidate = Path(folder) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _venv_tool(name: str) -> Path:
    return Path(sys.executable).parent / name


def require() -> dict[str, str]:
    """The executables the stack needs: ``{"nginx": path, "haproxy": path, "supervisord": path, ...}``.

    Raises ``RunFailed`` naming what is missing: nginx/haproxy come from Debian (``make sysdeps``), supervisord
    and supervisorctl from the virtual environment (``make venv``).
    """
    tools = {"nginx": _tool("nginx"), "haproxy": _tool("haproxy")}
    missing = [n for n, p in tools.items() if p is None]
    if missing:
        raise RunFailed(f"sandbox web stack: {' and '.join(missing)} not found; run `make sysdeps`")
    out = {n: str(p) for n, p in tools.items()}
    for name in ("supervisord", "supervisorctl"):
        path = _venv_tool(name)
        if not os.access(path, os.X_OK):
            raise RunFailed(f"sandbox web stack: {path} not found; run `make venv` (supervisor is in the lock)")
        out[name] = str(path)
    return out


def _page(title: str, marker: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="ja">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n</head>\n'
            f"<body>\n<h1>{marker}</h1>\n<p>{title} (ops-driver sandbox)</p>\n</body>\n</html>\n")


def _nginx_conf(web: Path, name: str, port: int, site: str, sorry: bool) -> str:
    def q(path: Path) -> str:  # an nginx string, whatever the path holds
        return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'

    base = web / "nginx" / name
    temp = "\n".join(f"    {kind}_temp_path {q(base / 'tmp' / kind)};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    if sorry:  # any path: 503 with the Sorry page as its body (error_page keeps the status for a named location)
        locations = ("        location / { return 503; }\n"
                     "        error_page 503 @sorry;\n"
                     "        location @sorry {\n"
                     "            add_header Retry-After 3600 always;\n"
                     "            add_header Cache-Control no-store always;\n"
                     "            try_files /index.html =500;\n"
                     "        }\n")
    else:
        locations = "        location / { try_files $uri $uri/ =404; }\n"
    # Worker processes of a root master run as "nobody" unless told otherwise; nobody cannot enter a private
    # sandbox folder (pytest's are 0700), so they keep the master's user.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (f"# generated by dev/ops_sandbox/web.py: {name}\n{user}worker_processes 1;\n"
            f"pid {q(base / 'nginx.pid')};\nerror_log {q(web / 'logs' / f'{name}.error.log')} warn;\n"
            "events { worker_connections 64; }\n"
            "http {\n    types { text/html html htm; text/plain txt; }\n    default_type application/octet-stream;\n"
            f"    charset utf-8;\n    access_log {q(web / 'logs' / f'{name}.access.log')};\n{temp}\n"
            f"    server {{\n        listen {HOST}:{port};\n        server_name _;\n"
            f"        root {q(web / 'html' / site)};\n        index index.html;\n{locations}    }}\n}}\n")


def _haproxy_cfg(lb: int, web_port: int, sorry_port: int) -> str:
    # Checks every 200 ms; one failed check takes joho-web out, one good one puts it back: the switch to the
    # Sorry server and back happens within about a second. The backup server is not checked: it is used
    # exactly when no primary server is up, and it answers 503 anyway (which an HTTP check would call down).
    return f"""# generated by dev/ops_sandbox/web.py: joho-lb
global
    log stdout format raw local0 info
    maxconn 256

defaults
    mode http
    log global
    option httplog
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
    timeout check 500ms
    retries 2
    option redispatch

frontend joho_public
    bind {HOST}:{lb}
    default_backend joho_portal

backend joho_portal
    option httpchk GET /
    http-response set-header X-Served-By %s
    server joho-web {HOST}:{web_port} check inter 200ms fall 1 rise 1
    server joho-sorry {HOST}:{sorry_port} backup
"""


def _supervisord_conf(web: Path, sock: Path, tools: dict[str, str], ports: dict[str, int]) -> str:
    python = sys.executable
    logs = web / "logs"
    user = "user=root\n" if os.geteuid() == 0 else ""  # says so, instead of a CRIT line in the log

    def cmd(*argv: str | Path | int) -> str:  # supervisord splits command= like a POSIX shell
        return " ".join(shlex.quote(str(a)) for a in argv)

    def nginx(name: str) -> str:
        base = web / "nginx" / name
        return cmd(tools["nginx"], "-p", f"{base}/", "-c", base / "nginx.conf", "-e", logs / f"{name}.error.log",
                   "-g", "daemon off;")

    neo_db = ("import socketserver as s, sys; s.TCPServer.allow_reuse_address = True; "
              f"s.TCPServer(('{HOST}', int(sys.argv[1])), s.BaseRequestHandler).serve_forever()")
    commands = {
        "joho-web": nginx("joho-web"),
        "joho-sorry": nginx("joho-sorry"),
        "joho-lb": cmd(tools["haproxy"], "-db", "-f", web / "haproxy" / "haproxy.cfg"),
        "neo-web": nginx("neo-web"),
        "neo-ap": cmd(python, "-m", "http.server", "--bind", HOST, "--directory", web / "html" / "neo-ap",
                      ports["neo-ap"]),
        "neo-db": cmd(python, "-c", neo_db, ports["neo-db"]),
    }
    sections = [f"""; generated by dev/ops_sandbox/web.py: the sandbox's web stack
[unix_http_server]
file={sock}
chmod=0700

[supervisord]
logfile={logs / 'supervisord.log'}
pidfile={web / PID_FILE}
childlogdir={logs}
directory={web}
nodaemon=true
silent=true
loglevel=info
{user}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}
"""]
    for priority, name in enumerate(PROGRAMS, start=1):
        sections.append(f"""[program:{name}]
command={commands[name]}
directory={web}
priority={priority * 10}
autostart=true
autorestart=false
startsecs=1
startretries=0
stopsignal=TERM
stopwaitsecs=5
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={logs / (name + '.log')}
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=0
environment=PYTHONUNBUFFERED="1"
""")
    return "\n".join(sections)


def _write(directory: Path, tools: dict[str, str]) -> dict[str, Any]:
    """Write ``web/`` afresh for new free ports; return the endpoints (also written to ``endpoints.json``)."""
    web = web_dir(directory).absolute()
    shutil.rmtree(web, ignore_errors=True)
    for sub in ("logs", "haproxy", "html/web", "html/sorry", "html/neo-web", "html/neo-ap"):
        (web / sub).mkdir(parents=True, exist_ok=True)
    sock = socket_path(directory)
    if sock.parent != web:
        shutil.rmtree(sock.parent, ignore_errors=True)
        try:
            sock.parent.mkdir(mode=0o700)
        except OSError as e:
            raise RunFailed(f"sandbox web stack: cannot create the socket folder {sock.parent}: {e}") from e
    names = ("joho-lb", "joho-web", "joho-sorry", "neo-web", "neo-ap", "neo-db")
    ports = dict(zip(names, procs.free_ports(len(names)), strict=True))

    pages = {"web": ("情報系ポータル", NORMAL_MARKER), "sorry": ("メンテナンスのお知らせ", SORRY_MARKER),
             "neo-web": ("desknet's NEO", NEO_WEB_MARKER), "neo-ap": ("desknet's NEO application", NEO_AP_MARKER)}
    for site, (title, marker) in pages.items():
        (web / "html" / site / "index.html").write_text(_page(title, marker), encoding="utf-8")
    for name, site in (("joho-web", "web"), ("joho-sorry", "sorry"), ("neo-web", "neo-web")):
        base = web / "nginx" / name
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (base / "tmp" / kind).mkdir(parents=True, exist_ok=True)
        (base / "nginx.conf").write_text(_nginx_conf(web, name, ports[name], site, sorry=name == "joho-sorry"),
                                         encoding="utf-8")
    (web / "haproxy" / "haproxy.cfg").write_text(_haproxy_cfg(ports["joho-lb"], ports["joho-web"],
                                                              ports["joho-sorry"]), encoding="utf-8")
    conf = web / "supervisord.conf"
    conf.write_text(_supervisord_conf(web, sock, tools, ports), encoding="utf-8")

    def url(name: str) -> str:
        return f"http://{HOST}:{ports[name]}/"

    data: dict[str, Any] = {
        "supervisord_config": str(conf), "supervisorctl": tools["supervisorctl"], "supervisor_socket": str(sock),
        "public_url": url("joho-lb"), "web_url": url("joho-web"), "sorry_url": url("joho-sorry"),
        "normal_marker": NORMAL_MARKER, "sorry_marker": SORRY_MARKER,
        "neo_web_url": url("neo-web"), "neo_ap_url": url("neo-ap"),
        "neo_ap_port": ports["neo-ap"], "neo_db_port": ports["neo-db"],
        "programs": list(PROGRAMS),
    }
    return data


def endpoints(directory: Path) -> dict[str, Any] | None:
    """The contents of ``web/endpoints.json`` if the stack's supervisord is running, else ``None``.

    Keys: ``supervisord_config``, ``supervisorctl``, ``supervisor_socket`` (absolute paths), ``public_url``
    (haproxy), ``web_url``, ``sorry_url``, ``neo_web_url``, ``neo_ap_url`` (``http://127.0.0.1:<port>/``),
    ``neo_ap_port``, ``neo_db_port`` (ints), ``normal_marker``, ``sorry_marker`` (text of the pages) and
    ``programs`` (the supervisord program names).
    """
    web = web_dir(directory)
    try:
        data: dict[str, Any] = json.loads((web / "endpoints.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = procs.read_pid(web / PID_FILE)
    return data if pid is not None and procs.alive(pid) else None


def program_states(directory: Path, timeout_s: float = 10.0) -> dict[str, str]:
    """Program name → supervisord state (``RUNNING``, ``STOPPED``, ``STARTING``, ``FATAL``, ``EXITED`` …).

    From ``supervisorctl -c <conf> status``. ``{}`` when the stack is not running. Raises ``RunFailed`` when
    supervisorctl cannot reach a running supervisord or does not answer within ``timeout_s`` seconds.
    """
    data = endpoints(directory)
    if data is None:
        return {}
    try:
        out = subprocess.run([data["supervisorctl"], "-c", data["supervisord_config"], "status"],
                             capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RunFailed(f"sandbox web stack: supervisorctl status failed: {e}") from e
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in PROGRAMS:
            states[parts[0]] = parts[1]
    if not states:  # exit status 3 only means "some program is not running"; no program line means no answer
        raise RunFailed(f"sandbox web stack: supervisorctl status (exit {out.returncode}): "
                        f"{(out.stdout + out.stderr).strip()}")
    return states


def fetch(url: str, timeout_s: float = 2.0) -> tuple[int, str]:
    """GET ``url``: ``(HTTP status, body decoded as UTF-8)``; an HTTP error status is returned, not raised.

    Raises ``OSError`` (``urllib.error.URLError`` included) when nothing answers.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:  # noqa: S310 - loopback URLs of the sandbox
            return int(r.status), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code), e.read().decode("utf-8", "replace")


def _serves(url: str, marker: str) -> bool:
    try:
        status, body = fetch(url, 1.0)
    except OSError:
        return False
    return status == 200 and marker in body


def _start(directory: Path, tools: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """One attempt: write web/, start supervisord, wait until every program is RUNNING and ``public_url`` serves
    the normal page. The endpoints; raises ``procs.StartFailed`` (the stack stopped) if it does not come up."""
    data = _write(directory, tools)
    web = web_dir(directory).absolute()
    proc = procs.spawn([tools["supervisord"], "-c", data["supervisord_config"]], log=web / "logs" / "supervisord.out",
                       pid_file=web / PID_FILE, cwd=web)
    (web / "endpoints.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    states: dict[str, str] = {}

    def ready() -> bool:
        nonlocal states
        try:
            states = program_states(directory, timeout_s=5.0)
        except RunFailed:
            states = {}  # the socket is not there yet
        failed = {n: s for n, s in states.items() if s not in ("RUNNING", "STARTING")}
        if failed:
            raise procs.GiveUp(f"programs failed: {failed}")
        return (len(states) == len(PROGRAMS) and all(s == "RUNNING" for s in states.values())
                and _serves(data["public_url"], NORMAL_MARKER))

    try:
        procs.wait_ready(proc, ready, name="supervisord", log=web / "logs" / "supervisord.log", timeout_s=timeout_s,
                         interval_s=0.2, describe=lambda: f"program states {states or 'unknown'}")
    except procs.StartFailed:
        _stop(directory)
        raise
    return data


def up(directory: Path, timeout_s: float = 20.0) -> dict[str, Any]:
    """Start the web stack of the sandbox folder ``directory`` unless it is running; return its endpoints.

    Waits (up to ``timeout_s`` seconds per attempt) until every program is RUNNING and ``public_url`` answers the
    normal page. If supervisord is already running the existing endpoints are returned and nothing is changed (a
    program stopped on purpose, e.g. ``joho-web`` in closed mode, stays stopped). A stale ``web/`` (supervisord
    gone) is cleared first. Raises ``RunFailed`` if nginx/haproxy/supervisor are missing or the stack does not
    come up (three attempts with fresh ports); the message names the log folder, which is kept.
    """
    current = endpoints(directory)
    if current is not None:
        return current
    tools = require()
    _stop(directory)
    failure: procs.StartFailed | None = None
    for _ in range(_ATTEMPTS):
        try:
            return _start(directory, tools, timeout_s)
        except procs.StartFailed as e:
            failure = e
    assert failure is not None
    ending = f"\nlast lines of {failure.log}:\n{failure.tail}" if failure.tail else ""
    raise RunFailed(f"sandbox web stack did not come up: {failure.name} {failure.reason}; "
                    f"see the logs in {web_dir(directory) / 'logs'}{ending}")


def _leftovers(web: Path) -> list[int]:
    """Processes (other than this one) whose working directory is ``web``: the stack's processes."""
    found = []
    target = os.path.realpath(web)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(entry / "cwd") == target:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _stop(directory: Path, timeout_s: float = 15.0) -> None:
    """Stop supervisord (SIGTERM: it stops its programs first) and any process of the stack left; keep ``web/``."""
    web = web_dir(directory).absolute()
    pid = procs.read_pid(web / PID_FILE)
    if pid is not None:
        procs.stop(pid, timeout_s=timeout_s)
    if web.is_dir():
        procs.stop(*_leftovers(web), timeout_s=5.0)
    (web / PID_FILE).unlink(missing_ok=True)


def down(directory: Path, timeout_s: float = 15.0) -> None:
    """Stop the web stack of the sandbox folder ``directory`` and remove ``web/`` (idempotent).

    supervisord gets SIGTERM and stops its programs (each ``stopwaitsecs=5``, then SIGKILL); after ``timeout_s``
    seconds it is killed. Any process still working in ``web/`` is then ended too, and waited for.
    """
    _stop(directory, timeout_s)
    sock = socket_path(directory)
    if sock.parent != web_dir(directory).absolute():
        shutil.rmtree(sock.parent, ignore_errors=True)
    shutil.rmtree(web_dir(directory), ignore_errors=True)
