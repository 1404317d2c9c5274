#!/usr/bin/env bash
# The key of a CSR made on the server, for a certificate an outside CA (openssl) signed for it,
# where test_csr_key_found.sh does not go: the certificate held already without a key (kept
# while the CSR had another certificate, since deleted), imported again as a certificate or a
# CA, takes the CSR's key (200, key_from_csr, audited certificate.key_add) where it was a 409;
# a certificate imported with its key links the CSR waiting for it (csr_id); and keystore
# uploads (PEM bundle, P7B, PKCS#12 and JKS without keys) give an entry without a key the
# CSR's (keys_from_csr, audited).  Another tenant's CSR is never taken, nor one signed
# already, and a true duplicate stays a 409 naming the certificate held.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/keytool.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
C=("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem")

# The outside CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout outside.key -subj "/CN=Outside Root" \
    -days 60 -out outside.pem 2>/dev/null
printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
printf 'basicConstraints=CA:false\nextendedKeyUsage=serverAuth\n' > leaf.ext
sign() { # CSR OUT EXTFILE: a certificate for the CSR, a new serial each time
    openssl x509 -req -in "$1" -CA outside.pem -CAkey outside.key -CAcreateserial -days 30 -extfile "$3" \
        -out "$2" 2>/dev/null
}
import() { # FILE [JQ OBJECT]: POST /certificates/import of the file's PEM, with those fields
    local more=${2:-"{}"}
    api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat "$1")" "{certificate: \$c} + $more")"
}
# The detail of the audit entry with this action about this object, as JSON.
audit_of() { # ACTION OBJECT_ID
    api GET "/api/v1/audit?action=$1&limit=1000"
    body "[.items[] | select(.object_id == \"$2\") | .detail | if type == \"string\" then fromjson else . end] | .[0]"
}
pubkey() { openssl x509 -in "$1" -noout -pubkey; }

# Another tenant, which must never get this tenant's keys.
api POST /api/v1/tenants '{"name":"other"}'
check_eq "another tenant" 201 "$status"
api POST /api/v1/tokens '{"tenant":"other","role":"admin","name":"other admin"}'
other=$(body .token)

# ---- a certificate held without its key while its CSR waits

web=$("${C[@]}" csr new --name "web" --subject "CN=web.example" --out web.csr)
sign web.csr web-a.pem leaf.ext
sign web.csr web-b.pem leaf.ext
TOKEN=$other import web-b.pem
check_eq "the other tenant holds the second certificate, without a key" "201 false" \
    "$status $(body .has_private_key)"
theirs=$(body .id)
# The first takes the CSR's key (as before); the second then finds the CSR signed already, and
# is kept without a key.
import web-a.pem
check_eq "the first certificate takes the CSR's key" "201 $web" "$status $(body .key_from_csr)"
a=$(body .id)
import web-b.pem
check_eq "the second, its CSR signed already: without a key" "201 false null" \
    "$status $(body .has_private_key) $(body .key_from_csr)"
b=$(body .id)
import web-b.pem
check_eq "imported again, no CSR waiting: a duplicate, naming the one held" "409 already_exists $b" \
    "$status $(body .error.code) $(body .error.existing_id)"
# The first certificate deleted, its CSR waits again (the key stays: the CSR holds it).
api DELETE "/api/v1/certificates/$a"
check_eq "the first certificate deleted" 200 "$status"
api GET "/api/v1/csrs/$web"
check_eq "and the CSR waits for its certificate again" null "$(body .certificate_id)"

import web-b.pem '{preview:true}'
check_eq "the preview says the held certificate would take the CSR's key" "200 true $web" \
    "$status $(body .has_private_key) $(body .key_from_csr)"
check_contains "(a note: held already without its key)" "$(body '.notes | join(" ")')" "held already ($b)"
api GET "/api/v1/csrs/$web"
check_eq "the preview takes nothing" null "$(body .certificate_id)"
TOKEN=$other import web-b.pem
check_eq "the other tenant importing it again: still its own duplicate (this tenant's CSR is not its)" \
    "409 $theirs" "$status $(body .error.existing_id)"
api GET "/api/v1/csrs/$web"
check_eq "and the CSR still waits" null "$(body .certificate_id)"

import web-b.pem
check_eq "imported again: the CSR's key added to the certificate held (200, as a key added)" \
    "200 $b true $web" "$status $(body .id) $(body .has_private_key) $(body .key_from_csr)"
check_contains "and noted" "$(body '.notes | join(" ")')" "CSR $web"
api GET "/api/v1/csrs/$web"
check_eq "the CSR has it as its certificate" "$b" "$(body .certificate_id)"
check_eq "audited as a key added, naming the CSR" "$web" "$(audit_of certificate.key_add "$b" | jq -r .key_from_csr)"
echo changeit > pw
"${C[@]}" cert export "$b" --format p12 --password-file pw --out web-b.p12 >/dev/null
check_eq "its key goes out with it, the CSR's" "$(pubkey web-b.pem)" \
    "$(openssl pkcs12 -in web-b.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
