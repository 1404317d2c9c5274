#!/usr/bin/env bash
# certhubd serves the operator's own certificate (--tls-cert, --tls-key) instead of the one it
# issues itself, reads the files again when another tool replaces them, keeps the old pair
# while a new one does not load, and refuses a pair that does not belong together.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ops-ca.key -subj "/CN=Ops CA" \
    -days 30 -out ops-ca.pem 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' > ext
# leaf NAME: a localhost certificate from the operator's CA, in NAME.pem (with the CA after it) and NAME.key.
leaf() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ops-ca.pem -CAkey ops-ca.key -days 10 -extfile ext -out "$1.leaf" 2>/dev/null
    cat "$1.leaf" ops-ca.pem > "$1.pem"
}
leaf one
leaf two
cp one.pem served.pem
cp one.key served.key
start_daemon --tls-cert "$T/served.pem" --tls-key "$T/served.key" --renew-check 1
# subject: the subject of the certificate a new connection is served.
subject() {
    openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile ops-ca.pem </dev/null 2>/dev/null |
        openssl x509 -noout -subject
}
check_eq "its own certificate served" "subject=CN = one" "$(subject)"
check_eq "clients trusting the operator's CA get in" '{"status":"ok"}' \
    "$(curl -s --cacert ops-ca.pem "https://localhost:$port/api/v1/health")"
check_contains "the log says what is served" "$(cat "$log")" "serving $T/served.pem, valid until"
check_eq "and whom clients trust: the given certificate's issuer, not the quickstart root" "1 0" \
    "$(grep -c 'clients trust the issuer of the certificate given (--tls-cert)' "$log") $(grep -c 'trust .*/ca.pem (certhub Quickstart' "$log" || true)"
check_eq "and prints no fingerprint of certhubd's own root, which does not sign what is served" "" \
    "$(grep 'root fingerprint' "$log" || true)"
