#!/usr/bin/env bash
# The quickstart CAs rotating on their own, with a moved clock: the issuing CA at two thirds of
# its five years; six and a half years on, the root and the issuing CA come due within the same
# hour, and the issuing CA waits 30 days before it is signed under the new root, so that
# clients fetch the bundle holding the new root first (a certificate issued meanwhile still
# verifies with the bundle they had).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

fake_clock
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
db="$data/certhub.db"
cert_of() { sqlite3 "$db" ".timeout 5000" "SELECT cert_id FROM cas WHERE name = 'certhub Quickstart $1 - Not for Production'"; }
wait_change() { # WHICH OLD: waits for the CA's certificate to be another than OLD
    for i in $(seq 1 600); do [ "$(cert_of "$1")" != "$2" ] && return 0; sleep 0.1; done
    return 1
}
pem_of() { # CERT_ID: its certificate in PEM
    sqlite3 "$db" ".timeout 5000" "SELECT writefile('$T/der', der) FROM certificates WHERE id = '$1'" >/dev/null
    openssl x509 -inform DER -in "$T/der"
}
at() { echo $(($(date +%s) + $1 * 86400 + 120)); } # DAYS: the daemon's clock, for openssl verify -attime
root0=$(cert_of "Root CA")
issuer0=$(cert_of "Issuing CA")
pem_of "$root0" > root0.pem

echo "+$((1220 * 86400))" > clock # past two thirds of the issuing CA's five years
wait_change "Issuing CA" "$issuer0" || fail "the issuing CA did not rotate at two thirds of its life"
issuer1=$(cert_of "Issuing CA")
check_eq "the issuing CA rotated on its own, the root not (it has years left)" "$root0" "$(cert_of "Root CA")"

echo "+$((2440 * 86400))" > clock # the root and the second issuing certificate both due
wait_change "Root CA" "$root0" || fail "the root did not rotate at two thirds of its life"
root1=$(cert_of "Root CA")
wait_rounds 3 -k # three scheduler rounds (its clock ahead: curl cannot verify its certificate)
check_eq "the issuing CA, due too, waits: not signed under a root rotated moments ago" "$issuer1" "$(cert_of "Issuing CA")"
pem_of "$issuer1" > issuer1.pem
api POST /api/v1/certificates '{"subject":{"common_name":"meanwhile.example"},"sans":["dns:meanwhile.example"]}' -k
check_eq "a certificate issued meanwhile" 201 "$status"
body .pem > meanwhile.pem
check_contains "verifies with the old root alone (the bundle clients had)" \
    "$(openssl verify -attime "$(at 2440)" -CAfile root0.pem -untrusted issuer1.pem meanwhile.pem 2>&1)" "meanwhile.pem: OK"

echo "+$((2472 * 86400))" > clock # 32 days after the root's rotation
wait_change "Issuing CA" "$issuer1" || fail "the issuing CA did not rotate once the 30 days had passed"
pem_of "$(cert_of "Issuing CA")" > issuer2.pem
pem_of "$root1" > root1.pem
check_contains "then it is, under the new root" "$(openssl verify -attime "$(at 2472)" -CAfile root1.pem issuer2.pem 2>&1)" "issuer2.pem: OK"
done_testing
