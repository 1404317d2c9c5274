#!/usr/bin/env bash
# Binary files (DER, PKCS#12, JKS) imported through JSON: "data", the file in standard base64,
# beside "certificate" (PEM text), for a certificate (POST /certificates/import, its preview
# too) and a CA (POST /cas, type import).  Base64 that is not standard, both fields, or a
# binary file's base64 put in "certificate" are refused naming the field and saying where the
# file goes.  And a CA held without its key gets it later: imported again with its key (PEM
# and --key, a PKCS#12 through the CLI, a JKS as data) it is the same CA under its own name,
# and signs (200, a note, audited ca.key_add); one that has its key stays a 409, and another
# tenant's CA of the same certificate is never touched.  A key given to the certificate of a CA
# held without one reaches the CA; a CA imported without its key takes the one its certificate
# is held with.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/keytool.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
C=("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem")
echo changeit > pw

api POST /api/v1/tenants '{"name":"other"}'
check_eq "another tenant" 201 "$status"
api POST /api/v1/tokens '{"tenant":"other","role":"admin","name":"other admin"}'
other=$(body .token)

sha256() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
# The outside PKI: a root, an issuing CA under it, and leaves signed by the root.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -subj "/CN=Data Root/O=Example" \
    -days 60 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out root.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout issuing.key -subj "/CN=Data Issuing CA" \
    -out issuing.csr 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
openssl x509 -req -in issuing.csr -CA root.pem -CAkey root.key -CAcreateserial -days 50 -extfile ca.ext \
    -out issuing.pem 2>/dev/null
leaf() { # NAME: NAME.pem (key NAME.key) signed by the root
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "/CN=$1.example" \
        -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA root.pem -CAkey root.key -CAcreateserial -days 30 -out "$1.pem" 2>/dev/null
}
leaf web
leaf app
leaf plain
leaf pem
openssl pkcs12 -export -in web.pem -inkey web.key -certfile root.pem -passout pass:changeit -out web.p12 2>/dev/null
openssl pkcs12 -export -in app.pem -inkey app.key -passout pass:changeit -out app.p12 2>/dev/null
kt -importkeystore -srckeystore app.p12 -srcstoretype PKCS12 -srcstorepass changeit -destkeystore app.jks \
    -deststoretype JKS -deststorepass changeit -destkeypass changeit >/dev/null
openssl x509 -in plain.pem -outform DER -out plain.der
[ "$(head -c 4 app.jks | od -An -tx1 | tr -d ' \n')" = feedfeed ] || fail "keytool did not write a JKS"
# base64 as base64(1) writes it: lines of 76 characters.
b64() { base64 "$1"; }

# ---- certificates as data

api POST /api/v1/certificates/import "$(jq -n --arg d "$(b64 web.p12)" '{name:"web", data:$d, password:"changeit"}')"
check_eq "a PKCS#12 as data (base64 in lines): imported with its key" "201 true web" \
    "$status $(body .has_private_key) $(body .name)"
check_eq "the certificate is the file's" "$(sha256 web.pem)" "$(body .sha256)"
web_id=$(body .id)
api POST /api/v1/certificates/import "$(jq -n --arg d "$(base64 -w 0 app.jks)" '{data:$d, password:"changeit"}')"
check_eq "a JKS as data (one line): imported with its key" "201 true $(sha256 app.pem)" \
    "$status $(body .has_private_key) $(body .sha256)"
# A file cut short (a download stopped part way) is said as such, as data or as the raw body.
head -c 200 plain.der > cut.der
api POST /api/v1/certificates/import "$(jq -n --arg d "$(b64 cut.der)" '{name:"cut", data:$d}')"
check_eq "a DER certificate cut short, as data: 400 naming data" "400 data" "$status $(body .error.field)"
check_contains "saying it is cut short" "$(body .error.message)" "cut short"
api POST /api/v1/certificates/import "" -H "Content-Type: application/pkix-cert" --data-binary @cut.der
check_eq "and as the raw body" 400 "$status"
check_contains "said so too" "$(body .error.message)" "cut short"
api POST /api/v1/certificates/import "$(jq -n --arg d "$(b64 plain.der)" '{name:"plain", data:$d, preview:true}')"
check_eq "a DER certificate as data, previewed" "200 true null CN=plain.example" \
    "$status $(body .preview) $(body .id) $(body .subject)"
