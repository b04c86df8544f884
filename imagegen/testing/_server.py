"""``ScriptedServer``: a real HTTP server on 127.0.0.1 that records requests and replays scripted answers.

Point a provider's real SDK at it (``base_url=server.url + "/v1"``) to test the provider offline, the
way it talks to its API, including the ways networks fail::

    with ScriptedServer(default=lambda request: Reply.json({"data": [...]}), base_path="/v1") as server:
        server.script("/images/generations", Reply.json({"error": {...}}, status=429,
                                                         headers={"Retry-After": "7"}), OK)
        ... provider(base_url=server.url) ...           # http://127.0.0.1:PORT/v1
        assert server.count == 2 and server.requests[0].json["model"] == "dall-e-3"

An answer is a ``Reply`` (a status, headers and a body), ``Raw(bytes)`` (sent as they are, then the
connection closes: truncated bodies, bad framing; ``Raw(b"")`` hangs up without a word), ``Reset()``
(a TCP reset before any answer), ``Hang()`` (no answer until the server closes, or ``seconds``),
``Delayed(seconds, answer)``, or a handler ``handler(request) -> answer``. Which answer a request gets:
the next one ``push``-ed (each used once, whatever the path), else the next one ``script``-ed for a
path suffix it ends with (the last one of a script repeats), else ``default`` (a 404 when None).
A handler that raises is answered with a 500 naming the error, and the error is kept in ``errors`` (and
raised again when the ``with`` block ends, so a broken script fails the test that used it).
"""

from __future__ import annotations

import collections
import json
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

__all__ = ["Answer", "Delayed", "Hang", "Headers", "Raw", "RecordedRequest", "Reply", "Reset", "ScriptedServer",
           "Upload", "unused_port"]


class Headers(dict[str, str]):
    """Header names as sent, looked up case-insensitively (``headers["authorization"]``)."""

    def _key(self, name: str) -> str:
        lowered = name.lower()
        return next((key for key in dict.keys(self) if key.lower() == lowered), name)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, self._key(name))

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, self._key(name), default)


class Upload(NamedTuple):
    """A file from a multipart body."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    #: The JSON body, parsed (None when the body is not JSON).
    json: Any = None
    #: Form fields: urlencoded, or the text parts of a multipart body.
    form: dict[str, str] = field(default_factory=dict)
    #: The file parts of a multipart body.
    files: dict[str, Upload] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, Any]:
        """The request's parameters, whichever way they were sent (JSON object or form)."""
        return dict(self.json) if isinstance(self.json, dict) else dict(self.form)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: ``status``, ``headers`` and ``body`` (sent with its Content-Length)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def sse(cls, events: Iterable[tuple[str, Any]], status: int = 200) -> Reply:
        """A server-sent-events answer: ``(event name, JSON data)`` pairs, as a streaming API sends them (the
        whole stream in one body: a client reads it event by event all the same)."""
        body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
        return cls(status, body.encode(), {"Content-Type": "text/event-stream"})

    def to_bytes(self, *, length: int | None = None) -> bytes:
        """The whole answer as it goes on the wire; ``length`` overrides Content-Length (to cut a body short)."""
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {phrase}", *(f"{k}: {v}" for k, v in self.headers.items()),
                 f"Content-Length: {len(self.body) if length is None else length}", "Connection: close"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def truncated(self, keep: float = 0.5) -> Raw:
        """This answer cut off after ``keep`` of its body, still announcing the full length."""
        return Raw(self.to_bytes()[:len(self.to_bytes()) - len(self.body) + int(len(self.body) * keep)])


@dataclass(frozen=True)
class Raw:
    """Bytes sent as they are, then the connection closes (``Raw(b"")``: close without answering)."""

    data: bytes


@dataclass(frozen=True)
class Reset:
    """Reset the connection (TCP RST) before answering."""


@dataclass(frozen=True)
class Hang:
    """Never answer: hold the connection until the server closes, or ``seconds`` pass."""

    seconds: float = 30.0


@dataclass(frozen=True)
class Delayed:
    """``answer`` after ``seconds``."""

    seconds: float
    answer: Answer


Handler = Callable[[RecordedRequest], "Answer"]
Answer = Reply | Raw | Reset | Hang | Delayed | Handler


