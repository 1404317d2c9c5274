#!/usr/bin/env bash
# CA rotation and the trust bundle: rotating the issuing CA moves issuance to a new key at
# once, the old certificate keeps validating what it issued, and the tenant's bundle (PEM or a
# JKS truststore) holds old and new under a new ETag; clients that trust the bundle verify
# certificates from before and after the rotation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/keytool.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)
old_cert=$(body ".items[] | select(.id == \"$issuer\") | .certificate_id")
leaf() { # NAME: issue, save NAME.pem
    api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"$1.example\"},\"sans\":[\"dns:$1.example\"],\"ca_id\":\"$issuer\"}"
    [ "$status" = 201 ] || fail "issuing $1: $(cat "$T/body")"
    body .pem > "$1.pem"
}
bundle() { # FILE: the bundle and its ETag in $etag
    status=$(curl -s -o "$1" -D headers -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" "https://localhost:$port/api/v1/bundles/default")
    etag=$(sed -n 's/^ETag: *//Ip' headers | tr -d '\r')
}

leaf before
bundle b1.pem
check_eq "the bundle holds the root and the issuing CA" 2 "$(grep -c 'BEGIN CERTIFICATE' b1.pem)"
etag1=$etag
check_contains "with an ETag" "$etag1" '"'
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $etag1" "https://localhost:$port/api/v1/bundles/default")
check_eq "unchanged: 304" 304 "$code"
# RFC 9110 13.1.2: If-None-Match compares weakly, takes a list, and * (all 200 before).
for inm in "W/$etag1" "\"other\", $etag1" "*"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" \
        -H "If-None-Match: $inm" "https://localhost:$port/api/v1/bundles/default")
    check_eq "If-None-Match: $inm: 304" 304 "$code"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" \
    -H 'If-None-Match: "other", W/"another"' "https://localhost:$port/api/v1/bundles/default")
check_eq "another tag: 200" 200 "$code"

# A rotation takes nothing: a body asking for something, or one that is not JSON, is refused
# and nothing rotates.
api POST "/api/v1/cas/$issuer/rotate" '{"days":5}'
check_eq "rotate with a field: 400 naming it" "400 days" "$status $(body .error.field)"
api POST "/api/v1/cas/$issuer/rotate" "" -H "Content-Type: application/json" --data "garbage"
check_eq "rotate with a body that is not JSON: 400" 400 "$status"
api GET "/api/v1/cas/$issuer"
check_eq "and the CA kept its certificate" "$old_cert" "$(body .certificate_id)"
api POST "/api/v1/cas/$issuer/rotate" '{}'
check_eq "the issuing CA is rotated (an empty object is no request)" 200 "$status"
new_cert=$(body .certificate_id)
[ "$new_cert" != "$old_cert" ] || fail "the CA still has its old certificate"
ok "it has a new certificate, under the same id"
api GET "/api/v1/certificates/$old_cert"
check_eq "the old certificate is kept, marked rotated" "rotated" "$(body .status)"
api GET "/api/v1/certificates?status=rotated&limit=1000"
check_eq "listed as rotated" "$old_cert" "$(body '[.items[].id] | join(" ")')"
api GET "/api/v1/certificates?status=active&limit=1000"
check_eq "and not as active" "false" "$(body "[.items[].id] | index(\"$old_cert\") != null")"
leaf after
old_ski=$(openssl x509 -in before.pem -noout -ext authorityKeyIdentifier | tail -1)
new_ski=$(openssl x509 -in after.pem -noout -ext authorityKeyIdentifier | tail -1)
[ "$old_ski" != "$new_ski" ] || fail "issued under the old key after the rotation"
ok "issuance moved to the new key at once"
bundle b2.pem
check_eq "a new version of the bundle: old and new issuing CA and the root" 3 "$(grep -c 'BEGIN CERTIFICATE' b2.pem)"
[ "$etag" != "$etag1" ] || fail "the ETag did not change"
ok "under a new ETag"
openssl verify -CAfile b2.pem before.pem >/dev/null || fail "a certificate from before the rotation does not verify with the bundle"
ok "a client trusting the bundle verifies a certificate from before the rotation"
openssl verify -CAfile b2.pem after.pem >/dev/null || fail "a certificate from after the rotation does not verify"
ok "and one from after it"
curl -s -o bundle.jks --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -H "Certhub-Password: changeit" "https://localhost:$port/api/v1/bundles/default?format=jks"
check_eq "the same as a JKS truststore keytool reads" 3 "$(keytool -list -keystore bundle.jks -storepass changeit 2>/dev/null | grep -c trustedCertEntry)"
curl -s -o bundle.p12 --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -H "Certhub-Password: changeit" "https://localhost:$port/api/v1/bundles/default?format=p12"
check_eq "and as a PKCS#12 truststore keytool reads" 3 "$(keytool -list -keystore bundle.p12 -storepass changeit -storetype PKCS12 2>/dev/null | grep -c trustedCertEntry)"
# keytool -list names each entry by the CA it is (its common name, in lower case as keytool
# lists aliases), not ca-1...ca-N; the rotated CA's two certificates have the same name, and
# the one after the other in the bundle (soonest to end first) is -2.
aliases() { kt -list -keystore "$@" -storepass changeit | sed -n 's/, [A-Z][a-z]* [0-9]*, [0-9]*, trustedCertEntry, *$//p' | LC_ALL=C sort | paste -sd'|'; }
want="certhub quickstart issuing ca - not for production|certhub quickstart issuing ca - not for production-2|certhub quickstart root ca - not for production"
check_eq "the JKS truststore's aliases are its CAs' names" "$want" "$(aliases bundle.jks)"
check_eq "and the PKCS#12's" "$want" "$(aliases bundle.p12 -storetype PKCS12)"
sha_of() { api GET "/api/v1/certificates/$1"; body .sha256; }
kt_sha() { kt -list -keystore bundle.jks -storepass changeit -alias "$1" | sed -n 's/.*(SHA-256): //p' | tr -d ':' | tr 'A-F' 'a-f'; }
check_eq "the two issuing ones are the CA's old and new certificates" \
    "$( (sha_of "$old_cert"; sha_of "$new_cert") | sort | paste -sd' ')" \
    "$( (kt_sha 'certhub quickstart issuing ca - not for production'
        kt_sha 'certhub quickstart issuing ca - not for production-2') | sort | paste -sd' ')"