api POST /api/v1/certificates/import "$(jq -n --arg d "$(b64 plain.der)" '{name:"plain", data:$d}')"
check_eq "the preview stored nothing: imported after it, without a key" "201 false $(sha256 plain.pem)" \
    "$status $(body .has_private_key) $(body .sha256)"
cat pem.pem pem.key > pem-bundle.pem
api POST /api/v1/certificates/import "$(jq -n --arg d "$(b64 pem-bundle.pem)" '{data:$d}')"
check_eq "PEM (a certificate and its key) as data too" "201 true" "$status $(body .has_private_key)"
api POST /api/v1/certificates/import "$(jq -n --arg d "$(b64 web.p12)" '{data:$d, password:"wrong"}')"
check_eq "a wrong password for data: 400 naming password" "400 password" "$status $(body .error.field)"

# Refused, naming the field: base64 that is not standard, both fields, data and a file.
api GET "/api/v1/certificates?limit=1000"
held=$(body '.items | length')
api POST /api/v1/certificates/import '{"data":"not base64!"}'
check_eq "base64 that is not: 400 naming data" "400 data" "$status $(body .error.field)"
check_contains "saying it must be standard base64 of the file" "$(body .error.message)" \
    "data must be the file in standard base64"
check_contains "and where it went wrong" "$(body .error.message)" "'!' (character 11) is not a base64 character"
api POST /api/v1/certificates/import '{"data":"MIL-_w=="}'
check_contains "base64url is told apart" "$(body .error.message)" "'-' (character 4) is base64url's"
d=$(base64 -w 0 web.p12)
api POST /api/v1/certificates/import "$(jq -n --arg d "${d:0:101}" '{data:$d, password:"changeit"}')"
check_eq "base64 cut short: 400 naming data" "400 data" "$status $(body .error.field)"
check_contains "(said so)" "$(body .error.message)" "cut short"
api POST /api/v1/certificates/import "$(jq -n --arg d "${d:0:100}" '{data:$d, password:"changeit"}')"
check_eq "whole groups of a file cut short: the file's error, naming data" "400 data" \
    "$status $(body .error.field)"
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat plain.pem)" --arg d "$(b64 plain.der)" \
    '{certificate:$c, data:$d}')"
check_eq "certificate and data both: 400 naming data" "400 data" "$status $(body .error.field)"
check_contains "(not both)" "$(body .error.message)" "not both"
api POST "/api/v1/certificates/import?data=QUJD" "" --data-binary @plain.der -H "Content-Type: application/pkix-cert"
check_eq "data beside a raw body: 400 naming data" "400 data" "$status $(body .error.field)"
api POST /api/v1/certificates/import '{"name":"nothing"}'
check_contains "no file at all: the message names data beside certificate" "$(body .error.message)" '"data" (the file in base64)'
api GET "/api/v1/certificates?limit=1000"
check_eq "none of those stored anything" "$held" "$(body '.items | length')"

# A binary file's base64 in "certificate" (PEM text only): told where it goes.
api POST /api/v1/certificates/import "$(jq -n --arg c "$(b64 web.p12)" '{certificate:$c, password:"changeit"}')"
check_eq "a PKCS#12's base64 in certificate: 400 naming certificate" "400 certificate" "$status $(body .error.field)"
check_contains "saying binary files go in data as base64" "$(body .error.message)" \
    'a binary file (DER, PKCS#12, JKS) goes in "data" as base64'
check_contains "beside what was wrong" "$(body .error.message)" "not an X.509 certificate in PEM or DER format"
check_contains "and what this one is" "$(body .error.message)" "reads as base64 of a PKCS#12 (.pfx/.p12) file"
check_contains "or the request body" "$(body .error.message)" "request body"
api POST /api/v1/certificates/import "$(jq -n --arg c "$(b64 app.jks)" '{certificate:$c, preview:true}')"
check_contains "a preview says so too" "$(body .error.message)" "reads as base64 of a JKS keystore file"
api POST /api/v1/certificates/import '{"certificate":"hello"}'
check_contains "text that is no base64 either: told where binary files go" "$(body .error.message)" \
    'goes in "data" as base64'

# ---- CAs as data

