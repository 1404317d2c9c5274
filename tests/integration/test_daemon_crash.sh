#!/usr/bin/env bash
# Nothing acknowledged is lost: certhubd is killed with SIGKILL while four clients issue
# certificates; after a restart every certificate whose 201 response a client received is
# there, and no serial appears twice.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" "https://localhost:$port/api/v1/cas" > cas.json
issuer=$(grep -o '"id":"ca_[0-9a-f]*","name":"certhub Quickstart Issuing CA' cas.json | sed 's/"id":"\(ca_[0-9a-f]*\)".*/\1/')
[ -n "$issuer" ] || fail "no issuing CA"

# Each client issues until the server goes away and records the ids it was given.
client() {
    local n=0
    while [ $n -lt 2000 ]; do
        n=$((n + 1))
        out=$(curl -s --max-time 5 --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" \
            -H "Content-Type: application/json" -w '\n%{http_code}' \
            -d "{\"profile\":\"device\",\"subject\":{\"common_name\":\"dev-$1-$n\"},\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}" \
            "https://localhost:$port/api/v1/certificates" 2>/dev/null) || break
        [ "$(tail -1 <<<"$out")" = 201 ] || break
        head -1 <<<"$out" | sed -n 's/.*"id":"\(crt_[0-9a-f]*\)".*/\1/p' >> "acked.$1"
    done
}
for c in 1 2 3 4; do client $c & done
# Killed once a few dozen are acknowledged, the clients still issuing: a fixed two seconds
# could end before a loaded machine had acknowledged the ten the check below needs.
for i in $(seq 1 600); do
    [ "$(cat acked.* 2>/dev/null | wc -l)" -ge 40 ] && break
    sleep 0.05
done
# (the shell's "Killed" report of its job set aside: see stop_daemon)
{ kill -9 "$pid"; wait "$pid" || true; } 2>/dev/null
pid=""
wait
cat acked.* > acked.all 2>/dev/null || true
acked=$(wc -l < acked.all)
[ "$acked" -gt 10 ] || fail "only $acked certificates were acknowledged before the kill"
ok "$acked certificates acknowledged before SIGKILL"

start_daemon
missing=0
while read -r id; do
    status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" \
        "https://localhost:$port/api/v1/certificates/$id")
    [ "$status" = 200 ] || missing=$((missing + 1))
done < acked.all
check_eq "every acknowledged certificate survived the kill" 0 "$missing"

# No serial twice among everything stored.
cursor=""
: > serials
while :; do
    curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" \
        "https://localhost:$port/api/v1/certificates?limit=1000${cursor:+&cursor=$cursor}" > page.json
    grep -o '"serial":"[0-9a-f]*"' page.json >> serials
    cursor=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' page.json)
    [ -n "$cursor" ] || break
done
check_eq "no duplicate serials" 0 "$(sort serials | uniq -d | wc -l)"
if [ "$(wc -l < serials)" -ge "$acked" ]; then ok "the store holds at least every acknowledged certificate"; else fail "not so: the store holds at least every acknowledged certificate"; fi

# No room to write (a full disk, here a file size limit on certhubd): a 507 saying so, the
# certificate not stored, certhubd still up, and issuing again once there is room.
stop_daemon
rm -rf "$data"
start_daemon
TOKEN=$(cat "$data/admin-token")
prlimit --pid "$pid" --fsize=$(($(stat -c %s "$data/certhub.db-wal") + 150000)):unlimited
issue() {
    api POST /api/v1/certificates "{\"name\":\"$1\",\"subject\":{\"common_name\":\"$1.example\"},\"days\":30}"
}
api GET /api/v1/certificates
before=$(body '.items | length')
made=0
for i in $(seq 1 500); do
    issue "full$i"
    [ "$status" = 201 ] || break
    made=$i
done
check_eq "out of room: 507 insufficient_storage, saying why" "507 insufficient_storage the store cannot grow" \
    "$status $(body .error.code) $(body .error.message | grep -o 'the store cannot grow')"
if [ "$made" -gt 0 ] && [ "$made" -lt 500 ]; then ok "after $made certificates"; else fail "not so: after $made certificates"; fi
issue "full-again"
check_eq "again: the same" 507 "$status"
if alive "$pid"; then ok "certhubd is still up"; else fail "not so: certhubd is still up"; fi
api GET "/api/v1/certificates?limit=1000"
check_eq "every acknowledged certificate is there, the refused ones are not" "$((before + made)) 0" \
    "$(body '.items | length') $(body '[.items[] | select(.name == "full-again")] | length')"
prlimit --pid "$pid" --fsize=unlimited:unlimited
issue "room-again"
check_eq "with room again it issues" 201 "$status"

# SIGTERM under load: what was begun finishes and is answered; a request read after the signal
# is not begun, and says so (503 stopping).  Every certificate stored was answered, and every
# answer's certificate is stored.
cat > term_load.py <<'PY'
import http.client, json, ssl, sys, threading, time
port, token, ca, out = int(sys.argv[1]), open(sys.argv[2]).read().strip(), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ids, other, lock = [], {}, threading.Lock()
def client(i):
    c, n = None, 0
    for _ in range(100000):
        try:
            if c is None:
                c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
            n += 1
            c.request("POST", "/api/v1/certificates", json.dumps({"name": "term-%d-%d" % (i, n), "sans": ["dns:term-%d-%d.example" % (i, n)], "key_type": "p256", "days": 5}),
                      {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            r = c.getresponse()
            d = r.read()
            with lock:
                if r.status == 201:
                    ids.append(json.loads(d)["name"])
                else:
                    key = "%d-%s" % (r.status, json.loads(d)["error"]["code"])
                    other[key] = other.get(key, 0) + 1
        except ConnectionRefusedError:
            return  # stopped
        except Exception:
            c = None
            time.sleep(0.02)
ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
open(out, "w").write("\n".join(sorted(ids)) + "\n")
print(" ".join("%s:%d" % kv for kv in sorted(other.items())))
PY
python3 term_load.py "$port" "$data/admin-token" "$data/ca.pem" answered.txt > term.out 2>&1 &
loadpid=$!
# SIGTERM once the clients are issuing (a few dozen stored), not after a fixed two seconds in
# which a loaded machine may not have started them.
for i in $(seq 1 600); do
    [ "$(sqlite3 "$data/certhub.db" ".timeout 5000" "SELECT count(*) FROM certificates WHERE name LIKE 'term-%'")" -ge 40 ] &&
        break
    sleep 0.05
done
kill -TERM "$pid"
wait "$pid"
check_eq "SIGTERM under load: certhubd stops cleanly" 0 "$?"
pid=""
wait "$loadpid"
sqlite3 "$data/certhub.db" "SELECT name FROM certificates WHERE name LIKE 'term-%' ORDER BY name" > stored.txt
check_eq "every certificate stored was answered, every one answered is stored" "" "$(diff <(sort answered.txt | grep .) <(sort stored.txt))"
[ "$(grep -c . answered.txt)" -gt 10 ] || fail "only $(grep -c . answered.txt) certificates answered before SIGTERM"
check_eq "anything else was a 503 stopping" "" "$(tr ' ' '\n' < term.out | grep . | grep -v '^503-stopping:' || true)"
done_testing
