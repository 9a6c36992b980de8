"""A fault-injecting proxy for the JSON and rest-json AWS APIs (GuardDuty, CloudTrail, Backup, Config): tests only.

It listens on 127.0.0.1, finds each request's operation as the seeded server does (``aws_seeded.operation_of``:
SigV4 scope, ``X-Amz-Target``, rest-json path), counts it in ``calls`` and either forwards it to ``upstream`` or,
when ``faults[operation]`` says so, answers at once with the error that AWS gives:

- ``throttle``: HTTP 400 ``ThrottlingException`` ("Rate exceeded"), the JSON protocols' throttling error, which
  botocore's retry handler retries and then raises (``x-amzn-ErrorType`` header and ``__type`` in the body, as
  botocore's JSON and rest-json parsers read them);
- ``deny``: HTTP 403 ``AccessDeniedException`` (an IAM policy without the action).

No answer is delayed: the fault is the answer.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ops_sandbox.aws_seeded import operation_of

FAULTS = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "deny": (403, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ops is not authorized to perform "
                                           "this action"),
}


class JsonFaultProxy:
    """``JsonFaultProxy(upstream).start()``; ``endpoint`` its URL; ``faults`` operation -> ``throttle``/``deny``;
    ``calls`` counts operations (``Service Operation``)."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.faults: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service, operation, _ = operation_of(self.command, urllib.parse.urlsplit(self.path).path,
                                                     self.headers)
                with proxy.lock:
                    proxy.calls[f"{service} {operation}"] += 1
                    fault = proxy.faults.get(operation)
                if fault:
                    status, code, message = FAULTS[fault]
                    self._reply(status, json.dumps({"__type": code, "message": message}).encode(),
                                {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                req = urllib.request.Request(proxy.upstream + self.path, data=body or None, headers=headers,
                                             method=self.command)
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        status, data, rh = r.status, r.read(), dict(r.headers)
                except urllib.error.HTTPError as e:
                    status, data, rh = e.code, e.read(), dict(e.headers)
                self._reply(status, data, {k: v for k, v in rh.items()
                                           if k.lower() not in ("content-length", "transfer-encoding", "connection")})

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> JsonFaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