import web-b.pem
check_eq "imported once more, held with its key: a duplicate again" "409 already_exists $b" \
    "$status $(body .error.code) $(body .error.existing_id)"
TOKEN=$other api GET "/api/v1/certificates/$theirs"
check_eq "the other tenant's copy still has no key" "200 false" "$status $(body .has_private_key)"

# ---- a certificate imported with its key while its CSR waits: the CSR takes it too

svc=$("${C[@]}" csr new --name "svc" --subject "CN=svc.example" --out svc.csr)
sign svc.csr svc-a.pem leaf.ext
sign svc.csr svc-c.pem leaf.ext
expect_exit 0 "cert import of the first" -- "${C[@]}" cert import svc-a.pem
svc_a=$(cat "$T/stdout")
# (the key as a user has it: downloaded with a certificate that had it)
"${C[@]}" cert key "$svc_a" --out svc.key >/dev/null
"${C[@]}" cert delete "$svc_a" >/dev/null
expect_exit 0 "cert import --key of another certificate for the CSR" -- "${C[@]}" cert import svc-c.pem --key svc.key
svc_c=$(cat "$T/stdout")
check_contains "says which CSR has it now" "$(cat "$T/stderr")" "CSR $svc"
api GET "/api/v1/csrs/$svc"
check_eq "the CSR has it as its certificate" "$svc_c" "$(body .certificate_id)"
api GET "/api/v1/certificates/$svc_c"
check_eq "stored with the key given, as signed for the CSR" "true csr_signed" "$(body .has_private_key) $(body .method)"
check_eq "the audit entry names the CSR it was signed for" "$svc" \
    "$(audit_of certificate.import "$svc_c" | jq -r .csr_id)"

# ---- a CA held without its key, imported as a CA (the CLI)

edge=$("${C[@]}" csr new --name "edge" --subject "CN=Edge Issuing CA" --out edge.csr)
sign edge.csr edge-a.pem ca.ext
sign edge.csr edge-b.pem ca.ext
import edge-a.pem
edge_a=$(body .id)
import edge-b.pem
check_eq "a second CA certificate for the CSR: without a key" "201 false" "$status $(body .has_private_key)"
edge_b=$(body .id)
api DELETE "/api/v1/certificates/$edge_a"
expect_exit 0 "ca import of the certificate held without its key" -- "${C[@]}" ca import edge-b.pem --name "edge"
ca=$(cat "$T/stdout")
check_contains "says whose key it took" "$(cat "$T/stderr")" "its key is that of CSR $edge"
api GET "/api/v1/cas/$ca"
check_eq "the CA signs, with the certificate held" "true $edge_b" "$(body .can_sign) $(body .certificate_id)"
api GET "/api/v1/certificates/$edge_b"
check_eq "and that certificate has the key now" true "$(body .has_private_key)"
api GET "/api/v1/csrs/$edge"
check_eq "the CSR has it" "$edge_b" "$(body .certificate_id)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"gw.example\"},\"sans\":[\"dns:gw.example\"],\"ca_id\":\"$ca\",\"days\":5}"
check_eq "it issues" 201 "$status"

# ---- keystore uploads

# A PEM bundle (the certificate and the outside root: one entry, its chain), first by the
# other tenant, which gets no key.
bundle=$("${C[@]}" csr new --name "bundle" --subject "CN=bundle.example" --out bundle.csr)
sign bundle.csr bundle.pem leaf.ext
cat bundle.pem outside.pem > bundle-chain.pem
TOKEN=$other api POST "/api/v1/keystores?name=theirs" "" --data-binary @bundle-chain.pem \
    -H "Content-Type: application/x-pem-file"
check_eq "the other tenant uploads it: no key taken" "201 null" "$status $(body .keys_from_csr)"
TOKEN=$other api GET "/api/v1/keystores/$(body .id)"
check_eq "(its entry has none)" false "$(body '.entries[0].has_private_key')"
api GET "/api/v1/csrs/$bundle"
check_eq "the CSR still waits" null "$(body .certificate_id)"

expect_exit 0 "keystore upload of the bundle" -- "${C[@]}" --output json keystore upload bundle-chain.pem --name bundle
ks=$(jq -r .id "$T/stdout")
check_eq "the answer names the entry that took the CSR's key" "bundle.example $bundle" \
    "$(jq -r '.keys_from_csr[] | "\(.alias) \(.key_from_csr)"' "$T/stdout")"