api POST /api/v1/cas "$(jq -n --arg d "$(b64 web.p12)" '{name:"x", type:"import", data:$d, password:"changeit"}')"
check_eq "a CA import of a leaf as data: refused as a leaf is, naming data" "422 data" "$status $(body .error.field)"
openssl x509 -in root.pem -outform DER -out root.der
api POST /api/v1/cas "$(jq -n --arg d "$(b64 root.der)" '{name:"root-nokey", type:"import", data:$d}')"
check_eq "a root CA's certificate in DER as data: a CA without its key" "201 false" "$status $(body .can_sign)"
root_id=$(body .id)
openssl pkcs12 -export -in issuing.pem -inkey issuing.key -certfile root.pem -passout pass:changeit \
    -out issuing.p12 2>/dev/null
api POST /api/v1/cas "$(jq -n --arg d "$(b64 issuing.p12)" '{name:"issuing", type:"import", data:$d, password:"changeit"}')"
check_eq "an issuing CA in a PKCS#12 as data: with its key, under its root" "201 true $root_id" \
    "$status $(body .can_sign) $(body .parent_id)"
issuing_id=$(body .id)
api POST /api/v1/cas "$(jq -n --arg c "$(cat root.pem)" --arg d "$(b64 root.der)" '{name:"y", type:"import", certificate:$c, data:$d}')"
check_eq "a CA import with certificate and data: 400 naming data" "400 data" "$status $(body .error.field)"
api POST /api/v1/cas '{"name":"y","type":"import","data":"QUJD\nRA"}'
check_eq "bad base64: 400 naming data" "400 data" "$status $(body .error.field)"
check_contains "saying it must be standard base64" "$(body .error.message)" "data must be the file in standard base64"
api POST /api/v1/cas "$(jq -n --arg c "$(b64 root.der)" '{name:"y", type:"import", certificate:$c}')"
check_eq "a DER certificate's base64 in certificate: 400 naming certificate" "400 certificate" \
    "$status $(body .error.field)"
check_contains "saying it goes in data" "$(body .error.message)" \
    'goes in "data" as base64 (this one reads as base64 of a DER certificate'
api POST /api/v1/cas '{"name":"y","type":"import"}'
check_contains "no certificate at all: data is named beside certificate" "$(body .error.message)" '"data" (the file in base64'

# ---- a CA held without its key gets it later

# The other tenant holds the same root, without its key.
TOKEN=$other api POST /api/v1/cas "$(jq -n --arg c "$(cat root.pem)" '{name:"their root", type:"import", certificate:$c}')"
check_eq "the other tenant's CA of the root, without its key" "201 false" "$status $(body .can_sign)"
their_root=$(body .id)

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out wrong.key 2>/dev/null
expect_error "a key that is not the CA's: refused" "the private key does not belong to the certificate" -- \
    "${C[@]}" ca import root.pem --key wrong.key --name root
api GET "/api/v1/cas/$root_id"
check_eq "and the CA still cannot sign" false "$(body .can_sign)"
api POST /api/v1/cas "$(jq -n --arg d "$(b64 root.der)" '{name:"again", type:"import", data:$d}')"
check_eq "imported again without its key: still a 409" 409 "$status"
check_contains "which says how to add the key" "$(body .error.message)" "import it again with its key"

# The user's way: the certificate alone first, then the PKCS#12 with its key.
openssl pkcs12 -export -in root.pem -inkey root.key -passout pass:changeit -out root.p12 2>/dev/null
expect_exit 0 "ca import of the PKCS#12 of a CA held without its key" -- \
    "${C[@]}" ca import root.p12 --password-file pw --name root
check_eq "it prints the CA held's id" "$root_id" "$(cat "$T/stdout")"
check_contains "and notes the key added" "$(cat "$T/stderr")" \
    "certhub: ca import: note: CA \"root-nokey\" ($root_id) was held without its private key: the key is added to it"
check_contains "under its own name, not --name's" "$(cat "$T/stderr")" \
    "it keeps its name (the name given, \"root\", is not used"
api GET "/api/v1/cas/$root_id"
check_eq "the CA signs now, its name and certificate kept" "true root-nokey $(sha256 root.pem)" \
    "$(body .can_sign) $(body .name) $(body .sha256)"