# ca bundle --fingerprint checks the served certificate chains to the root it fetched: here it
# does not (the operator's CA serves), as it would not for a server in the middle.
fp=$(openssl x509 -in "$data/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
expect_exit 1 "a first contact whose server certificate is not under that root is refused" -- \
    "$CERTHUB" --server "https://localhost:$port" ca bundle --fingerprint "$fp" --out first.pem
check_contains "saying so" "$(cat "$T/stderr")" "does not chain to the root of that fingerprint"
if [ ! -e first.pem ]; then ok "and nothing is written"; else fail "not so: and nothing is written"; fi
# A server in the middle that hands out the genuine root: its own certificate is not under it,
# so the checked fetch fails; and no token or password ever went to it.
python3 "$CERTHUB_SOURCE_DIR/tests/integration/impostor.py" "$data/ca.pem" impostor.log impostor.port one.pem one.key &
impostor=$!
for i in $(seq 1 300); do [ -s impostor.port ] && break; sleep 0.1; done
[ -s impostor.port ] || fail "the impostor did not start"
echo changeit > pw
CERTHUB_TOKEN=cht_not_for_impostors expect_exit 1 "an impostor serving the genuine root is found out" -- \
    "$CERTHUB" --server "https://localhost:$(cat impostor.port)" ca bundle --fingerprint "$fp" --format jks \
    --password-file pw --out impostor.jks
# (stopped whether or not it still runs: under errexit a kill of one already gone would end the
# test unsaid; what it was asked is checked in its log below)
kill "$impostor" 2>/dev/null || true
wait "$impostor" 2>/dev/null || true
check_eq "it was asked once, anonymously: no token, no password" "-	-" "$(cut -f2,3 impostor.log)"

# A certificate without its key yet (a tool writes one file, then the other): the old pair stays.
cp two.pem served.pem
# The log's line comes from the check that read the new certificate and refused the pair.
for i in $(seq 1 300); do grep -q "does not belong to the first certificate" "$log" && break; sleep 0.1; done
check_contains "a new certificate without its key: the log says why it is not served" "$(cat "$log")" \
    "does not belong to the first certificate"
check_eq "and the old pair is still served" "subject=CN = one" "$(subject)"
cp two.key served.key
for i in $(seq 1 120); do [ "$(subject)" = "subject=CN = two" ] && break; sleep 0.25; done
check_eq "once both are replaced, new connections get the new one without a restart" "subject=CN = two" "$(subject)"
stop_daemon
# With no check due for an hour, SIGHUP reads them at once.
start_daemon --tls-cert "$T/served.pem" --tls-key "$T/served.key"
cp one.pem served.pem
cp one.key served.key
kill -HUP "$pid"
for i in $(seq 1 300); do [ "$(subject)" = "subject=CN = one" ] && break; sleep 0.1; done
check_eq "SIGHUP: the replaced pair is served at once" "subject=CN = one" "$(subject)"
alive "$pid" || fail "SIGHUP stopped certhubd"
stop_daemon

expect_error "a key that is not the certificate's" "does not belong to the first certificate" -- \
    "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$(free_port)" --tls-cert one.pem --tls-key two.key
openssl pkey -in one.key -aes256 -passout pass:secret -out encrypted.key
expect_error "an encrypted key is refused, not asked for" "no unencrypted PEM private key" -- \
    "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$(free_port)" --tls-cert one.pem --tls-key encrypted.key
expect_exit 2 "--tls-cert without --tls-key" -- "$CERTHUBD" --data-dir "$data" --tls-cert one.pem

# Without --tls-cert, certhubd's own certificate takes the names it is given (--server-names),
# kept across restarts while they stay the same, issued anew when one is added.
start_daemon --server-names "certhub.example,10.0.0.5"
own() { openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout "$@"; }
check_contains "its own certificate holds the names asked for" "$(own -ext subjectAltName)" \
    "DNS:certhub.example, IP Address:10.0.0.5"
first=$(own -serial)
stop_daemon
start_daemon --server-names "10.0.0.5, CERTHUB.example"
check_eq "the same names again (another order, case): the same certificate" "$first" "$(own -serial)"
stop_daemon
start_daemon --server-names "certhub.example,10.0.0.5,ops.example"
check_contains "a name added: a new certificate that holds it" "$(own -ext subjectAltName)" "DNS:ops.example"
stop_daemon
expect_exit 2 "a server name that is no host name or address" -- "$CERTHUBD" --data-dir "$data" --server-names "bad name"

# Descriptors: certhubd lifts its soft limit to the hard one (each connection is one); out of
# them, it waits for some to close, saying so once, instead of retrying accept() on both cores
# with a warning each time (millions of lines a minute before).
ulimit -Sn 512 2>/dev/null || true
start_daemon
read -r soft hard < <(awk '/^Max open files/ {print $4, $5}' "/proc/$pid/limits")
check_eq "the soft limit of open files raised to the hard one" "$hard" "$soft"
prlimit --pid "$pid" --nofile=48:48
# The connections are held until certhubd has run out (its log says so), and two seconds more
# in which a flood of warnings would show; not a fixed three seconds, which a loaded machine
# could spend before certhubd's loops even tried to accept them.
python3 - "$port" "$log" <<'PY'
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(100)]
for _ in range(300):
    if "cannot accept connections" in open(sys.argv[2]).read():
        break
    time.sleep(0.1)
time.sleep(2)
PY
check_eq "out of descriptors: told once, no flood of warnings" "1 0" \
    "$(grep -c 'cannot accept connections: Too many open files' "$log") $(grep -c 'Error from accept' "$log" || true)"
check_eq "and it serves again once they close" '{"status":"ok"}' \
    "$(curl -s --max-time 10 --retry 5 --retry-delay 1 --retry-all-errors --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")"
stop_daemon

