"""
A real local HTTP server standing in for a CRM or ticketing API, scripted per path.

Tests, the benchmark and the demo tell it what to answer: JSON pages, failures, throttling,
slowness, redirects, malformed or oversize bodies. It is a real socket on 127.0.0.1, so the
connector's HTTP client, retries and guards run for real, with nothing patched.
"""
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One scripted answer. ``delay`` sleeps before answering (to provoke client timeouts)."""

    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0
    drop_after: int | None = None  # send this many bytes of the body, then close the connection

    def payload(self):
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body if self.body is not None else {}).encode()


class _Handler(BaseHTTPRequestHandler):
    """
    Answers every request from the server's ``Script`` and records it there, for tests to check what the
    connector sent.
    """

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        """Quiet: tests read ``server.requests`` instead."""

    def do_GET(self):  # pylint: disable=invalid-name
        self._answer(None)

    def do_POST(self):  # pylint: disable=invalid-name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if "json" in (self.headers.get("Content-Type") or "") else parse_qs(raw.decode())
        except ValueError:
            body = raw
        self._answer(body)

    def _answer(self, body):
        """
        Records the request, then plays the scripted reply: its delay, status and headers, and a body cut
        short where ``drop_after`` says.
        """
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.server.script.requests.append({"path": parts.path, "query": query, "headers": dict(self.headers),
                                            "method": self.command, "body": body})
        reply = self.server.script.reply_for(parts.path, query if body is None else {**query, "_body": body})
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.payload()
        self.send_response(reply.status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(payload)),
                            **reply.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            if reply.drop_after is not None:  # a connection lost mid-body, as proxies and flaky APIs do
                self.wfile.write(payload[:reply.drop_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, size cap): that is what some tests provoke


class Script:
    """What the server answers: per path, a queue of replies (the last repeats) or a function of the query."""

    def __init__(self):
        self.routes, self.requests = {}, []
        self.lock = threading.Lock()

    def reply_for(self, path, query):
        with self.lock:
            route = self.routes.get(path)
            if route is None:
                return Reply(status=404, body={"error": "not found"})
            if callable(route):
                return route(query)
            return route.pop(0) if len(route) > 1 else route[0]


class KpiServer:
    """``with KpiServer() as server: server.route("/x", Reply(...)); server.url("/x")``."""

    def __init__(self, address=("127.0.0.1", 0)):
        self.script = Script()
        self.httpd = ThreadingHTTPServer(address, _Handler)
        self.httpd.daemon_threads = True
        self.httpd.script = self.script
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def requests(self):
        return self.script.requests

    def route(self, path, *replies):
        """Answer ``path`` with these replies in turn (the last one repeats), or with a function of the query."""
        self.script.routes[path] = replies[0] if len(replies) == 1 and callable(replies[0]) else list(replies)

    def url(self, path=""):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"


def rest_source(server, path, **config):
    """A REST source's declaration pointed at ``server`` (on loopback, so private addresses are allowed)."""
    return {"kind": "rest", "url": server.url(path), "allowed_hosts": ["127.0.0.1"], "allow_private": True, **config}
