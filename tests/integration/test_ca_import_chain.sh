#!/usr/bin/env bash
# A CA imported from a file that holds its chain (an outside CA's answer to a CSR with the
# root after it, an issuing CA's PEM bundle, a PKCS#12 with its root): every CA certificate
# of the file becomes a CA of the tenant, joined to its issuer, so that the CA's chain and
# what it issues go up to the root and the trust bundle holds that root.  A refusal stores
# none of them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
C=("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem")
outside_ca
cas_named() { api GET "/api/v1/cas?limit=100"; body "[.items[] | select(.name == \"$1\") | .id] | join(\" \")"; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }

# ---- a refusal (the key is another's) stores nothing of the chain
cat corp-issuing.pem corp-root.pem > issuing-chain.pem
openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null
api POST /api/v1/cas "$(jq -n --rawfile c issuing-chain.pem --rawfile k other.key \
    '{name:"corp issuing", type:"import", certificate:$c, private_key:$k}')"
check_eq "a chain with a key that is not the CA's: 400 on private_key" "400 private_key" "$status $(body .error.field)"
check_eq "and its root is no CA here" "" "$(cas_named "Corp Root")"

# ---- the issuing CA with its key, its root after it (as a PKI's PEM bundle is)
api POST /api/v1/cas "$(jq -n --rawfile c issuing-chain.pem --rawfile k corp-issuing.key \
    '{name:"corp issuing", type:"import", certificate:$c, private_key:$k}')"
check_eq "the CA is imported with its key" "201 true" "$status $(body .can_sign)"
issuing=$(body .id)
parent=$(body .parent_id)
notes=$(body '.notes | join(" ")')
root=$(cas_named "Corp Root")
check_eq "its root became a CA, named after its CN" "$parent" "$root"
check_contains "the answer says so, naming it" "$notes" "imported as a CA without its key: \"Corp Root\" ($root)"
api GET "/api/v1/cas/$root"
check_eq "the root: no key, no parent, the file's certificate" "false null $(fp corp-root.pem)" \
    "$(body .can_sign) $(body .parent_id) $(body .sha256)"
api GET "/api/v1/audit?action=ca.import&limit=10"
check_eq "both imports audited" 2 "$(body '[.items[] | select(.object_id == "'"$issuing"'" or .object_id == "'"$root"'")] | length')"

api GET "/api/v1/cas/$issuing/chain"
check_eq "the CA's chain goes up to the root" "CN = Corp Issuing,CN = Corp Root" \
    "$(openssl crl2pkcs7 -nocrl -certfile "$T/body" | openssl pkcs7 -print_certs -noout | sed -n 's/^subject=//p' | paste -sd,)"

api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"app.corp.example\"},\"sans\":[\"dns:app.corp.example\"],\"ca_id\":\"$issuing\",\"days\":30}"
check_eq "it issues" 201 "$status"
cert=$(body .id)
api GET "/api/v1/certificates/$cert/export?format=pem"
cp "$T/body" app-chain.pem
check_eq "an issued certificate's export carries the root too" 3 "$(grep -c 'BEGIN CERTIFICATE' app-chain.pem)"
openssl x509 -in app-chain.pem -out app.pem
openssl verify -CAfile corp-root.pem -untrusted corp-issuing.pem app.pem >/dev/null || fail "app.pem does not verify"
"${C[@]}" ca bundle --out bundle.pem
openssl verify -CAfile bundle.pem -untrusted corp-issuing.pem app.pem >/dev/null ||
    fail "the trust bundle does not hold the root the issuing CA came with"
ok "the trust bundle verifies it: the root came with the issuing CA"

# ---- the same root in another file: the CA held is used, none made twice
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout second.key -subj "/CN=Corp Second" \
    -out second.csr 2>/dev/null
openssl x509 -req -in second.csr -CA corp-root.pem -CAkey corp-root.key -CAcreateserial -days 1000 \
    -extfile corp-ca.ext -out second.pem 2>/dev/null
cat second.pem corp-root.pem > second-chain.pem
expect_exit 0 "certhub ca import of a chain file" -- "${C[@]}" ca import second-chain.pem --key second.key --name "corp second"
second=$(cat "$T/stdout")
check_contains "the CLI says the root was a CA here already" "$(cat "$T/stderr")" "1 was held here already"
api GET "/api/v1/cas/$second"
check_eq "joined to the root held" "$root" "$(body .parent_id)"
check_eq "one CA of the root still" "$root" "$(cas_named "Corp Root")"

