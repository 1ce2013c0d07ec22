"""Saves each body an OTLP/HTTP exporter posts (de-chunked, un-gzipped) as <n>_<path>.json
in the folder given, answering 200 `{}`. Usage: python3 recorder.py FOLDER PORT"""

import gzip
import http.server
import sys
from pathlib import Path

FOLDER = Path(sys.argv[1])
count = 0


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the exporters keep their connections alive

    def do_POST(self) -> None:
        global count
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        count += 1
        name = self.path.strip("/").replace("/", "_")
        (FOLDER / f"{count:02d}_{name}.json").write_bytes(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Recorder).serve_forever()