api GET "/api/v1/bundles/default?format=jks"
check_eq "a truststore needs a password" "400 password" "$status $(body .error.field)"
api GET /api/v1/bundles/other
check_eq "an unknown bundle: 404" 404 "$status"

# The public bundle: read without a token where the tenant made it public, as a first start
# does for "default"; a tenant that keeps it, or that does not exist, is the same 404.
public() { # URL-PATH [curl args]: status of an anonymous GET, body in public.out
    local path=$1
    shift
    curl -s -o public.out -w '%{http_code}' --cacert "$data/ca.pem" "$@" "https://localhost:$port$path"
}
check_eq "the default tenant's bundle without a token" 200 "$(public /api/v1/bundles/default)"
cmp -s public.out b2.pem || fail "the public bundle is not the tenant's bundle"
ok "the same bundle as with a token"
check_eq "also as a truststore" 200 "$(public "/api/v1/bundles/default?format=jks" -H "Certhub-Password: changeit")"
check_eq "a wrong token is still refused" 401 "$(public /api/v1/bundles/default -H "Authorization: Bearer cht_wrong")"
bundle_reads() {
    api GET /metrics
    sed -n 's|^certhub_http_requests_total{route="GET /api/v1/bundles/{id}",status="2xx"} ||p' "$T/body"
}
before=$(bundle_reads)
public /api/v1/bundles/default >/dev/null
check_eq "/metrics counts a read without a token under its route" $((before + 1)) "$(bundle_reads)"
api POST /api/v1/tenants '{"name":"private"}'
check_eq "a second tenant" 201 "$status"
check_eq "its bundle is not public" 404 "$(public "/api/v1/bundles/default?tenant=private")"
check_eq "no tenant by that name: the same answer" 404 "$(public "/api/v1/bundles/default?tenant=nosuch")"
check_contains "which says how to read it" "$(jq -r .error.message public.out)" "public_bundle"
api POST /api/v1/tokens '{"tenant":"private","role":"admin"}'
TOKEN=$(body .token) api PATCH /api/v1/settings '{"public_bundle":true}'
check_eq "its admins make it public" 200 "$status"
check_eq "then it is read without a token, by the tenant's name" 200 "$(public "/api/v1/bundles/default?tenant=private")"
api DELETE /api/v1/tenants/private
check_eq "a revoked tenant's bundle is no longer public" 404 "$(public "/api/v1/bundles/default?tenant=private")"
api GET /api/v1/settings
check_eq "the default tenant's settings say its bundle is public" true "$(body .public_bundle)"
api PATCH /api/v1/settings '{"public_bundle":false}'
check_eq "an admin keeps it to the tenant" "200 false" "$status $(body .public_bundle)"
check_eq "then it needs a token" 404 "$(public /api/v1/bundles/default)"
api PATCH /api/v1/settings '{"public_bundle":"yes"}'
check_eq "public_bundle is true or false" "400 public_bundle" "$status $(body .error.field)"
api PATCH /api/v1/settings '{"public_bundle":true}'
check_eq "and makes it public again" 200 "$(public /api/v1/bundles/default)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key -subj /CN=outside -days 30 \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out x.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --arg c "$(cat x.pem)" '{name:"outside", type:"import", certificate:$c}')"
api POST "/api/v1/cas/$(body .id)/rotate"
check_eq "a CA imported without its key cannot be rotated here" 422 "$status"
out=$("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" ca rotate "$issuer")
check_contains "certhub ca rotate" "$out" "new certificate crt_"
bundle b3.pem
check_eq "a second rotation: the root, three issuing certificates and the imported CA" 5 "$(grep -c 'BEGIN CERTIFICATE' b3.pem)"
api GET /metrics
check_contains "/metrics counts certificates within each alert threshold" "$(cat "$T/body")" 'certhub_certificates_expiring_within{days="30"}'
api GET "/api/v1/audit?limit=1000"
check_contains "the rotation is audited" "$(body '[.items[].action] | join(",")')" "ca.rotate"
check_eq "with the certificate that went and the one that came" "true true" \
    "$(body '[.items[] | select(.action == "ca.rotate")][0].detail | (.old_certificate_id | startswith("crt_") | tostring) + " " + (.certificate_id | startswith("crt_") | tostring)')"