# ---- a bundle whose root comes first, no key: the root is the CA asked for, the
# intermediate after it a CA under it
mkdir -p b && (cd b && outside_ca)
cat b/corp-root.pem b/corp-issuing.pem > b/root-first.pem
api POST /api/v1/cas "$(jq -n --rawfile c b/root-first.pem '{name:"b root", type:"import", certificate:$c}')"
check_eq "a root-first bundle: the root is the CA" "201 null $(fp b/corp-root.pem)" "$status $(body .parent_id) $(body .sha256)"
b_root=$(body .id)
check_contains "its note names the intermediate made a CA" "$(body '.notes | join(" ")')" "\"Corp Issuing\" (ca_"
b_int=$(body '.notes[0]' | sed -n 's/.*"Corp Issuing" (\(ca_[^)]*\)).*/\1/p')
api GET "/api/v1/cas/$b_int"
check_eq "the intermediate is under the root" "$b_root $(fp b/corp-issuing.pem)" "$(body .parent_id) $(body .sha256)"

# ---- a CSR made here, signed by the outside CA, brought back with its chain
csr=$("${C[@]}" csr new --name "edge" --subject "CN=Edge Issuing CA" --out edge.csr)
openssl x509 -req -in edge.csr -CA b/corp-issuing.pem -CAkey b/corp-issuing.key -CAcreateserial -days 500 \
    -extfile corp-ca.ext -out edge.pem 2>/dev/null
cat edge.pem b/corp-issuing.pem b/corp-root.pem > edge-full.pem
expect_exit 0 "ca import --csr-id of the signed certificate with its chain" -- \
    "${C[@]}" ca import edge-full.pem --csr-id "$csr" --name "edge"
edge=$(cat "$T/stdout")
check_contains "both CAs above it were held already" "$(cat "$T/stderr")" "2 were held here already"
api GET "/api/v1/cas/$edge"
check_eq "the CA signs with the CSR's key, under the intermediate" "true $b_int" "$(body .can_sign) $(body .parent_id)"
api GET "/api/v1/cas/$edge/chain"
check_eq "its chain: itself, the intermediate, the root" 3 "$(grep -c 'BEGIN CERTIFICATE' "$T/body")"

# ---- a PKCS#12 of another PKI with its root: the root becomes a CA as well
mkdir -p c && (cd c && outside_ca)
openssl pkcs12 -export -in c/corp-issuing.pem -inkey c/corp-issuing.key -certfile c/corp-root.pem \
    -passout pass:changeit -out c/issuing.p12 2>/dev/null
echo changeit > pw
c_id=$("${C[@]}" ca import c/issuing.p12 --password-file pw --name "c issuing")
api GET "/api/v1/cas/$c_id"
c_parent=$(body .parent_id)
api GET "/api/v1/cas/$c_parent"
check_eq "a PKCS#12's root is the parent CA" "$(fp c/corp-root.pem) false" "$(body .sha256) $(body .can_sign)"

# ---- what a chain file may hold: each certificate once (repeats are no more certificates),
# at most 16 (more is refused, not cut short: its root was lost), none outside the CA's chain
# (an unrelated root in the bundle became a trust anchor of the tenant)
mkdir -p deep && (
    cd deep
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout d0.key -subj "/CN=Deep 0" -days 100 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out d0.pem 2>/dev/null
    for i in $(seq 1 18); do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "d$i.key" -subj "/CN=Deep $i" \
            -out "d$i.csr" 2>/dev/null
        openssl x509 -req -in "d$i.csr" -CA "d$((i - 1)).pem" -CAkey "d$((i - 1)).key" -CAcreateserial -days 90 \
            -extfile ../corp-ca.ext -out "d$i.pem" 2>/dev/null
    done
)
for i in $(seq 18 -1 0); do cat "deep/d$i.pem"; done > deep/all.pem
api POST /api/v1/cas "$(jq -n --rawfile c deep/all.pem --rawfile k deep/d18.key '{name:"deep", type:"import", certificate:$c, private_key:$k}')"
check_eq "a chain of 19: refused, saying at most 16" "400 certificate" "$status $(body .error.field)"
check_contains "(the limit named)" "$(body .error.message)" "at most 16"
check_eq "and none of it stored" "" "$(cas_named "Deep 0")$(cas_named deep)"
{ cat deep/d2.pem; for i in $(seq 1 30); do cat deep/d1.pem; done; cat deep/d0.pem; } > deep/repeats.pem
api POST /api/v1/cas "$(jq -n --rawfile c deep/repeats.pem --rawfile k deep/d2.key '{name:"deep 2", type:"import", certificate:$c, private_key:$k}')"
check_eq "a certificate repeated 30 times is one: imported with the root" "201 2" \
    "$status $(api GET "/api/v1/cas/$(body .id)/chain"; grep -c 'BEGIN CERTIFICATE' "$T/body" | awk '{print $1 - 1}')"
