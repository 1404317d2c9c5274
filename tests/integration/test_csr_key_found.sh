#!/usr/bin/env bash
# A certificate an outside CA (openssl) signed for a CSR made on the server, brought back
# without naming the CSR: imported as a CA (certhub ca import without --csr-id, POST /cas) or
# as a certificate (certhub cert import, POST /certificates/import), it takes the key the
# server holds for that CSR, as naming the CSR would have: the CA signs, the CSR is linked to
# its certificate, and the answer, the CLI and the audit log say which CSR.  Another tenant's
# CSR is never taken, nor one signed already.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
C=("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem")

# The outside CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout outside.key -subj "/CN=Outside Root" \
    -days 60 -out outside.pem 2>/dev/null
printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
printf 'basicConstraints=CA:false\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:web.example\n' > web.ext
sign() { # CSR OUT EXTFILE
    openssl x509 -req -in "$1" -CA outside.pem -CAkey outside.key -CAcreateserial -days 30 -extfile "$3" \
        -out "$2" 2>/dev/null
}

# Another tenant, which must never get this tenant's keys.
api POST /api/v1/tenants '{"name":"other"}'
check_eq "another tenant" 201 "$status"
api POST /api/v1/tokens '{"tenant":"other","role":"admin","name":"other admin"}'
other=$(body .token)

# ---- an intermediate CA
csr=$("${C[@]}" csr new --name "edge issuing" --subject "CN=Edge Issuing CA,O=Acme" --out edge.csr)
check_contains "the CSR made on the server" "$csr" "csr_"
sign edge.csr edge.pem ca.ext

TOKEN=$other api POST /api/v1/cas "$(jq -n --arg c "$(cat edge.pem)" '{name:"edge", type:"import", certificate:$c}')"
check_eq "the other tenant imports it: without a key (the CSR is not its)" "201 false null" \
    "$status $(body .can_sign) $(body .key_from_csr)"
api GET "/api/v1/csrs/$csr"
check_eq "and the CSR still waits" null "$(body .certificate_id)"

expect_exit 0 "ca import without --csr-id" -- "${C[@]}" ca import edge.pem --name "edge issuing"
edge=$(cat "$T/stdout")
check_contains "it prints the CA's id" "$edge" "ca_"
check_contains "and says whose key it took" "$(cat "$T/stderr")" "its key is that of CSR $csr"
api GET "/api/v1/cas/$edge"
check_eq "the CA signs" true "$(body .can_sign)"
edge_cert=$(body .certificate_id)
api GET "/api/v1/csrs/$csr"
check_eq "the CSR has it as its certificate" "$edge_cert" "$(body .certificate_id)"
api GET "/api/v1/certificates/$edge_cert"
check_eq "stored as a certificate signed for a CSR here" "csr_signed true" "$(body .method) $(body .has_private_key)"
api GET "/api/v1/audit?action=ca.import&limit=1000"
check_eq "the audit entry names the CSR" "$csr" \
    "$(body "[.items[] | select(.object_id == \"$edge\") | .detail | if type == \"string\" then fromjson else . end | .key_from_csr] | .[0]")"

api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"gw.edge.example\"},\"sans\":[\"dns:gw.edge.example\"],\"ca_id\":\"$edge\",\"days\":10}"
check_eq "it issues" 201 "$status"
body .pem > gw.pem
if openssl verify -CAfile outside.pem -untrusted edge.pem gw.pem >/dev/null 2>&1; then
    ok "its leaf verifies up to the outside root (openssl verify)"
else
    fail "the leaf does not chain to the outside root: $(openssl verify -CAfile outside.pem -untrusted edge.pem gw.pem 2>&1)"
fi

# The same CSR signed again: its CSR is signed already, the second certificate gets no key.
sign edge.csr edge2.pem ca.ext
api POST /api/v1/cas "$(jq -n --arg c "$(cat edge2.pem)" '{name:"edge again", type:"import", certificate:$c}')"
check_eq "a CSR signed already is not taken again" "201 false null" "$status $(body .can_sign) $(body .key_from_csr)"
# A CA imported with its key: nothing is looked up.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout own.key -subj "/CN=Own CA" -days 30 \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" -out own.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --arg c "$(cat own.pem)" --arg k "$(cat own.key)" '{name:"own", type:"import", certificate:$c, private_key:$k}')"
check_eq "a CA with its key given: as before" "201 true null" "$status $(body .can_sign) $(body .key_from_csr)"

# ---- a certificate
web=$("${C[@]}" csr new --name "web" --subject "CN=web.example" --san dns:web.example --out web.csr)
sign web.csr web.pem web.ext
TOKEN=$other api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat web.pem)" '{certificate:$c}')"
check_eq "the other tenant imports it: without a key" "201 false null" \
    "$status $(body .has_private_key) $(body .key_from_csr)"
