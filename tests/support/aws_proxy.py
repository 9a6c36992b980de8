"""A counting, fault-injecting HTTP proxy in front of the sandbox moto server (tests and benchmarks only).

It listens on 127.0.0.1, forwards every request to moto and counts EC2 API calls by Action. Rules inject
the faults moto cannot produce:

- ``throttle[Action] = n``: answer the next ``n`` calls of Action with HTTP 503 RequestLimitExceeded
  (the EC2 throttling error, see "Request throttling for the Amazon EC2 API" in the EC2 API Reference);
- ``status_checks_stuck = True``: DescribeInstanceStatus reports every status check as ``initializing``;
- ``images_stuck = True``: DescribeImages reports every available image as ``pending`` (an AMI that never
  becomes available);
- ``s3_denied_keys = {key}``: GetObject of these keys answers 403 AccessDenied (a download that fails
  half-way through a set of objects);
- ``never_reach[state] = True``: DescribeInstances reports instances that are in ``state`` as ``pending`` /
  ``stopping`` instead (an instance that never gets there);
- ``never_reach_ids[instance_id] = state``: the same for one instance only, from its next StartInstances
  (``running``) or StopInstances (``stopped``) call on (one instance that fails to start or to stop while the
  others do);
- ``host_states[host_id] = state``: DescribeHosts reports that Dedicated Host in ``state`` (e.g.
  ``under-assessment``, ``permanent-failure``) instead of its real one (a host that is not ``available``);
- ``hold[Action] = "before" | "after"``: hold each call of Action until the test sets ``release`` - before it
  reaches moto (nothing has changed yet; a call whose caller was killed meanwhile is dropped) or after moto has
  done it, with the reply held (the change is made, the
  caller does not know yet); ``held`` is set when a call is being held. The point a test sends its signal at.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

THROTTLED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
             b'<Message>Request limit exceeded.</Message></Error></Errors><RequestID>proxy</RequestID></Response>')


DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
          b'<RequestId>proxy</RequestId></Error>')


class AwsProxy:
    """Start with ``AwsProxy(upstream).start()``; ``endpoint`` is its URL; ``calls`` counts Actions."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.calls: Counter[str] = Counter()
        self.throttle: dict[str, int] = {}
        self.status_checks_stuck = False
        self.never_reach: dict[str, bool] = {}
        self.never_reach_ids: dict[str, str] = {}
        self.armed: set[str] = set()
        self.images_stuck = False
        self.s3_denied_keys: set[str] = set()
        self.host_states: dict[str, str] = {}
        self.hold: dict[str, str] = {}
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
                with proxy.lock:
                    if action:
                        proxy.calls[action] += 1
                    arm = {"StartInstances": "running", "StopInstances": "stopped"}.get(action)
                    text = body.decode("utf-8", "replace")
                    proxy.armed.update(i for i, s in proxy.never_reach_ids.items() if s == arm and i in text)
                    throttled = proxy.throttle.get(action, 0) > 0
                    if throttled:
                        proxy.throttle[action] -= 1
                if throttled:
                    self._reply(503, THROTTLED, {"Content-Type": "text/xml"})
                    return
                point = proxy.hold.get(action)
                if point == "before":
                    proxy.held.set()
                    proxy.release.wait(600)
                    if self._caller_gone():
                        return  # killed while held: its call never reaches EC2, as a dropped request would not
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                if self.command == "GET" and any(path.endswith("/" + k) for k in proxy.s3_denied_keys):
                    self._reply(403, DENIED, {"Content-Type": "application/xml"})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                req = urllib.request.Request(proxy.upstream + self.path, data=body or None, headers=headers,
                                             method=self.command)
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        status, data, rh = r.status, r.read(), dict(r.headers)
                except urllib.error.HTTPError as e:
                    status, data, rh = e.code, e.read(), dict(e.headers)
                data = proxy.rewrite(action, data)
                if point == "after":
                    proxy.held.set()
                    proxy.release.wait(600)
                self._reply(status, data, {k: v for k, v in rh.items()
                                           if k.lower() not in ("content-length", "transfer-encoding", "connection")})

            def _caller_gone(self) -> bool:
                """Has the caller closed its connection (end of stream waiting on the socket)?"""
                try:
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller went away (a test killed it while its call was held)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def rewrite(self, action: str, data: bytes) -> bytes:
        if action == "DescribeInstanceStatus" and self.status_checks_stuck:
            data = data.replace(b"<status>ok</status>", b"<status>initializing</status>")
        if action == "DescribeImages" and self.images_stuck:
            data = data.replace(b"<imageState>available</imageState>", b"<imageState>pending</imageState>")
        if action == "DescribeHosts":
            for host_id, host_state in self.host_states.items():
                host = re.compile(rb"(<hostId>" + re.escape(host_id.encode()) +
                                  rb"</hostId>(?:(?!<hostId>).)*?<state>)[^<]*(</state>)", re.S)
                data = host.sub(rb"\g<1>" + host_state.encode().replace(b"\\", b"\\\\") + rb"\g<2>", data)
        if action == "DescribeInstances":
            if self.never_reach.get("running"):
                data = data.replace(b"<name>running</name>", b"<name>pending</name>")
            if self.never_reach.get("stopped"):
                data = data.replace(b"<name>stopped</name>", b"<name>stopping</name>")
            for instance_id, state in self.never_reach_ids.items():
                if instance_id not in self.armed:
                    continue
                stuck = {"running": (b"0", b"pending"), "stopped": (b"64", b"stopping")}[state]
                item = re.compile(rb"(<instanceId>" + re.escape(instance_id.encode()) +
                                  rb"</instanceId>(?:(?!<instanceId>).)*?<instanceState>\s*<code>)\d+(</code>\s*<name>)"
                                  + state.encode() + rb"(</name>)", re.S)
                data = item.sub(lambda m, s=stuck: m.group(1) + s[0] + m.group(2) + s[1] + m.group(3), data)
        return data

    def start(self) -> AwsProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.throttle.clear()
            self.never_reach.clear()
            self.never_reach_ids.clear()
            self.armed.clear()
            self.status_checks_stuck = False
            self.images_stuck = False
            self.s3_denied_keys.clear()
            self.host_states.clear()
            self.hold.clear()
            self.release.set()
            self.held.clear()
