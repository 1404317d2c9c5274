#!/usr/bin/env bash
# Bringing your own issuer: an enterprise PKI's root (its certificate alone, PEM or DER) and
# its issuing CA (with its key) imported beside the quickstart CAs, then named the tenant's
# default CA, so that what names no CA is signed by it and verifies with the trust bundle.
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

done_testing
