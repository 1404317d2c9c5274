# The serving end of the tests' stand-in servers (half_api.py, hostile_server.py, impostor.py,
# webhook_receiver.py): a handler served on a free loopback port, over TLS when a certificate
# and key are given, the port written to a file once it listens (the test waits for that file).
import http.server
import ssl


def serve(handler, portfile, cert=None, key=None, threads=False):
    kind = http.server.ThreadingHTTPServer if threads else http.server.HTTPServer
    server = kind(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(portfile, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()