check_contains "(the root is a CA)" "$(cas_named "Deep 0")" "ca_"
mkdir -p u && (cd u && outside_ca)
cat u/corp-issuing.pem u/corp-root.pem b/corp-root.pem > unrelated.pem
api POST /api/v1/cas "$(jq -n --rawfile c unrelated.pem '{name:"unrelated", type:"import", certificate:$c}')"
check_eq "a bundle with a root outside the CA's chain: 400" "400 certificate" "$status $(body .error.field)"
check_contains "naming it" "$(body .error.message)" "neither issued the CA nor was issued by it"
check_eq "and no CA made" "" "$(cas_named unrelated)"

# ---- the root first and the key apart: the certificate is the key's, the rest its chain
mkdir -p e && (cd e && outside_ca)
cat e/corp-root.pem e/corp-issuing.pem > e/root-first.pem
api POST /api/v1/cas "$(jq -n --rawfile c e/root-first.pem --rawfile k e/corp-issuing.key '{name:"e issuing", type:"import", certificate:$c, private_key:$k}')"
check_eq "root first, the issuing CA's key apart: the issuing CA, with its key" "201 true $(fp e/corp-issuing.pem)" \
    "$status $(body .can_sign) $(body .sha256)"
check_contains "its root a CA too" "$(body '.notes | join(" ")')" "imported as a CA without its key"

# ---- a refusal inside the transaction (the name taken) leaves none of the chain behind
mkdir -p g && (cd g && outside_ca)
cat g/corp-issuing.pem g/corp-root.pem > g/chain.pem
api POST /api/v1/cas "$(jq -n --rawfile c g/chain.pem --rawfile k g/corp-issuing.key '{name:"corp issuing", type:"import", certificate:$c, private_key:$k}')"
check_eq "a chain whose CA's name is taken: 409" 409 "$status"
api GET "/api/v1/cas?limit=100"
check_eq "and its root was not made a CA" 0 "$(body "[.items[] | select(.sha256 == \"$(fp g/corp-root.pem)\")] | length")"

# ---- a rotated CA's old certificate in a chain: held here with its key, not made a CA again
# (which would sign with the retired key while the note said it had none)
api POST /api/v1/cas '{"name":"rot-root","subject":{"common_name":"Rot Root"},"days":100}'
rot=$(body .id) rot_old=$(body .certificate_id)
api POST /api/v1/cas "{\"name\":\"rot-sub\",\"type\":\"intermediate\",\"parent_id\":\"$rot\",\"subject\":{\"common_name\":\"Rot Sub\"},\"days\":50}"
sub=$(body .id) sub_cert=$(body .certificate_id)
api POST "/api/v1/cas/$rot/rotate"
api DELETE "/api/v1/cas/$sub?force=true"
{ api GET "/api/v1/certificates/$sub_cert"; body .pem; api GET "/api/v1/certificates/$rot_old"; body .pem; } > rot-chain.pem
api POST /api/v1/cas "$(jq -n --rawfile c rot-chain.pem '{name:"rot sub again", type:"import", certificate:$c}')"
check_eq "the deleted intermediate imported again with its root's old certificate" 201 "$status"
check_contains "that certificate said held, not made a CA" "$(body '.notes | join(" ")')" "1 was held here already"
api GET "/api/v1/cas?limit=100"
check_eq "one CA of Rot Root still, signing with its new key" "1" \
    "$(body '[.items[] | select(.subject == "CN=Rot Root")] | length')"

# ---- a CA certificate whose Key Usage lacks keyCertSign signs nothing: not a CA here (it was
# listed as one that signs, and each issuance failed)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout noks.key -subj "/CN=No Cert Sign" \
    -days 30 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,digitalSignature,cRLSign" \
    -out noks.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --rawfile c noks.pem --rawfile k noks.key '{name:"noks", type:"import", certificate:$c, private_key:$k}')"
check_eq "a CA certificate without keyCertSign: 422 on certificate" "422 certificate" "$status $(body .error.field)"
check_contains "saying why" "$(body .error.message)" "lacks keyCertSign"
check_eq "and no CA was made" "" "$(cas_named noks)"

stop_daemon
done_testing