# At --max-connections open, new connections wait (in the listen queue) until some close: a
# flood of connections takes at most that many times one's memory.
start_daemon --max-connections 32
python3 - "$port" "$data/ca.pem" > held.txt <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
held, waiting = [], 0
for _ in range(36):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    # Those within the limit get all the time a loaded machine may take for a handshake; those
    # beyond it half a second to show they are not served.
    s.settimeout(10 if len(held) < 32 else 0.5)
    try:
        held.append(ctx.wrap_socket(s, server_hostname="localhost"))
    except (socket.timeout, ssl.SSLError, OSError):
        waiting += 1
print(len(held), waiting)
PY
check_eq "32 served, the 4 beyond wait" "32 4" "$(cat held.txt)"
check_eq "said once" 1 "$(grep -c '32 connections open, the most it holds' "$log")"
check_eq "once they close it serves again" '{"status":"ok"}' \
    "$(curl -s --max-time 10 --retry 5 --retry-delay 1 --retry-all-errors --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")"
stop_daemon
# Connections opened and closed from many clients at once, so the line is crossed both ways on
# both loops together: each loop must go on accepting after.  (Each loop once turned the other's
# listener off itself, and waited for it while it waited for the same lock: both stopped.)
start_daemon --max-connections 16
python3 - "$port" "$data/ca.pem" <<'PY'
import random, socket, ssl, sys, threading, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
stop = time.time() + 8
def client():
    while time.time() < stop:
        held = []
        for _ in range(random.randint(1, 12)):
            try:
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.3)
                held.append(ctx.wrap_socket(s, server_hostname="localhost"))
            except OSError:
                pass
        for h in held:
            h.close()
threads = [threading.Thread(target=client) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
PY
check_eq "after a flood at the line it still serves" '{"status":"ok"}' \
    "$(curl -s --max-time 10 --retry 3 --retry-delay 1 --retry-all-errors --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")"
# What requests in flight hold together is capped (here at its least, 16 MB: four bodies of
# 4 MB): of five uploads left short of their end, the one going over is closed; once they are
# gone, 20 MB of requests one after the other on one connection are each answered (each by a
# worker, its bytes given back when its answer is sent).
python3 - "$port" "$data/ca.pem" "$data/admin-token" > inflight.txt <<'PY'
import socket, ssl, sys, time
port, ctx = int(sys.argv[1]), ssl.create_default_context(cafile=sys.argv[2])
token = open(sys.argv[3]).read().strip().encode()
def connect():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
held, cut = [], 0
for i in range(5):
    s = connect()
    try:
        s.sendall(b"POST /api/v1/certificates/import HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: application/octet-stream\r\nContent-Length: 4000000\r\n\r\n")
        for _ in range(35):
            s.sendall(b"a" * 100000)
        held.append(s)
    except OSError:
        cut += 1
def closed(s, wait):
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True
# The one going over is closed once certhubd has read that far, which a loaded machine may
# take seconds to do: until one is (30 s at most), then a second for each of the others.
found, until = set(), time.time() + 30
while cut + len(found) == 0 and time.time() < until:
    found.update(s for s in held if closed(s, 0.1))
for s in held:
    if s not in found and closed(s, 1):
        found.add(s)
    s.close()
cut += len(found)
answered = 0
s = connect()  # one keep-alive connection: what each request held is given back as it is answered
for i in range(40):
    data = b""
    try:
        s.sendall(b"POST /api/v1/certificates/import HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token +
                  b"\r\nContent-Type: application/octet-stream\r\nContent-Length: 500000\r\n\r\n" + b"a" * 500000)
        while b"\r\n\r\n" not in data and (chunk := s.recv(4096)):
            data += chunk
    except OSError:
        break
    if b"\r\n\r\n" not in data:
        break
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < length and (chunk := s.recv(4096)):
        body += chunk
    answered += head.startswith(b"HTTP/1.1 4")
