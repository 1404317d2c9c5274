#!/usr/bin/env python3
# A server in the middle, for the first-contact test: answers every GET over TLS (its own
# certificate) with the file given, and appends to the log what each request carried:
# "<path>\t<Authorization header or ->\t<Certhub-Password header or ->".  Port written to the
# port file.
import http.server
import sys

from loopback import serve

body_file, log, portfile, cert, key = sys.argv[1:6]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s\t%s\t%s\n" % (self.path, self.headers.get("Authorization", "-"),
                                      self.headers.get("Certhub-Password", "-")))
        with open(body_file, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-pem-file")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


serve(Handler, portfile, cert, key)