# The quickstart root rotated, then the issuing CA under it: certhubd's chain moves to the new
# root, and DATA_DIR/ca.pem, which clients trust to reach it, holds both roots.
cp "$data/ca.pem" old-root.pem
api GET /api/v1/cas
root=$(body '.items[] | select(.name | contains("Quickstart Root")) | .id')
api POST "/api/v1/cas/$root/rotate"
check_eq "the quickstart root is rotated" 200 "$status"
check_eq "ca.pem holds the new root beside the old at once (not at the next renewal check)" 2 \
    "$(grep -c 'BEGIN CERTIFICATE' "$data/ca.pem")"
# The issuing CA's chain ends with the root certificate that signed it (the one from before
# the rotation), so that it verifies, as a leaf's export does.
chain_verifies() { # CA-ID: whether its chain verifies up to the chain's last certificate
    api GET "/api/v1/cas/$1/chain"
    awk -v n="$(grep -c 'BEGIN CERTIFICATE' "$T/body")" '/BEGIN/{i++} i==n' "$T/body" > chain-root.pem
    openssl verify -CAfile chain-root.pem -untrusted "$T/body" "$T/body" >/dev/null 2>&1 && echo yes || echo no
}
check_eq "after the root's rotation the issuing CA's chain still verifies (ends with the old root)" yes \
    "$(chain_verifies "$issuer")"
check_eq "(that root being the one from before)" "$(openssl x509 -in old-root.pem -noout -fingerprint -sha256)" \
    "$(openssl x509 -in chain-root.pem -noout -fingerprint -sha256)"
# A restart now: the fingerprint printed is the root certhubd's chain still goes to (the old
# one, until the issuing CA is rotated), so a first contact with it succeeds.
stop_daemon
start_daemon
fp=$(sed -n 's/^certhubd: root fingerprint (SHA-256) //p' "$log" | tail -1)
check_eq "after a root rotation, the fingerprint printed is that of the root the chain goes to" \
    "$(openssl x509 -in old-root.pem -noout -fingerprint -sha256 | cut -d= -f2)" "$fp"
"$CERTHUB" --server "https://localhost:$port" ca bundle --fingerprint "$fp" --out first.pem 2>first.err ||
    fail "a first contact with the printed fingerprint failed: $(cat first.err)"