expect_exit 0 "cert import of it" -- "${C[@]}" cert import web.pem
id=$(cat "$T/stdout")
check_contains "says whose key it took" "$(cat "$T/stderr")" "CSR $web"
api GET "/api/v1/certificates/$id"
check_eq "stored with the CSR's key, named as the CSR (its file's name, web.pem, is what the CLI falls back on)" \
    "csr_signed true web" "$(body .method) $(body .has_private_key) $(body .name)"
api GET "/api/v1/csrs/$web"
check_eq "the CSR has it as its certificate" "$id" "$(body .certificate_id)"
echo changeit > pw
"${C[@]}" cert export "$id" --format p12 --password-file pw --out web.p12 >/dev/null
check_eq "its key goes out with it, the one of the CSR" "$(openssl x509 -in web.pem -noout -pubkey)" \
    "$(openssl pkcs12 -in web.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
api GET "/api/v1/audit?action=certificate.import&limit=1000"
check_eq "the audit entry names the CSR" "$web" \
    "$(body "[.items[] | select(.object_id == \"$id\") | .detail | if type == \"string\" then fromjson else . end | .key_from_csr] | .[0]")"

# Through the API, previewed first.
api3=$("${C[@]}" csr new --subject "CN=api.example" --out api.csr)
sign api.csr api.pem web.ext
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat api.pem)" '{certificate:$c, preview:true}')"
check_eq "the preview says the CSR's key would be taken" "200 true $api3" \
    "$status $(body .has_private_key) $(body .key_from_csr)"
check_contains "(and a note)" "$(body '.notes | join(" ")')" "$api3"
api GET "/api/v1/csrs/$api3"
check_eq "the preview takes nothing" null "$(body .certificate_id)"
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat api.pem)" '{name:"api", certificate:$c}')"
check_eq "the import takes it" "201 true $api3 api" \
    "$status $(body .has_private_key) $(body .key_from_csr) $(body .name)"
check_contains "and notes it" "$(body '.notes | join(" ")')" "$api3"

# A folder of certificates: the file whose key is a CSR's is said, and so in --output json.
folder=$("${C[@]}" csr new --subject "CN=folder.example" --out folder.csr)
mkdir in
sign folder.csr in/folder.pem web.ext
cp own.pem in/
expect_exit 0 "cert import of a folder" -- "${C[@]}" --output json cert import in
check_eq "the file that took a CSR's key, with its CSR" "in/folder.pem $folder" \
    "$(jq -r '.files[] | select(.key_from_csr != null) | "\(.file) \(.key_from_csr)"' "$T/stdout")"
check_contains "and said on stderr" "$(cat "$T/stderr")" "CSR $folder"
api GET "/api/v1/csrs/$folder"
check_eq "that CSR has its certificate" "$(jq -r '.files[] | select(.key_from_csr != null) | .id' "$T/stdout")" \
    "$(body .certificate_id)"
# A form's file, as the console sends it: the CSR's name too, and a name given wins.
formed=$("${C[@]}" csr new --name "formed csr" --subject "CN=formed.example" --out formed.csr)
sign formed.csr formed.pem web.ext
api POST /api/v1/certificates/import "" -F "file=@formed.pem"
check_eq "a multipart import for a CSR: named as the CSR, not after the form's file" "201 formed csr" \
    "$status $(body .name)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=plain.example" \
    -days 5 -out plain.pem 2>/dev/null
plain=$("${C[@]}" cert import plain.pem)
api GET "/api/v1/certificates/$plain"
check_eq "a certificate of no CSR is named after its file, by the CLI" "plain.pem" "$(body .name)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=form.example" \
    -days 5 -out form.pem 2>/dev/null
api POST /api/v1/certificates/import "" -F "file=@form.pem"
check_eq "and by a form" "201 form.pem" "$status $(body .name)"

done_testing