root_cert=$(body .certificate_id)
api GET "/api/v1/cas?limit=1000"
check_eq "no second CA of the root" 1 "$(body "[.items[] | select(.sha256 == \"$(sha256 root.pem)\")] | length")"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"late.example\"},\"sans\":[\"dns:late.example\"],\"ca_id\":\"$root_id\",\"days\":5}"
check_eq "it issues" "201 $root_id" "$status $(body .ca_id)"
body .pem > late.pem
if openssl verify -CAfile root.pem late.pem >/dev/null 2>&1; then
    ok "what it issued verifies with the outside root (openssl verify)"
else
    fail "the leaf does not verify: $(openssl verify -CAfile root.pem late.pem 2>&1)"
fi
api GET "/api/v1/certificates/$root_cert"
check_eq "its certificate in the inventory has the key too" true "$(body .has_private_key)"
api GET "/api/v1/audit?action=ca.key_add&limit=100"
check_eq "audited once as ca.key_add, naming its certificate" "1 $root_cert" \
    "$(body "[.items[] | select(.object_id == \"$root_id\") | .detail | if type == \"string\" then fromjson else . end]
             | \"\(length) \(.[0].certificate_id)\"")"

# Held with its key now: a 409 as before, by the CLI and by the API.
expect_error "the PKCS#12 again: already a CA" "this certificate is CA \"root-nokey\" ($root_id) already" -- \
    "${C[@]}" ca import root.p12 --password-file pw --name root
api POST /api/v1/cas "$(jq -n --arg d "$(b64 root.p12)" '{name:"root", type:"import", data:$d, password:"changeit"}')"
check_eq "and through the API: 409" 409 "$status"
check_eq "(nothing said of a key to add)" false "$(body '.error.message | contains("without its private key")')"

# The other tenant's CA of the root was not touched, nor can it see this tenant's.
TOKEN=$other api GET "/api/v1/cas/$their_root"
check_eq "the other tenant's CA still cannot sign" "200 false" "$status $(body .can_sign)"
TOKEN=$other api GET "/api/v1/cas/$root_id"
check_eq "and this tenant's CA is not found there" 404 "$status"
TOKEN=$other api POST /api/v1/cas "$(jq -n --arg c "$(cat root.pem)" --arg k "$(cat root.key)" \
    '{name:"their root", type:"import", certificate:$c, private_key:$k}')"
check_eq "the other tenant adds the key to its own (PEM certificate and private_key): 200, its CA" \
    "200 $their_root true" "$status $(body .id) $(body .can_sign)"
check_eq "(no note of a name: the one given is its own)" 1 "$(body '.notes | length')"
TOKEN=$other api GET "/api/v1/audit?action=ca.key_add&limit=100"
check_eq "audited in its tenant, of its CA" "$their_root" "$(body '[.items[].object_id] | join(" ")')"

# A JKS as data gives the key to another CA held without it.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout second.key -subj "/CN=Data Second CA" \
    -out second.csr 2>/dev/null
openssl x509 -req -in second.csr -CA root.pem -CAkey root.key -CAcreateserial -days 50 -extfile ca.ext \
    -out second.pem 2>/dev/null
second_id=$("${C[@]}" ca import second.pem --name second)
openssl pkcs12 -export -in second.pem -inkey second.key -passout pass:changeit -out second.p12 2>/dev/null
kt -importkeystore -srckeystore second.p12 -srcstoretype PKCS12 -srcstorepass changeit -destkeystore second.jks \
    -deststoretype JKS -deststorepass changeit -destkeypass changeit >/dev/null
api POST /api/v1/cas "$(jq -n --arg d "$(b64 second.jks)" '{name:"second", type:"import", data:$d, password:"changeit"}')"
check_eq "a JKS as data adds the key to a CA held without it" "200 $second_id true $root_id" \
    "$status $(body .id) $(body .can_sign) $(body .parent_id)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"second.example\"},\"sans\":[\"dns:second.example\"],\"ca_id\":\"$second_id\",\"days\":5}"
body .pem > second-leaf.pem
if openssl verify -CAfile root.pem -untrusted second.pem second-leaf.pem >/dev/null 2>&1; then
    ok "it issues, and its leaf verifies up to the root"
else
    fail "the leaf of the second CA does not verify: $status $(cat "$T/body")"
fi

# A CA held without its key whose certificate is given its key by a certificate import (the
# key file beside the certificate): the CA signs with it too, audited as ca.key_add.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout third.key -subj "/CN=Data Third CA" \
    -out third.csr 2>/dev/null
openssl x509 -req -in third.csr -CA root.pem -CAkey root.key -CAcreateserial -days 50 -extfile ca.ext \
    -out third.pem 2>/dev/null
third_id=$("${C[@]}" ca import third.pem --name third)
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat third.pem)" --arg k "$(cat third.key)" \
    '{certificate:$c, private_key:$k}')"
check_eq "a certificate import gives the key to the certificate of a CA held without it" "200 true" \
    "$status $(body .has_private_key)"
api GET "/api/v1/cas/$third_id"
check_eq "and the CA signs with it" "200 true" "$status $(body .can_sign)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"third.example\"},\"sans\":[\"dns:third.example\"],\"ca_id\":\"$third_id\",\"days\":5}"
body .pem > third-leaf.pem
if openssl verify -CAfile root.pem -untrusted third.pem third-leaf.pem >/dev/null 2>&1; then
    ok "it issues, and its leaf verifies up to the root"
else
    fail "the leaf of the third CA does not verify: $status $(cat "$T/body")"
fi
api GET "/api/v1/audit?action=ca.key_add&limit=100"
check_eq "audited as ca.key_add of that CA, by the certificate's import" "certificate.key_add" \
    "$(body "[.items[] | select(.object_id == \"$third_id\") | .detail | if type == \"string\" then fromjson else . end | .by] | .[0]")"

# The other way round: a CA certificate held as a certificate with its key, then imported as a
# CA without it: the CA takes the key held, and signs.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fourth.key -subj "/CN=Data Fourth CA" \
    -out fourth.csr 2>/dev/null
openssl x509 -req -in fourth.csr -CA root.pem -CAkey root.key -CAcreateserial -days 50 -extfile ca.ext \
    -out fourth.pem 2>/dev/null
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat fourth.pem)" --arg k "$(cat fourth.key)" \
    '{certificate:$c, private_key:$k}')"
check_eq "a CA's certificate held with its key" "201 true" "$status $(body .has_private_key)"
api POST /api/v1/cas "$(jq -n --arg c "$(cat fourth.pem)" '{name:"fourth", type:"import", certificate:$c}')"
check_eq "imported as a CA without its key: it takes the key held" "201 true" "$status $(body .can_sign)"
fourth_id=$(body .id)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"fourth.example\"},\"sans\":[\"dns:fourth.example\"],\"ca_id\":\"$fourth_id\",\"days\":5}"
body .pem > fourth-leaf.pem
if openssl verify -CAfile root.pem -untrusted fourth.pem fourth-leaf.pem >/dev/null 2>&1; then
    ok "it issues, and its leaf verifies up to the root"
else
    fail "the leaf of the fourth CA does not verify: $status $(cat "$T/body")"
fi
api GET "/api/v1/audit?action=ca.import&limit=100"
check_eq "its ca.import entry says the key was the certificate's" true \
    "$(body "[.items[] | select(.object_id == \"$fourth_id\") | .detail | if type == \"string\" then fromjson else . end | .key_from_certificate] | .[0]")"

# ---- keystore upload: base64 in lines, as base64(1) writes it
api POST /api/v1/keystores "$(jq -n --arg d "$(b64 web.p12)" '{name:"web store", data:$d, password:"changeit"}')"
check_eq "a keystore upload takes base64 in lines" "201 p12" "$status $(body .format)"
api POST /api/v1/keystores '{"name":"bad","data":"QUJD=QQ"}'
check_eq "and refuses base64 that is not, naming data" "400 data" "$status $(body .error.field)"
check_contains "(saying so)" "$(body .error.message)" "standard base64"

# A CSR or a key given where a certificate goes: said as what it is (it was "no BEGIN
# CERTIFICATE block found").
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout req.key -subj /CN=req.example \
    -out req.csr 2>/dev/null
expect_error "cert import of a CSR says it is one" "certificate signing request (CSR)" -- "${C[@]}" cert import req.csr
api POST /api/v1/keystores "$(jq -n --arg d "$(base64 -w0 req.key)" '{name:"key-alone", data:$d}')"
check_eq "a keystore upload of a key alone: 400" 400 "$status"
check_contains "saying it holds a private key alone" "$(body .error.message)" "a private key alone"

done_testing
