#!/usr/bin/env bash
# Bringing your own issuer: an enterprise PKI's root (its certificate alone, PEM or DER) and
# its issuing CA (with its key) imported beside the quickstart CAs, then named the tenant's
# default CA, so that what names no CA is signed by it and verifies with the trust bundle.
# Then the quickstart CAs retired: deleted, they stay deleted across restarts (a store from
# before this was recorded too), certhubd's own certificate comes from your issuing CA (or
# certhubd refuses to start, saying what to give it, when it cannot tell which), ca.pem and the
# trust bundle hold your CAs alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
C=("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem")
quickstart=$(quickstart_issuer)

# The enterprise PKI: a root, and an issuing CA under it whose key certhub is given.
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj "/O=Corp/CN=Corp Root CA" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout issuing.key -subj "/O=Corp/CN=Corp Issuing CA" \
    -out issuing.csr 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > ext.cnf
openssl x509 -req -in issuing.csr -CA root.pem -CAkey root.key -CAcreateserial -days 1825 -extfile ext.cnf \
    -out issuing.pem 2>/dev/null
openssl x509 -in root.pem -outform der -out root.der

# The root's certificate as a Windows or a CA's download hands it out: DER.
root_id=$("${C[@]}" ca import root.der --name corp-root) || fail "a CA certificate in DER is refused"
ok "a root CA's certificate imported from DER"
issuing_id=$("${C[@]}" ca import issuing.pem --key issuing.key --name corp-issuing)
api GET "/api/v1/cas/$issuing_id"
check_eq "the issuing CA is linked to its root" "$root_id" "$(body .parent_id)"

api POST /api/v1/certificates '{"subject":{"common_name":"a.example"},"sans":["dns:a.example"]}'
check_eq "with two CAs that sign, a request naming none is refused" "400 ca_id" "$status $(body .error.field)"
check_contains "and told of the setting" "$(body .error.message)" "default_ca_id"

api PATCH /api/v1/settings '{"default_ca_id":"ca_nosuch"}'
check_eq "a default CA that does not exist: 400" "400 default_ca_id" "$status $(body .error.field)"
api PATCH /api/v1/settings "{\"default_ca_id\":\"$root_id\"}"
check_eq "one without its key cannot be the default: 422" "422 default_ca_id" "$status $(body .error.field)"
api PATCH /api/v1/settings '{"default_ca_id":7}'
check_eq "nor a number" "400 default_ca_id" "$status $(body .error.field)"
api GET /api/v1/settings
check_eq "and none is set" null "$(body .default_ca_id)"

out=$("${C[@]}" settings set --default-ca "$issuing_id")
check_contains "certhub settings set --default-ca" "$out" "$issuing_id"
api POST /api/v1/certificates '{"subject":{"common_name":"b.example"},"sans":["dns:b.example"]}'
check_eq "a request naming no CA is issued" 201 "$status"
body .pem > b.pem
check_eq "by the tenant's default CA" "$issuing_id" "$(body .ca_id)"
"${C[@]}" ca bundle --out bundle.pem
openssl verify -CAfile bundle.pem b.pem >/dev/null || fail "the certificate does not verify with the trust bundle"
ok "a client trusting the tenant's bundle verifies it"
openssl verify -CAfile root.pem -untrusted issuing.pem b.pem >/dev/null || fail "not under the enterprise root"
ok "as one trusting the enterprise root alone does"
"${C[@]}" cert issue --subject CN=c.example --san dns:c.example --out c.pem >/dev/null
check_eq "the CLI without --ca-id too" "$(openssl x509 -in issuing.pem -noout -subject)" \
    "$(openssl x509 -in c.pem -noout -issuer | sed 's/^issuer=/subject=/')"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"d.example\"},\"sans\":[\"dns:d.example\"],\"ca_id\":\"$quickstart\"}"
check_eq "a request naming a CA still gets that one" "201 $quickstart" "$status $(body .ca_id)"