check_contains "and the CLI says it" "$(cat "$T/stderr")" "entry \"bundle.example\": its key is that of CSR $bundle"
bundle_cert=$(jq -r '.keys_from_csr[0].certificate_id' "$T/stdout")
api GET "/api/v1/keystores/$ks"
check_eq "the entry has the key" "true $bundle_cert" "$(body '.entries[0].has_private_key') $(body '.entries[0].certificate_id')"
api GET "/api/v1/certificates/$bundle_cert"
check_eq "so has the certificate, as signed for the CSR" "true csr_signed" "$(body .has_private_key) $(body .method)"
api GET "/api/v1/csrs/$bundle"
check_eq "the CSR has it" "$bundle_cert" "$(body .certificate_id)"
check_eq "the audit entry of the upload names it" "bundle.example $bundle $bundle_cert" \
    "$(audit_of keystore.import "$ks" | jq -r '.keys_from_csr[] | "\(.alias) \(.key_from_csr) \(.certificate_id)"')"
api POST "/api/v1/keystores/$ks/export" '{"format":"p12","password":"changeit"}'
check_eq "exported as PKCS#12" 200 "$status"
cp "$T/body" bundle.p12
check_eq "with the CSR's key" "$(pubkey bundle.pem)" \
    "$(openssl pkcs12 -in bundle.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
# Uploaded again: the CSR is signed already, nothing is taken.
api POST "/api/v1/keystores?name=again" "" --data-binary @bundle-chain.pem -H "Content-Type: application/x-pem-file"
check_eq "the same bundle again: its CSR signed already, no key taken" "201 null" "$status $(body .keys_from_csr)"

# P7B, and PKCS#12 and JKS holding certificates alone.
p7=$("${C[@]}" csr new --name "p7" --subject "CN=p7.example" --out p7.csr)
sign p7.csr p7.pem leaf.ext
openssl crl2pkcs7 -nocrl -certfile p7.pem -outform DER -out p7.p7b
api POST "/api/v1/keystores?name=p7b" "" --data-binary @p7.p7b -H "Content-Type: application/pkcs7-mime"
check_eq "a P7B: its certificate takes the CSR's key" "201 p7b $p7" "$status $(body .format) $(body '.keys_from_csr[0].key_from_csr')"

p12=$("${C[@]}" csr new --name "p12" --subject "CN=p12.example" --out p12.csr)
sign p12.csr p12.pem leaf.ext
openssl pkcs12 -export -nokeys -in p12.pem -passout pass:changeit -out certs.p12 2>/dev/null
expect_exit 0 "keystore upload of a PKCS#12 without keys" -- "${C[@]}" keystore upload certs.p12 --password-file pw \
    --name p12
check_contains "its entry took the CSR's key" "$(cat "$T/stderr")" "its key is that of CSR $p12"
api GET "/api/v1/csrs/$p12"
check_contains "the CSR has a certificate" "$(body .certificate_id)" "crt_"

jks=$("${C[@]}" csr new --name "jks" --subject "CN=jks.example" --out jks.csr)
sign jks.csr jks.pem leaf.ext
kt -importcert -noprompt -keystore trust.jks -storetype JKS -storepass changeit -alias partner -file jks.pem >/dev/null
api POST "/api/v1/keystores?name=jks" "" --data-binary @trust.jks -H "Content-Type: application/x-java-keystore" \
    -H "Certhub-Password: changeit"
check_eq "a JKS truststore entry takes the CSR's key" "201 jks partner $jks" \
    "$status $(body .format) $(body '.keys_from_csr[0].alias') $(body '.keys_from_csr[0].key_from_csr')"
api GET "/api/v1/keystores/$(body .id)/entries/partner"
check_eq "(that entry has the key)" true "$(body .has_private_key)"

# A keystore entry whose certificate is held already without its key, its CSR waiting again.
held=$("${C[@]}" csr new --name "held" --subject "CN=held.example" --out held.csr)
sign held.csr held-a.pem leaf.ext
sign held.csr held-b.pem leaf.ext
import held-a.pem
held_a=$(body .id)
import held-b.pem
held_b=$(body .id)
api DELETE "/api/v1/certificates/$held_a"
api POST "/api/v1/keystores?name=held" "" --data-binary @held-b.pem -H "Content-Type: application/x-pem-file"
check_eq "an entry whose certificate was held without its key: the certificate held takes the CSR's key" \
    "201 $held_b $held" "$status $(body '.keys_from_csr[0].certificate_id') $(body '.keys_from_csr[0].key_from_csr')"
api GET "/api/v1/certificates/$held_b"
check_eq "(it has the key)" true "$(body .has_private_key)"
check_eq "audited as a key added to it" "$held" "$(audit_of certificate.key_add "$held_b" | jq -r .key_from_csr)"

done_testing
