"""The services the health bench monitors: `/ok` answers at once, `/hang` after
HANG_SECONDS (longer than any check waits). Run as its own process, so its threads
never share a GIL with the checks they answer.

    python bench/health_target.py PORT HANG_SECONDS
"""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: 64 checks connect at once


class Target(BaseHTTPRequestHandler):
    hang_seconds = 30.0

    def do_GET(self) -> None:
        if self.path == "/hang":
            time.sleep(self.hang_seconds)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:  # 200 lines a cycle would drown the bench log
        pass


if __name__ == "__main__":
    Target.hang_seconds = float(sys.argv[2])
    Server(("127.0.0.1", int(sys.argv[1])), Target).serve_forever()