ok "and a first contact with it succeeds"
api POST "/api/v1/cas/$issuer/rotate"
check_eq "then the issuing CA, now under the new root" 200 "$status"
check_eq "its chain now ends with the new root, and verifies" "yes no" \
    "$(chain_verifies "$issuer") $(cmp -s chain-root.pem old-root.pem && echo yes || echo no)"
kill -HUP "$pid"
for i in $(seq 1 300); do [ "$(grep -c 'BEGIN CERTIFICATE' "$data/ca.pem")" = 2 ] && break; sleep 0.1; done
check_eq "ca.pem holds the new root and the old" 2 "$(grep -c 'BEGIN CERTIFICATE' "$data/ca.pem")"
served() { # the CA file: whether a TLS client trusting only it reaches certhubd
    curl -s -o /dev/null -w '%{http_code}' --cacert "$1" "https://localhost:$port/api/v1/health" || true
}
for i in $(seq 1 300); do [ "$(served old-root.pem)" != 200 ] && break; sleep 0.1; done
check_eq "certhubd serves a chain under the new root: the old root alone no longer reaches it" 000 "$(served old-root.pem)"
check_eq "ca.pem does" 200 "$(served "$data/ca.pem")"

# A CA certhub cannot sign the next certificate of is not rotated: one an outside issuer signed
# (became a self-signed root of its name, which nothing trusting that issuer accepts), one held
# without its key.
outside_ca
api POST /api/v1/cas "$(jq -nc --rawfile c corp-issuing.pem --rawfile k corp-issuing.key \
    '{type:"import",name:"corp-issuing",certificate:$c,private_key:$k}')"
check_eq "an issuing CA of an outside PKI imported with its key" "201 true" "$status $(body .can_sign)"
outside=$(body .id) outside_cert=$(body .certificate_id)
api POST "/api/v1/cas/$outside/rotate"
check_eq "it is not rotated here: its issuer is outside" 422 "$status"
check_contains "the answer says to renew it at that issuer" "$(body .error.message)" "renew it at that issuer"
api GET "/api/v1/cas/$outside"
check_eq "and it keeps its certificate" "$outside_cert" "$(body .certificate_id)"
api POST /api/v1/cas "$(jq -nc --rawfile c corp-root.pem '{type:"import",name:"corp-root",certificate:$c}')"
keyless=$(body .id)
api POST "/api/v1/cas/$keyless/rotate"
check_eq "nor one held without its key" "422 imported without its private key" \
    "$status $(body .error.message | grep -o 'imported without its private key')"
api GET "/api/v1/cas/$outside"
outside_name=$(body .name)
api POST "/api/v1/cas/$outside/rotate"
check_contains "nor the issuing CA under it (its root's key is elsewhere), both named, what to do said" \
    "$status $(body .error.message)" \
    "422 CA \"$outside_name\" was signed by CA \"corp-root\", which cannot sign here (imported without its private key): certhub cannot sign its next certificate; renew it at that issuer"
# Renewed at that issuer: a CSR made here, signed there, given to ca rotate: the CA keeps its
# id (it became a second CA, the first left to run out), the old certificate stays "rotated".
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
renew_csr=$(remote csr new --subject "CN=Corp Issuing" --ca --path-len 0 --key-usage key_cert_sign,crl_sign \
    --out renew.csr)
openssl x509 -req -in renew.csr -CA corp-root.pem -CAkey corp-root.key -CAcreateserial -days 900 \
    -extfile corp-ca.ext -out renewed.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stranger.key -subj "/CN=Stranger" \
    -days 30 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out stranger.pem 2>/dev/null
openssl x509 -req -in renew.csr -CA stranger.pem -CAkey stranger.key -CAcreateserial -days 20 -extfile corp-ca.ext \
    -out strange.pem 2>/dev/null
expect_error "a renewal from another issuer: refused" "was not signed by CA" -- \
    remote ca rotate "$outside" --cert strange.pem --csr-id "$renew_csr"
expect_usage "--csr-id without --cert" "--csr-id goes with --cert" -- remote ca rotate "$outside" --csr-id "$renew_csr"
remote ca rotate "$outside" --cert renewed.pem --output json > rotated.json
check_eq "the outside renewal taken: the same CA, a new certificate" "$outside true" \
    "$(jq -r .id rotated.json) $([ "$(jq -r .certificate_id rotated.json)" != "$outside_cert" ] && echo true)"