# The default CA gone: refused, not signed by another in its place.
api DELETE "/api/v1/cas/$issuing_id?force=true"
check_eq "the default CA deleted" 200 "$status"
api POST /api/v1/certificates '{"subject":{"common_name":"e.example"},"sans":["dns:e.example"]}'
check_eq "then a request naming none is refused, naming the setting" "422 ca_id" "$status $(body .error.field)"
check_contains "(its message)" "$(body .error.message)" "default_ca_id"
out=$("${C[@]}" settings set --default-ca none)
check_contains "--default-ca none" "$out" "none"
api POST /api/v1/certificates '{"subject":{"common_name":"f.example"},"sans":["dns:f.example"]}'
check_eq "then the tenant's one issuing CA signs again" "201 $quickstart" "$status $(body .ca_id)"
api GET "/api/v1/audit?action=settings.update&limit=10"
check_contains "the setting's changes are audited" "$(body '[.items[].detail | tostring] | join(" ")')" "default_ca_id"

# The issuing CA as Windows (or a PKI's web page) exports it: a PKCS#12 with its key.
openssl pkcs12 -export -in issuing.pem -inkey issuing.key -certfile root.pem -passout pass:changeit \
    -out issuing.pfx 2>/dev/null
echo changeit > pw
expect_error "a PKCS#12 without its password: the option that gives it is named" "pass --password-file F" -- \
    "${C[@]}" ca import issuing.pfx --name corp-issuing-2
pfx_id=$("${C[@]}" ca import issuing.pfx --password-file pw --name corp-issuing-2)
api GET "/api/v1/cas/$pfx_id"
check_eq "ca import of a PKCS#12: the CA with its key, linked to its root" "true $root_id" \
    "$(body '.can_sign|tostring') $(body .parent_id)"
check_eq "its certificate is the one in the file" "$(openssl x509 -in issuing.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)" \
    "$(body .sha256)"
expect_usage "with --key beside it: the file holds the key already" "holds the CA's key itself" -- \
    "${C[@]}" ca import issuing.pfx --password-file pw --key issuing.key --name x

# ---- The quickstart CAs retired.
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
served_issuer() {
    openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
        openssl x509 -noout -issuer
}
bundle_subjects() { # [curl args]: the subjects in the default bundle, sorted, one line
    curl -s --cacert "$data/ca.pem" -o bundle-now.pem "$@" "https://localhost:$port/api/v1/bundles/default"
    openssl crl2pkcs7 -nocrl -certfile bundle-now.pem | openssl pkcs7 -print_certs -noout | grep '^subject' |
        sort | tr '\n' ';'
}
# (the CLI against the certhubd running now, whose port a restart changes)
cli() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
api GET /api/v1/cas
quickstart_root=$(body '.items[] | select(.name | startswith("certhub Quickstart Root")) | .id')
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"old.example\"},\"ca_id\":\"$quickstart\",\"auto_renew\":true}"
old_leaf=$(body .id)
api DELETE "/api/v1/cas/$quickstart"
check_eq "the quickstart issuing CA is not deleted unasked while certhubd's own certificate is under it" 409 "$status"
renewals=$(grep -c "server certificate renewed" "$log" || true)
cli ca delete "$quickstart" --force >/dev/null
cli ca delete "$quickstart_root" --force >/dev/null
ok "both quickstart CAs deleted (--force)"
# certhubd takes a new certificate as soon as the CA of its own is gone, from the one CA left
# that signs (corp-issuing-2), writing its root into ca.pem first: the requests below trust
# that (a request begun with the old ca.pem while it changed over failed to connect).
for i in $(seq 1 300); do
    [ "$(grep -c "server certificate renewed" "$log" || true)" -gt "$renewals" ] && break
    sleep 0.1
done
[ "$(grep -c "server certificate renewed" "$log" || true)" -gt "$renewals" ] ||
    fail "certhubd did not take a new certificate once the quickstart CAs were deleted"
# (the line is written as the new TLS context is made, just before the listener takes it)
for i in $(seq 1 300); do api GET /api/v1/health; [ "$status" = 200 ] && break; sleep 0.1; done
ok "certhubd took a new certificate at once"
# What they issued still goes out with its chain, found among the CA certificates the
# inventory keeps (it went out alone, and an agent deployed the leaf without it).
api GET "/api/v1/certificates/$old_leaf/export?format=pem"
check_eq "a certificate of a deleted CA exports with its chain to the quickstart root" "200 3" \
    "$status $(grep -c 'BEGIN CERTIFICATE' "$T/body")"
