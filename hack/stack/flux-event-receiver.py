#!/usr/bin/env python3
"""A Flux event endpoint for the demo: what notification-controller's generic webhook Provider
would receive. Listens on 127.0.0.1:PORT, appends each POST body (one JSON object per line) to
FILE and answers 202 Accepted, as notification-controller's event server does. Bodies over
64 KiB are refused (413). Usage: flux-event-receiver.py PORT FILE
"""
import http.server
import json
import sys

MAX_BODY = 64 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_response(413)
            self.end_headers()
            return
        body = self.rfile.read(length)
        try:
            event = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with open(sys.argv[2], "a", encoding="utf-8") as out:
            out.write(json.dumps(event, sort_keys=True) + "\n")
        self.send_response(202)
        self.end_headers()

    def log_message(self, fmt, *args):  # one line per request on stderr, no bodies
        sys.stderr.write("%s %s\n" % (self.command, fmt % args))


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
