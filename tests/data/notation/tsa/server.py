#!/usr/bin/env python3
"""A local RFC 3161 timestamp authority on 127.0.0.1: answers POSTed `application/timestamp-query`
with `openssl ts -reply`, signed by the TSA of DIR (made by ca.sh). Prints its port, then serves
until killed. Usage: server.py DIR"""
import http.server
import subprocess
import sys
import tempfile

DIR = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length <= 0 or length > 64 * 1024:
            self.send_error(400, "bad length")
            return
        query = self.rfile.read(length)
        with tempfile.NamedTemporaryFile() as q:
            q.write(query)
            q.flush()
            r = subprocess.run(
                ["openssl", "ts", "-reply", "-config", f"{DIR}/tsa.cnf", "-queryfile", q.name,
                 "-inkey", f"{DIR}/tsa.key", "-signer", f"{DIR}/tsa.crt", "-chain", f"{DIR}/root.crt"],
                capture_output=True)
        if r.returncode != 0:
            self.send_error(500, "openssl ts failed")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(r.stdout)))
        self.end_headers()
        self.wfile.write(r.stdout)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
