"""A small HTTP file server on 127.0.0.1 for download tests: Range support can be switched off, and a
response can be cut off after a number of bytes, as a dropped connection would."""
from __future__ import annotations

import http.server
import re
import socket
import threading


class FileServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.break_after: list[int] = []
        """Byte counts at which the next responses stop, one per response."""
        self.requests: list[dict[str, str]] = []
        handler = type("Handler", (_Handler,), {"owner": self})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    owner: FileServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.owner
        owner.requests.append({"path": self.path, **dict(self.headers)})
        body = owner.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and owner.ranges:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if owner.break_after:
            self.wfile.write(payload[:owner.break_after.pop(0)])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(payload)