api GET "/api/v1/certificates/$outside_cert"
check_eq "the old certificate kept, rotated" rotated "$(body .status)"
api GET "/api/v1/csrs/$renew_csr"
check_eq "the CSR (found by its key) has the certificate" "$(jq -r .certificate_id rotated.json)" "$(body .certificate_id)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"after.example\"},\"sans\":[\"dns:after.example\"],\"ca_id\":\"$outside\",\"days\":30}"
body .pem > after.pem
check_eq "it signs with the CSR's key, under the renewed certificate" OK \
    "$(openssl verify -CAfile corp-root.pem -untrusted renewed.pem after.pem 2>&1 | awk '{print $NF}')"
expect_error "the same renewal again: refused" "is CA" -- remote ca rotate "$outside" --cert renewed.pem
# One not valid yet is refused (issuance moved to it at once, and what it signed verified
# nowhere until then); one sent after the outside root, as a PEM bundle comes, is found in it.
renew_csr2=$(remote csr new --subject "CN=Corp Issuing" --ca --path-len 0 --key-usage key_cert_sign,crl_sign \
    --out renew2.csr)
faked '@2030-01-01 00:00:00' openssl x509 -req -in renew2.csr -CA corp-root.pem -CAkey corp-root.key -CAcreateserial \
    -days 30 -extfile corp-ca.ext -out future.pem 2>/dev/null
expect_error "a renewal not valid yet: refused, saying from when" "the certificate is not valid before 2030-01-01" -- \
    remote ca rotate "$outside" --cert future.pem --csr-id "$renew_csr2"
openssl x509 -req -in renew2.csr -CA corp-root.pem -CAkey corp-root.key -CAcreateserial -days 800 \
    -extfile corp-ca.ext -out renewed2.pem 2>/dev/null
cat corp-root.pem renewed2.pem > renewed2-bundle.pem
expect_exit 0 "the renewal after its root in one PEM file: taken" -- remote ca rotate "$outside" --cert renewed2-bundle.pem

# ---- a rotation keeps what the certificate says besides the name: the path length, the
# digest (a rotated CA had no limit and SHA-256), and a subject of attributes certhub's text
# form does not name (the rotation was refused, reading it back from text).
cert_text() { api GET "/api/v1/cas/$1"; api GET "/api/v1/certificates/$(body .certificate_id)"; body .pem | openssl x509 -noout -text; }
api POST /api/v1/cas '{"name":"kept-root","subject":{"common_name":"Kept Root"},"key_type":"p384","digest":"sha384","path_len":2,"days":400}'
kept_root=$(body .id)
api POST /api/v1/cas "{\"name\":\"kept-int\",\"type\":\"intermediate\",\"parent_id\":\"$kept_root\",\"subject\":{\"common_name\":\"Kept Int\"},\"path_len\":1,\"days\":300}"
kept_int=$(body .id)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"no-aki.example\"},\"sans\":[\"dns:no-aki.example\"],\"ca_id\":\"$kept_int\",\"authority_key_id\":false,\"days\":30}"
no_aki=$(body .id)
[ "$status" = 201 ] || fail "a certificate without an AKI: $status $(cat "$T/body")"
for c in "$kept_root 2" "$kept_int 1"; do
    set -- $c
    api POST "/api/v1/cas/$1/rotate"
    check_eq "rotated" 200 "$status"
    text=$(cert_text "$1")
    check_contains "its path length kept ($2)" "$text" "CA:TRUE, pathlen:$2"
done
check_contains "and the root's digest (SHA-384)" "$(cert_text "$kept_root")" "ecdsa-with-SHA384"
# An intermediate asked to outlive its parent: refused, or with cap_validity ending with it.
api GET "/api/v1/cas/$kept_root"
kept_root_end=$(body .not_after)
api POST /api/v1/cas "{\"name\":\"too-long\",\"type\":\"intermediate\",\"parent_id\":\"$kept_root\",\"subject\":{\"common_name\":\"Too Long\"},\"days\":1000}"
check_eq "an intermediate past its parent's end: 422 on days" "422 days" "$status $(body .error.field)"
api POST /api/v1/cas "{\"name\":\"capped\",\"type\":\"intermediate\",\"parent_id\":\"$kept_root\",\"subject\":{\"common_name\":\"Capped\"},\"days\":1000,\"cap_validity\":true}"
check_eq "with cap_validity: made, ending with its parent" "201 $kept_root_end" "$status $(body .not_after)"
api POST /api/v1/cas '{"name":"capped-root","subject":{"common_name":"Capped Root"},"cap_validity":true}'
check_eq "cap_validity with a root: 400 (a root has no parent to end with)" "400 cap_validity" "$status $(body .error.field)"
check_contains "certhub ca create --cap-validity" \
    "$("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" \
        ca create --name capped-cli --subject "CN=Capped CLI" --parent "$kept_root" --days 1000 --cap-validity)" "ca_"
