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
sleep 2
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
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
[ "$(wc -l < serials)" -ge "$acked" ] && ok "the store holds at least every acknowledged certificate"
done_testing
