"""For tests of certhubd's event loops: TLS connections to it, an answer read whole, and the
open connections of each loop as /metrics shows them."""
import re
import socket
import ssl
import time


class Server:
    def __init__(self, port, cafile, token_file):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=cafile)
        with open(token_file) as f:
            self.token = f.read().strip().encode()

    def connect(self):
        return self.ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port)), server_hostname="localhost")

    @staticmethod
    def answer(s):
        """The status of the next answer on s, its body read whole."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return "closed"
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(body) < length:
            body += s.recv(65536)
        return head.split(b" ")[1].decode()

    def metrics(self):
        """The text of /metrics, asked on a connection of its own."""
        s = self.connect()
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + self.token +
                  b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        return data

    def loops(self):
        """Open connections by loop, the one asking counted."""
        return [int(n) for n in re.findall(rb'certhub_http_connections\{loop="\d+"\} (\d+)', self.metrics())]

    def worker_requests(self):
        """Requests with the workers, as /metrics says (the one asking left out)."""
        return int(re.search(rb"certhub_http_worker_requests (\d+)", self.metrics()).group(1))

    def settle(self, open_connections):
        """Waits until certhubd has seen closed connections close."""
        for _ in range(100):
            if sum(self.loops()) == open_connections + 1:
                return
            time.sleep(0.05)

