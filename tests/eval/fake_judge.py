"""A fake OpenAI-compatible chat-completions server on loopback, scripted per test.

`reply(body, call_number)` returns either a string (the message content), or an int (an HTTP error status). The
server records every request body, so tests can check what was (re)sent.
"""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = Callable[[dict, int], str | int | bytes]


class FakeJudge:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._lock = threading.Lock()

    def handle(self, body: dict, headers: dict) -> str | int | bytes:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            number = len(self.requests)
        return self.reply(body, number)


@contextmanager
def fake_judge_server(reply: Reply) -> Iterator[tuple[str, FakeJudge]]:
    """Serve on 127.0.0.1 (a free port); yields (api_base, recorder)."""
    judge = FakeJudge(reply)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            assert self.path == "/v1/chat/completions", self.path
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = judge.handle(body, dict(self.headers))
            if isinstance(answer, int):
                self.send_response(answer)
                self.end_headers()
                self.wfile.write(b'{"error": {"message": "scripted failure"}}')
                return
            if isinstance(answer, bytes):
                payload = answer
            else:
                payload = json.dumps({"model": body["model"] + "-fake",
                                      "choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", judge
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