def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (for "connection refused")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScriptedServer:
    """A scripted HTTP API on 127.0.0.1 (see the module docstring). Use it as a context manager, or
    call ``close()``."""

    def __init__(self, default: Answer | None = None, *, base_path: str = "") -> None:
        self.default = default
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self._pushed: collections.deque[Answer] = collections.deque()
        self._scripts: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="imagegen-scripted-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The API's root: ``http://127.0.0.1:PORT`` and ``base_path``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    @property
    def count(self) -> int:
        """How many requests arrived."""
        return len(self.requests)

    def push(self, *answers: Answer) -> None:
        """Answers for the next requests, one each, in order, whatever their path."""
        with self._lock:
            self._pushed.extend(answers)

    def script(self, path_suffix: str, *answers: Answer) -> None:
        """Answers, in order, for requests whose path ends with ``path_suffix``; the last one repeats."""
        if not answers:
            raise ValueError("script: give at least one answer")
        with self._lock:
            self._scripts[path_suffix] = list(answers)

    def calls(self, path_suffix: str = "") -> list[RecordedRequest]:
        """The recorded requests whose path ends with ``path_suffix``."""
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    def clear(self) -> None:
        """Forget recorded requests, errors and every script (``default`` stays)."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()
            self._pushed.clear()
            self._scripts.clear()

    def close(self) -> None:
        self._closed.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close()
        if kind is None and self.errors:  # a broken script, not the code under test: fail the test that used it
            raise AssertionError(f"a scripted handler raised {self.errors[0]!r}") from self.errors[0]

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(list(self.requests))

    def __repr__(self) -> str:
        return f"ScriptedServer({self.url}, {self.count} requests)"

    # -- answering -------------------------------------------------------------------------------

    def _next_answer(self, request: RecordedRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self._pushed:
                return self._pushed.popleft()
            for suffix, queue in self._scripts.items():
                if request.path.endswith(suffix):
                    return queue.pop(0) if len(queue) > 1 else queue[0]
        if self.default is not None:
            return self.default
        return Reply.json({"error": {"code": 404, "message": f"nothing scripted for {request.method} {request.path}",
                                     "status": "NOT_FOUND"}}, status=404)

    def _resolve(self, answer: Answer, request: RecordedRequest) -> Reply | Raw | Reset | Hang:
        for _ in range(16):  # a handler may answer with another handler, or with a delay
            if isinstance(answer, Delayed):
                self._closed.wait(answer.seconds)
                answer = answer.answer
            elif isinstance(answer, (Reply, Raw, Reset, Hang)):
                return answer
            else:
                try:
                    answer = answer(request)
                except Exception as exc:  # a broken script, not the code under test: say so loudly
                    with self._lock:
                        self.errors.append(exc)
                    return Reply.json({"error": {"message": f"the scripted handler raised {exc!r}"}}, status=500)
        raise RuntimeError("ScriptedServer: handlers answered with handlers 16 times over")


class _HTTPServer(ThreadingHTTPServer):
    """Serves each connection in its own daemon thread; can close one with a TCP reset."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._resets: set[int] = set()
        self._resets_lock = threading.Lock()

    def reset_on_close(self, connection: socket.socket) -> None:
        with self._resets_lock:
            self._resets.add(id(connection))

    def shutdown_request(self, request: Any) -> None:
        with self._resets_lock:
            reset = id(request) in self._resets
            self._resets.discard(id(request))
        if reset:  # close without the polite shutdown: with SO_LINGER 0 the peer gets an RST, not a FIN
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()
            return
        super().shutdown_request(request)


def _handler_class(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            request = _record(self)
            answer = server._resolve(server._next_answer(request), request)
            self.close_connection = True
            if isinstance(answer, Reset):
                server._httpd.reset_on_close(self.connection)
                return
            if isinstance(answer, Hang):
                server._closed.wait(answer.seconds)
                return
            data = answer.data if isinstance(answer, Raw) else answer.to_bytes()
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:  # the client gave up first (a timeout in the code under test)
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _record(handler: BaseHTTPRequestHandler) -> RecordedRequest:
    headers = Headers(handler.headers.items())
    body = _read_body(handler)
    url = urllib.parse.urlsplit(handler.path)
    query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
    request = RecordedRequest(method=handler.command, path=url.path, query=query, headers=headers, body=body)
    content_type = headers.get("content-type", "")
    if "json" in content_type and body:
        try:
            request.json = json.loads(body)
        except ValueError:
            request.json = None
    elif content_type.startswith("application/x-www-form-urlencoded"):
        request.form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif content_type.startswith("multipart/form-data"):
        request.form, request.files = _multipart(content_type, body)
    return request


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("content-length") or 0)
    return handler.rfile.read(length) if length else b""


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename, part.get_content_type() if part.get("content-type") else None, payload)
        else:
            form[name] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return form, files