cp "$T/body" old-chain.pem
check_eq "which openssl verifies" "old-chain.pem: OK" \
    "$(openssl verify -CAfile <(sed -n '/BEGIN/,/END/p' old-chain.pem | awk 'BEGIN{n=0} /BEGIN/{n++} n==3') \
        -untrusted old-chain.pem old-chain.pem 2>&1 | tail -1)"
# Renewed by the CA a request naming none goes to (cert-manager renews from the issuer
# configured now): it stopped at "no CA with id".
api POST "/api/v1/certificates/$old_leaf/renew"
check_eq "renewing it: from the one issuing CA left" "201 $pfx_id true" "$status $(body .ca_id) $(body .auto_renew)"
moved=$(body .id)
api POST /api/v1/cas '{"name":"lab","type":"root","subject":{"common_name":"Lab Root"},"key_type":"p256","days":30}'
lab=$(body .id)
expect_exit 0 "cert renew --ca-id" -- cli cert renew "$moved" --ca-id "$lab"
api GET "/api/v1/certificates/$moved"
check_eq "moved to the CA named" "$lab" "$(api GET "/api/v1/certificates/$(body .renewed_by)"; body .ca_id)"
cli ca delete "$lab" --force >/dev/null
# While it runs, its next check (SIGHUP here) keeps serving the certificate from the CA that
# signs what names none, the one issuing CA left (corp-issuing-2), and ca.pem holds its root.
kill -HUP "$pid"
for i in $(seq 1 300); do grep -q "server certificate renewed" "$log" && break; sleep 0.1; done
check_eq "ca.pem holds the enterprise root now" "$(fp_of root.pem)" "$(fp_of "$data/ca.pem")"
check_eq "and certhubd serves a certificate of the enterprise issuing CA, without a restart" \
    "issuer=O = Corp, CN = Corp Issuing CA" "$(served_issuer)"
api POST /api/v1/certificates '{"subject":{"common_name":"g.example"},"sans":["dns:g.example"]}'
check_eq "a request naming no CA: the one CA left that signs" "201 $pfx_id" "$status $(body .ca_id)"
stop_daemon
start_daemon
api GET /api/v1/cas
check_eq "restarted: the quickstart CAs are not made again" 0 \
    "$(body '[.items[] | select(.name | startswith("certhub Quickstart"))] | length')"
check_eq "the trust bundle holds your CAs alone" "subject=O = Corp, CN = Corp Issuing CA;subject=O = Corp, CN = Corp Root CA;" \
    "$(bundle_subjects -H "Authorization: Bearer $TOKEN")"
check_eq "the public one too" "subject=O = Corp, CN = Corp Issuing CA;subject=O = Corp, CN = Corp Root CA;" \
    "$(bundle_subjects)"
check_contains "the fingerprint printed at the start is the enterprise root's" "$(cat "$log")" \
    "root fingerprint (SHA-256) $(fp_of root.pem)"
"$CERTHUB" --server "https://localhost:$port" ca bundle --fingerprint "$(fp_of root.pem)" --out first.pem 2>first.err ||
    fail "a first contact with that fingerprint failed: $(cat first.err)"
ok "and a machine's first contact with it succeeds"
serial=$(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial)
api POST /api/v1/certificates '{"subject":{"common_name":"h.example"},"sans":["dns:h.example"]}'
check_eq "a request naming no CA is signed by it" "201 $pfx_id" "$status $(body .ca_id)"
body .pem > h.pem
openssl verify -CAfile root.pem -untrusted issuing.pem h.pem >/dev/null || fail "h.example is not under the enterprise root"
ok "under the enterprise root"

# A store from before the quickstart CAs were recorded made (schema 29): the upgrade records
# them made, and deleted they stay.
stop_daemon
sqlite3 "$data/certhub.db" "DROP TABLE setup_steps; DROP INDEX trusted_certs_disabled; DROP INDEX devices_client; ALTER TABLE devices DROP COLUMN client_id; ALTER TABLE certificates DROP COLUMN renew_before; DROP TABLE token_certificates; PRAGMA user_version=29"
start_daemon
api GET /api/v1/cas
check_eq "a store from before, upgraded: not made again either" "200 0" \
    "$status $(body '[.items[] | select(.name | startswith("certhub Quickstart"))] | length')"
check_eq "and certhubd's own certificate is the one it had" "$serial" \
    "$(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial)"

