#!/usr/bin/env python3
# A webhook receiver on loopback for the expiry alert test: appends each POST as one line
# "<signature header>\t<body>" to the file given, answers 204 (403 and nothing kept for a path
# under /refuse/; for a path under /hang/ the body goes to the file's name + ".hung" and no
# answer ever comes, as from a webhook that hangs; under /flaky/ the first renewal_failed event is
# answered 503 and not kept, as by a receiver down for a moment); port written to the port file.
import http.server
import sys
import time

from loopback import serve

out, portfile = sys.argv[1], sys.argv[2]
flaky_refused = []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/hang/"):
            with open(out + ".hung", "a") as f:
                f.write(body.decode() + "\n")
            time.sleep(120)
            return
        if self.path.startswith("/flaky/") and b"renewal_failed" in body and not flaky_refused:
            flaky_refused.append(body)
            self.send_response(503)
            self.end_headers()
            return
        if self.path.startswith("/refuse/"):
            self.send_response(403)
            self.end_headers()
            return
        with open(out, "a") as f:
            f.write(self.headers.get("X-Certhub-Signature", "") + "\t" + body.decode() + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


# Threads: a hanging request must not hold the others.
serve(Handler, portfile, threads=True)
