"""A real HTTP receiver on 127.0.0.1 (a `http.server` thread) for webhook tests: it records each
POST and answers `status`; `stop()` takes it down (connection refused), `start()` brings it back
on the same port."""

import http.server
import threading


class Receiver:
    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.status = 200
        self.delay = 0.0
        self.port = 0
        self._server = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                reply = b"ok" if receiver.status < 300 else b"receiver unhappy"
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
