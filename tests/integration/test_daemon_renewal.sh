#!/usr/bin/env bash
# certhubd renews its own server certificate while it runs: libfaketime moves the daemon's
# clock (and only the daemon's) 70 days on, past two thirds of the 90-day certificate, and
# new connections get a new certificate from the same CA without a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

fake_clock
start_daemon --renew-check 1

# served FILE: the leaf certhubd serves to a new connection (its chain in FILE.chain).
served() {
    echo | openssl s_client -connect "127.0.0.1:$port" -servername localhost -showcerts >"$T/sclient" 2>&1 || true
    openssl x509 -in "$T/sclient" -out "$1" || fail "no certificate served: $(cat "$T/sclient")"
    awk '/BEGIN CERT/{n++} n>=2 && /BEGIN CERT/,/END CERT/' "$T/sclient" > "$1.chain"
}
served first.pem
check_contains "a server certificate is served" "$(openssl x509 -in first.pem -noout -subject)" "CN"
# Two checks of it done (the metric counts them: one that finds it young leaves no other trace):
# a fixed pause would pass without one on a machine slow enough.
checks() { curl -s --max-time 60 --cacert "$data/ca.pem" -H "Authorization: Bearer $(cat "$data/admin-token")" \
    "https://localhost:$port/metrics" | awk '$1 == "certhub_server_certificate_checks_total" {print $2}'; }
from=$(checks)
[ -n "$from" ] || fail "/metrics shows no certhub_server_certificate_checks_total"
for i in $(seq 1 600); do
    now=$(checks)
    [ "${now:-0}" -ge $((from + 2)) ] && break
    sleep 0.1
done
[ "${now:-0}" -ge $((from + 2)) ] || fail "the server certificate was checked $((${now:-0} - from)) times in a minute, not 2"
served again.pem
check_eq "not renewed while it is young" "$(openssl x509 -in first.pem -noout -serial)" "$(openssl x509 -in again.pem -noout -serial)"

echo "+70d" > clock
for i in $(seq 1 300); do
    grep -q "server certificate renewed" "$log" && break
    sleep 0.1
done
check_contains "the daemon says it renewed" "$(cat "$log")" "server certificate renewed"
# The line is written as the new certificate's TLS context is made, just before the listener
# swaps to it: a connection made in between still gets the old one.
for i in $(seq 1 100); do
    served renewed.pem
    [ "$(openssl x509 -in first.pem -noout -serial)" != "$(openssl x509 -in renewed.pem -noout -serial)" ] && break
    sleep 0.1
done
[ "$(openssl x509 -in first.pem -noout -serial)" != "$(openssl x509 -in renewed.pem -noout -serial)" ] ||
    fail "the same certificate is still served"
ok "new connections get the new certificate, without a restart"
later=$(( $(date +%s) + 70 * 86400 ))
check_eq "it chains to ca.pem for localhost at the daemon's time" "renewed.pem: OK" \
    "$(openssl verify -attime "$later" -verify_hostname localhost -CAfile "$data/ca.pem" \
        -untrusted renewed.pem.chain renewed.pem 2>&1 | tail -1)"
nb=$(date -d "$(openssl x509 -in renewed.pem -noout -startdate | cut -d= -f2)" +%s)
[ "$nb" -gt $(( $(date +%s) + 60 * 86400 )) ] || fail "the renewed certificate does not start at the daemon's time"
ok "issued at the daemon's (moved) time"
# The new one renews the old: linked, so the old one (served by nothing) raises no expiry alerts.
TOKEN=$(cat "$data/admin-token") api GET "/api/v1/certificates?search=certhubd%20server&limit=100" "" -k
check_eq "the replaced server certificate is linked to its renewal" "1 1" \
    "$(body '[.items[] | select(.name == "certhubd server" and .renewed_by != null)] | length') $(body '[.items[] | select(.name == "certhubd server" and .renews != null)] | length')"
stop_daemon
check_contains "stops cleanly" "$(cat "$log")" "certhubd: stopped"
start_daemon --renew-check 1
served after-restart.pem
check_eq "a restart serves the renewed certificate" "$(openssl x509 -in renewed.pem -noout -serial)" \
    "$(openssl x509 -in after-restart.pem -noout -serial)"
if grep -q "renewed" "$log"; then fail "renewed again after the restart"; fi
ok "and does not renew it again"
# Due while it was stopped: renewed as it starts, and said so, as a renewal while it runs is.
stop_daemon
echo "+140d" > clock
start_daemon --renew-check 3600
check_contains "a certificate due at a start is renewed then, and said" "$(cat "$log")" "server certificate renewed, valid until"
served at-start.pem
[ "$(openssl x509 -in renewed.pem -noout -serial)" != "$(openssl x509 -in at-start.pem -noout -serial)" ] ||
    fail "the certificate due at the start is still served"
ok "and the new one served"

done_testing