api POST /api/v1/cas "{\"name\":\"kept-leafmost\",\"type\":\"intermediate\",\"parent_id\":\"$kept_int\",\"subject\":{\"common_name\":\"Kept Leafmost\"},\"days\":100}"
leafmost=$(body .id)
api POST /api/v1/cas "{\"name\":\"too-deep\",\"type\":\"intermediate\",\"parent_id\":\"$leafmost\",\"subject\":{\"common_name\":\"Too Deep\"},\"days\":50}"
check_eq "an intermediate under a CA of path length 0, none asked: 422 on parent_id (not on path_len)" \
    "422 parent_id" "$status $(body .error.field)"
# A certificate without an Authority Key Identifier, its CA rotated since: its export carries
# the CA certificate that signed it (names alone matched the new one too, which did not).
api GET "/api/v1/certificates/$no_aki/export?format=pem"
awk '/BEGIN CERT/{n++} {print > ("noaki-" n ".pem")}' "$T/body"
cat noaki-2.pem noaki-3.pem > noaki-chain.pem
openssl verify -partial_chain -CAfile noaki-chain.pem noaki-1.pem >/dev/null 2>&1 ||
    fail "the export of a certificate without an AKI does not verify with its own chain"
ok "a certificate without an AKI exports with the CA certificate that signed it, after a rotation"
# An outside root with path length 1 and under it an intermediate with none, both with their
# keys: the intermediate rotates (none is the profile's, cut under the parent's limit, as at
# creation: rotation asked for "no limit" and was refused); a SHA-1 root rotates to SHA-256
# (a rotation copied SHA-1).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pl-root.key -days 400 -subj "/CN=PL Root" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:1" -addext "keyUsage=critical,keyCertSign,cRLSign" -out pl-root.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pl-int.key -subj "/CN=PL Int" -out pl-int.csr 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > pl.ext
openssl x509 -req -in pl-int.csr -CA pl-root.pem -CAkey pl-root.key -CAcreateserial -days 300 -extfile pl.ext \
    -out pl-int.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --rawfile c pl-root.pem --rawfile k pl-root.key '{name:"pl-root", type:"import", certificate:$c, private_key:$k}')"
api POST /api/v1/cas "$(jq -n --rawfile c pl-int.pem --rawfile k pl-int.key '{name:"pl-int", type:"import", certificate:$c, private_key:$k}')"
pl_int=$(body .id)
api POST "/api/v1/cas/$pl_int/rotate"
check_eq "an intermediate without a path length under a root with one rotates" 200 "$status"
check_contains "its new certificate within the root's limit" "$(cert_text "$pl_int")" "CA:TRUE, pathlen:0"
openssl req -x509 -newkey rsa:2048 -sha1 -nodes -keyout sha1.key -days 400 -subj "/CN=SHA1 Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out sha1.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --rawfile c sha1.pem --rawfile k sha1.key '{name:"sha1-root", type:"import", certificate:$c, private_key:$k}')"
sha1_root=$(body .id)
api POST "/api/v1/cas/$sha1_root/rotate"
check_contains "a SHA-1 root rotates to SHA-256" "$(cert_text "$sha1_root")" "sha256WithRSAEncryption"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout odd.key -days 400 \
    -subj "/DC=com/DC=example/O=Corp/postalCode=12345/CN=Odd Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out odd.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --rawfile c odd.pem --rawfile k odd.key '{name:"odd-root", type:"import", certificate:$c, private_key:$k}')"
odd=$(body .id)
api POST "/api/v1/cas/$odd/rotate"
check_eq "an imported root whose subject has a postalCode rotates" 200 "$status"
check_eq "with that very subject" "$(openssl x509 -in odd.pem -noout -subject -nameopt RFC2253)" \
    "$(cert_text "$odd" >/dev/null; body .pem | openssl x509 -noout -subject -nameopt RFC2253)"

done_testing