s.close()
print("cut", cut, "answered", answered)
PY
check_eq "requests in flight are capped, and what they held is given back" "cut 1 answered 40" "$(cat inflight.txt)"
check_contains "the log says why" "$(cat "$log")" "MB, over the 16.2 MB certhubd holds at once"
stop_daemon
expect_exit 2 "--max-connections below 16 is refused" -- "$CERTHUBD" --data-dir "$data" --max-connections 8

# A request must arrive whole within --request-timeout: a client trickling a header every two
# seconds is cut off, not before a period has passed, while one asking every two seconds on the
# same connection is not.  (The period runs from the connection's accept: the client's time is
# taken before it connects, so a slow handshake cannot make the cut look early; and it is given
# a minute to come, not a fixed 12 s that a loaded machine's late timer could pass.)
start_daemon --request-timeout 5
python3 - "$port" "$data/ca.pem" > timeout.txt <<'PY'
import socket, ssl, sys, threading, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
def connect():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
result = {}
def trickle():
    t0 = time.monotonic()
    s, cut = connect(), False
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n")
    try:
        while time.monotonic() - t0 < 60:
            time.sleep(2)
            s.sendall(b"X-Pad: a\r\n")
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    cut = True
                    break
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            s.setblocking(True)
    except OSError:
        cut = True
    took = time.monotonic() - t0
    result["trickle"] = "cut" if cut and took >= 5 else "cut after %.1f s" % took if cut else "not cut in 60 s"
    if cut:
        print("# the trickled request was cut after %.1f s" % took, file=sys.stderr)
def steady():
    s, answers = connect(), 0
    for _ in range(7):
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while b'{"status":"ok"}' not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        answers += b'{"status":"ok"}' in data
        time.sleep(2)
    result["steady"] = "%d of 7" % answers