# Two CAs that sign and no default: a request naming none is refused, and certhubd, which cannot
# tell which issues its next certificate, serves the one it has while it is valid, saying in its
# log what to give it (it refused to start, leaving no certhubd to name a default CA with).
api POST /api/v1/cas '{"name":"lab-root","subject":{"common_name":"Lab Root"}}'
lab_root=$(body .id)
api POST /api/v1/certificates '{"subject":{"common_name":"i.example"},"sans":["dns:i.example"]}'
check_eq "with two CAs that sign, a request naming none is refused" "400 ca_id" "$status $(body .error.field)"
stop_daemon
start_daemon
check_eq "certhubd starts all the same, serving the certificate it had" "$serial" \
    "$(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial)"
check_contains "saying it cannot renew it, and to give it a certificate or a default CA" "$(cat "$log")" \
    "Give certhubd a certificate of yours (--tls-cert and --tls-key), or name the tenant's default CA"
check_contains "and why" "$(cat "$log")" "2 CAs of this tenant can sign"
stop_daemon
# Its own certificate given: it starts, and issues none.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout served.key -subj "/CN=localhost" \
    -out served.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' > served.ext
openssl x509 -req -in served.csr -CA issuing.pem -CAkey issuing.key -CAcreateserial -days 30 -extfile served.ext \
    -out served.leaf 2>/dev/null
cat served.leaf issuing.pem > served.pem
start_daemon --tls-cert "$T/served.pem" --tls-key "$T/served.key"
check_eq "with --tls-cert it starts, serving that certificate" "subject=CN = localhost" \
    "$(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -subject)"
cli settings set --default-ca "$lab_root" >/dev/null
stop_daemon
# A default CA named: it issues certhubd's certificate, and ca.pem holds it (a root).
start_daemon
check_eq "the default CA issues certhubd's own certificate" "issuer=CN = Lab Root" "$(served_issuer)"
api GET "/api/v1/cas/$lab_root"
check_eq "ca.pem is that root" "$(body .sha256)" \
    "$(openssl x509 -in "$data/ca.pem" -outform der | sha256sum | cut -d' ' -f1)"
api GET /api/v1/cas
check_eq "and the quickstart CAs are still not back" 0 \
    "$(body '[.items[] | select(.name | startswith("certhub Quickstart"))] | length')"
# A self-signed certificate of that root's subject, imported into the inventory (no CA of the
# tenant's): ca.pem, what clients trust certhubd by, does not take it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fake.key -subj "/CN=Lab Root" \
    -days 30 -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out fake.pem 2>/dev/null
cli cert import fake.pem --name look-alike >/dev/null
stop_daemon
start_daemon
check_eq "a look-alike of the root in the inventory stays out of ca.pem" \
    "1 $(openssl x509 -in "$data/ca.pem" -outform der | sha256sum | cut -d' ' -f1)" \
    "$(grep -c 'BEGIN CERTIFICATE' "$data/ca.pem") $(api GET "/api/v1/cas/$lab_root"; body .sha256)"
# A default CA with less left than certhubd's 90 days: its own certificate ends with the CA,
# where the start was refused ("choose fewer days").
api POST /api/v1/cas '{"name":"short-root","subject":{"common_name":"Short Root"},"days":30}'
short_root=$(body .id)
short_end=$(body .not_after)
cli settings set --default-ca "$short_root" >/dev/null
stop_daemon
start_daemon
check_eq "a default CA of 30 days: certhubd starts, its certificate cut at the CA's end" \
    "issuer=CN = Short Root $(date -u -d "$short_end" +%s)" \
    "$(served_issuer) $(openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -enddate | sed 's/notAfter=//' | xargs -I{} date -u -d {} +%s)"

# A CA whose certificate has ended is said expired (it signed nothing, and was listed active).
faked '-40d' openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout old.key \
    -subj "/CN=Old Root" -days 2 -addext "keyUsage=critical,keyCertSign,cRLSign" -out old.pem 2>/dev/null
old_id=$(cli ca import old.pem --key old.key --name old-root)
check_eq "an expired CA: its status says so" "expired" "$(cli --output json ca get "$old_id" | jq -r .status)"
check_contains "in ca list too" "$(cli ca list | grep old-root)" "expired"
api POST /api/v1/cas/$old_id/rotate
check_eq "rotated, it has a certificate of today again" "200 active" "$status $(body .status)"

done_testing
