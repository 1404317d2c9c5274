#!/usr/bin/env python3
# A certhubd that makes a certificate and then fails, for the CLI's word on what it left
# unwritten: GET session says the token may export keys, POST certificates answers the PEM
# file given as a certificate made, and every other request is answered 503 (as a store gone
# read-only between two requests would be).  Over TLS with the certificate and key given;
# each request's method and path appended to the log; the port written to the port file.
import http.server
import json
import sys

from loopback import serve

pem_file, log, portfile, cert, key = sys.argv[1:6]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length:
            self.rfile.read(length)
        with open(log, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
        if self.command == "GET" and self.path == "/api/v1/session":
            self.answer(200, {"keys_export": True})
        elif self.command == "POST" and self.path == "/api/v1/certificates":
            with open(pem_file) as f:
                self.answer(201, {"id": "crt_half", "pem": f.read()})
        else:
            self.answer(503, {"error": {"code": "unavailable", "message": "the store is read-only"}})

    do_GET = do_POST = handle_any

    def log_message(self, *args):
        pass


serve(Handler, portfile, cert, key)