threads = [threading.Thread(target=trickle), threading.Thread(target=steady)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(result["trickle"], result["steady"])
PY
check_eq "a trickled request is cut, a steady client served" "cut 7 of 7" "$(cat timeout.txt)"
stop_daemon
expect_exit 2 "--request-timeout below 5 is refused" -- "$CERTHUBD" --data-dir "$data" --request-timeout 2

# Connections go to the loops serving the fewest: 8 clients connecting at once, and the
# connection asking for /metrics, spread over 4 loops with at most one more on any loop than on
# another; then 4 more after 4 of the first have closed, at most two more (a loop that serves
# more than another once a connection has closed takes one more before it stops accepting).
# (The loops share the listening socket; before, whichever woke first took all that were
# queued, 3 loops of 8 serving 8 clients, and a loop serves its connections' requests one
# after the other.)
start_daemon --threads 4
python3 - "$CERTHUB_SOURCE_DIR/tests/integration" "$port" "$data/ca.pem" "$data/admin-token" > balance.txt <<'PY'
import sys, threading
sys.path.insert(0, sys.argv[1])
from loops import Server
srv = Server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
def at_once(n):
    held, go = [None] * n, threading.Barrier(n)
    def one(i):
        go.wait()
        held[i] = srv.connect()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return held
held = at_once(8)
first = srv.loops()
for s in held[:4]:
    s.close()
srv.settle(4)
held += at_once(4)
second = srv.loops()
def spread(c, most):
    return "%d over %d loops, %s" % (sum(c), len(c), "even" if c and max(c) - min(c) <= most else "uneven %s" % c)
print(spread(first, 1) + "; " + spread(second, 2))
PY
check_eq "connections are spread evenly over the loops" \
    "9 over 4 loops, even; 9 over 4 loops, even" "$(cat balance.txt)"
stop_daemon

# A loop answering a slow request accepts nothing until it is done: when it is the only loop
# taking connections, the others start, so a new client is not kept waiting for that answer.
# Two loops: A and B land on different loops, C on one of them, which leaves the other the only
# one accepting.  A or B asks for something slow while a new connection asks for
# /api/v1/health, whose answer must come first.  Four rounds, from fresh connections: each has
# an even chance of making the loop that accepts the busy one.  The slow request is the preview
# of a PKCS#12 whose keys take 3,000,000 PBKDF2 rounds each, a second or two every time (an
# RSA-4096 key, used before, came in a fraction of a second now and then, and its answer
# before the health check's on a loaded machine).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout slow.key -subj /CN=slow.example \
    -days 3 -out slow.pem 2>/dev/null
openssl pkcs12 -export -in slow.pem -inkey slow.key -passout pass:slow -iter 3000000 -out slow.p12
start_daemon --threads 2
python3 - "$CERTHUB_SOURCE_DIR/tests/integration" "$port" "$data/ca.pem" "$data/admin-token" "$T/slow.p12" \
    > busy.txt <<'PY'
import sys, threading, time
sys.path.insert(0, sys.argv[1])
from loops import Server
srv = Server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
order = []
for name in ("A", "B", "A", "B"):
    srv.settle(0)
    a, b = srv.connect(), srv.connect()
    c = srv.connect()
    s = a if name == "A" else b
    body = open(sys.argv[5], "rb").read()
    s.sendall(b"POST /api/v1/certificates/import?preview=true HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
              srv.token + b"\r\nContent-Type: application/x-pkcs12\r\nCerthub-Password: slow\r\nContent-Length: " +
              str(len(body)).encode() + b"\r\n\r\n" + body)
    seen = []
    t = threading.Thread(target=lambda: seen.append(("slow", srv.answer(s))))
    t.start()
    # Until the loop has taken the request and handed it to a worker: a connection that comes
    # first is accepted by that loop, and waits behind it, as any would.  (A fixed 0.2 s was
    # not always enough on a loaded machine.)
    for _ in range(500):
        if seen or srv.worker_requests() == 1:
            break
        time.sleep(0.01)
    d = srv.connect()
    d.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    seen.append(("health", srv.answer(d)))
    t.join()
    for x in (a, b, c, d):
        x.close()
    order.append(name + ": " + ", ".join("%s %s" % x for x in seen))
print("; ".join(order))
PY
check_eq "a new connection is answered while a loop is busy with a slow request" \
    "A: health 200, slow 200; B: health 200, slow 200; A: health 200, slow 200; B: health 200, slow 200" \
    "$(cat busy.txt)"
stop_daemon

# One event loop serving every connection: a request that may take long (an RSA-4096 key) is
# handed to a worker, and the loop answers its other connections meanwhile, a certificate
# with a P-256 key (signed on the loop, its commit queued) and /api/v1/health, while /metrics
# still shows the slow one with the worker (a round where the key came quicker than that is
# tried again).  With --workers 0 the loop answers the slow request itself, and the others,
# sent a second later, wait for it.
slow_first() {
    python3 - "$CERTHUB_SOURCE_DIR/tests/integration" "$port" "$data/ca.pem" "$data/admin-token" "$1" <<'PY'
import select, sys, threading, time
sys.path.insert(0, sys.argv[1])
from loops import Server
srv, pooled = Server(int(sys.argv[2]), sys.argv[3], sys.argv[4]), sys.argv[5] == "pooled"
def post(s, body):
    s.sendall(b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + srv.token +
              b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
for attempt in range(5):
    a, b, c = srv.connect(), srv.connect(), srv.connect()
    seen = []
    post(a, b'{"profile":"tls-server","subject":{"common_name":"slow.example"},"key_type":"rsa4096"}')
    if pooled:
        t = threading.Thread(target=lambda: seen.append("slow %s" % srv.answer(a)))
        t.start()
        for _ in range(500):
            if srv.worker_requests() == 1:
                break
            time.sleep(0.01)
    else:
        time.sleep(1)  # the loop has read the slow request, and is making its key
    post(b, b'{"profile":"tls-server","subject":{"common_name":"quick.example"},"key_type":"p256"}')
    if pooled:
        seen.append("quick %s" % srv.answer(b))
    else:
        # Which answer certhubd sent first (its one loop writes one, then the other): the first
        # socket to have bytes, read before either answer is taken.  Two threads reading them
        # could append in either order when the answers come a moment apart.
        ready, _, _ = select.select([a, b], [], [], 120)
        order = (("slow", a), ("quick", b)) if a in ready else (("quick", b), ("slow", a))
        seen += ["%s %s" % (name, srv.answer(s)) for name, s in order]
    c.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    seen.append("health %s" % srv.answer(c))
    during = not pooled or srv.worker_requests() == 1
    if pooled:
        t.join()
    for x in (a, b, c):
        x.close()
    if during:
        break
print(", ".join(seen))
PY
}
start_daemon --threads 1
check_eq "one loop answers its other connections while a worker makes an RSA key" \
    "quick 201, health 200, slow 201" "$(slow_first pooled)"
# Clients that close their connections while their requests are with a worker or waiting for a
# commit: each answer is dropped (evhttp frees a request whose connection has gone once it is
# answered), and certhubd goes on.
python3 - "$CERTHUB_SOURCE_DIR/tests/integration" "$port" "$data/ca.pem" "$data/admin-token" > gone.txt <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
from loops import Server
srv = Server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
for key in (b"rsa2048", b"p256", b"p256", b"rsa2048", b"p256"):
    s = srv.connect()
    body = b'{"profile":"tls-server","subject":{"common_name":"gone.example"},"key_type":"' + key + b'"}'
    s.sendall(b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + srv.token +
              b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    s.close()
time.sleep(1.5)
s = srv.connect()
s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("health %s" % srv.answer(s))
# Requests sent together on one connection (pipelined), some answered later by a worker or
# after their commit: each answered, in order.
def issue(key):
    body = b'{"profile":"tls-server","subject":{"common_name":"piped.example"},"key_type":"' + key + b'"}'
    return (b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + srv.token +
            b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
s.sendall(issue(b"rsa2048") + issue(b"p256") + issue(b"p256") + issue(b"rsa2048") +
          b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("piped " + " ".join(srv.answer(s) for _ in range(5)))
PY
check_eq "clients gone before their answers leave certhubd serving; pipelined requests answered in order" \
    "health 200
piped 201 201 201 201 200" "$(cat gone.txt)"
alive "$pid" || fail "certhubd ended after clients left before their answers"
ok "certhubd still runs after clients left before their answers"
# SIGTERM while a worker makes an RSA-4096 key and a P-256 certificate waits for its commit:
# both are answered before certhubd stops, and each certificate answered is stored.
python3 - "$CERTHUB_SOURCE_DIR/tests/integration" "$port" "$data/ca.pem" "$data/admin-token" "$pid" > term.txt <<'PY'
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
from loops import Server
srv = Server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
def post(s, cn, key):
    body = b'{"profile":"tls-server","subject":{"common_name":"' + cn + b'"},"key_type":"' + key + b'"}'
    s.sendall(b"POST /api/v1/certificates HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + srv.token +
              b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
a, b = srv.connect(), srv.connect()
for x in (a, b):
    x.settimeout(30)  # an answer that never comes fails the check, not the run
post(a, b"term-slow.example", b"rsa4096")
for _ in range(500):
    if srv.worker_requests() == 1:
        break
    time.sleep(0.01)
post(b, b"term-quick.example", b"p256")
os.kill(int(sys.argv[5]), signal.SIGTERM)
print("slow %s, quick %s" % (srv.answer(a), srv.answer(b)))
PY
check_eq "requests in flight at SIGTERM are answered" "slow 201, quick 201" "$(cat term.txt)"
stop_daemon
check_contains "certhubd stopped by itself after answering them" "$(cat "$log")" "certhubd: stopped"
start_daemon --threads 1
TOKEN=$(cat "$data/admin-token") api GET "/api/v1/certificates?search=term-&limit=10"
check_eq "the certificates answered at SIGTERM are stored" "200 term-quick.example term-slow.example" \
    "$status $(body '[.items[].name | select(startswith("term-"))] | sort | join(" ")')"
stop_daemon
start_daemon --threads 1 --workers 0
check_eq "with --workers 0 the loop makes the RSA key itself, the others waiting" \
    "slow 201, quick 201, health 200" "$(slow_first alone)"
stop_daemon
expect_exit 2 "--workers above 16 is refused" -- "$CERTHUBD" --data-dir "$data" --workers 17
expect_exit 2 "--workers that is not a number is refused" -- "$CERTHUBD" --data-dir "$data" --workers many
printf 'workers = 17\n' > bad-workers.conf
expect_exit 2 "workers = 17 in a config file is refused" -- "$CERTHUBD" --data-dir "$data" --config bad-workers.conf
check_contains "and the message says what is accepted" "$("$CERTHUBD" --data-dir "$data" --config bad-workers.conf 2>&1 || true)" \
    "workers = 0..16"
for bad in 'threads = 3abc' 'request_timeout = 5s' 'job_interval = 1.5'; do
    printf '%s\n' "$bad" > bad.conf
    expect_exit 2 "$bad in a config file is refused (not read as the number it begins with)" -- \
        "$CERTHUBD" --data-dir "$data" --config bad.conf
done
# listen and server_names checked where they are given, their file and line said (a port
# with words after it listened on the number it began with).
for bad in 'listen = 127.0.0.1:18344#c|listen must be ADDR:PORT' 'listen = 127.0.0.1:18344 extra|listen must be ADDR:PORT' \
    'server_names = a..b|server_names: "a..b" is not a host name' 'server_names = 300.1.1.1|server_names: "300.1.1.1" is not a host name' \
    'server_names = *.example|server_names: "*.example" is not a host name' \
    'max_connections = 2147483647|bad setting max_connections = "2147483647"'; do
    printf '%s\n' "${bad%%|*}" > bad.conf
    check_contains "${bad%%|*}: refused, with its line" "$("$CERTHUBD" --data-dir "$data" --config bad.conf 2>&1 || true)" \
        "bad.conf:1: ${bad#*|}"
done
printf 'listen = 127.0.0.1:1\nthreads = 1\nlisten = 127.0.0.1:2\n' > twice.conf
check_contains "a setting twice in the file: refused with the second's line (the second won, unsaid)" \
    "$("$CERTHUBD" --data-dir "$data" --config twice.conf 2>&1 || true)" "twice.conf:3: listen is set twice in the file"
printf 'listen = 127.0.0.1:1\n' > no-dir.conf
check_contains "a config without data_dir: said, not the usage alone" \
    "$("$CERTHUBD" --config no-dir.conf 2>&1 || true)" "no data directory: give --data-dir DIR (or data_dir = DIR in the config file)"
# The config file's lines: a comment after a value, a line of any length read as one, a
# section (the agent's files have them, certhubd's not) said with its line.
printf '# settings\nworkers = 17   # too many\n' > commented.conf
check_contains "a comment after a value is not read as part of it" \
    "$("$CERTHUBD" --data-dir "$data" --config commented.conf 2>&1 || true)" 'commented.conf:2: bad setting workers = "17"'
printf 'tls_cert = /%s\n' "$(head -c 6000 /dev/zero | tr '\0' a)" > long.conf
check_contains "a value longer than certhubd takes is refused, not cut to another path" \
    "$("$CERTHUBD" --data-dir "$data" --config long.conf 2>&1 || true)" "long.conf:1: tls_cert is 6001 bytes long; it takes at most 4095"
printf 'listen = 127.0.0.1:1\n[target web]\n' > section.conf
expect_exit 2 "a section in certhubd's config file is refused" -- "$CERTHUBD" --data-dir "$data" --config section.conf
check_contains "saying where and why" "$("$CERTHUBD" --data-dir "$data" --config section.conf 2>&1 || true)" \
    "section.conf:2: certhubd's settings are name = value lines, without sections"
expect_exit 2 "a --data-dir longer than a path is refused" -- "$CERTHUBD" --data-dir "/$(head -c 5000 /dev/zero | tr '\0' a)"
# Which issuances a loop hands to a worker: those that would hold it a millisecond or more (a
# CA key of P-384 or RSA-3072 to sign with, a P-384 CSR signature to check, a P-384 key to
# make); P-256 and RSA-2048 CAs sign on the loop.  Each /metrics is itself handed to a worker:
# between two readings with one issuance between them the counter grows by 1, or by 2 when the
# issuance went to a worker too.
handed() { # handed JSON: "201 1" when the issuance went to a worker, "201 0" when not
    local before after
    before=$(worker_total)
    api POST /api/v1/certificates "$1"
    after=$(worker_total)
    echo "$status $((after - before - 1))"
}
worker_total() {
    curl -s --max-time 60 --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" "https://localhost:$port/metrics" |
        awk '$1 == "certhub_http_worker_requests_total" {print $2}'
}
start_daemon --threads 1
TOKEN=$(cat "$data/admin-token")
for k in p384 rsa2048 rsa3072; do
    api POST /api/v1/cas "{\"name\":\"$k-root\",\"type\":\"root\",\"subject\":{\"common_name\":\"$k Root\"},\"key_type\":\"$k\",\"days\":3650}"
    [ "$status" = 201 ] || fail "a $k root CA: $status $(cat "$T/body")"
    eval "ca_$k=\$(body .id)"
done
default_ca=$(quickstart_issuer)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout p384.key -subj /CN=p384.example \
    -out p384.csr 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout p256.key -subj /CN=p256.example \
    -out p256.csr 2>/dev/null
csr_json() { jq -nc --rawfile c "$1" --arg ca "$default_ca" '{profile:"tls-server",csr:$c,ca_id:$ca}'; }
issue_json() { echo "{\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"w.example\"},\"key_type\":\"$1\",\"ca_id\":\"$2\"}"; }
check_eq "which issuances go to a worker (P-256 CA: p256 key, p384 key, p256 CSR, p384 CSR; P-384, RSA-2048, RSA-3072 CAs)" \
    "201 0, 201 1, 201 0, 201 1; 201 1, 201 0, 201 1" \
    "$(handed "$(issue_json p256 "$default_ca")"), $(handed "$(issue_json p384 "$default_ca")"), $(handed "$(csr_json p256.csr)"), $(handed "$(csr_json p384.csr)"); $(handed "$(issue_json p256 "$ca_p384")"), $(handed "$(issue_json p256 "$ca_rsa2048")"), $(handed "$(issue_json p256 "$ca_rsa3072")")"
# A truststore with a password (its key derivation takes milliseconds) too, a PEM one not.
bundle_handed() { # bundle_handed FORMAT [public]: "public" asks without a token
    local before after
    before=$(worker_total)
    if [ "${2:-}" = public ]; then
        TOKEN="" api GET "/api/v1/bundles/default?format=$1" "" -H "Certhub-Password: changeit"
    else
        api GET "/api/v1/bundles/default?format=$1" "" -H "Certhub-Password: changeit"
    fi
    after=$(worker_total)
    echo "$status $((after - before - 1))"
}
check_eq "trust bundles as p12, jks and pem, then p12 and pem without a token: p12 and jks go to a worker" \
    "200 1, 200 1, 200 0, 200 1, 200 0" \
    "$(bundle_handed p12), $(bundle_handed jks), $(bundle_handed pem), $(bundle_handed p12 public), $(bundle_handed pem public)"
api POST /api/v1/certificates "$(issue_json p256 "$ca_rsa3072")"
check_eq "the certificate a worker signed is the RSA-3072 CA's" "201 rsa3072 Root" "$status $(body .issuer | sed 's/^CN=//')"
stop_daemon
