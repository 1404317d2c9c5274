#!/usr/bin/env bash
# An uploaded certificate is to come with its whole chain (SAP BTP's destination certificates:
# "an uploaded certificate file must contain the entire certificate chain").  certhub keeps
# what it is given, and says when the chain stops short of a root: a client sent the
# certificate could not verify it.  Said by the API (notes) and the CLI (on stderr); not said
# once the missing CA's certificate is held, nor for a chain sent whole.  The same of a
# keystore's key entries uploaded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
leaf() { # NAME: a leaf certificate NAME.pem (key NAME.key) signed by the outside root
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "/CN=$1.example" \
        -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA root.pem -CAkey root.key -days 30 -out "$1.pem" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -subj "/CN=Outside Root/O=Example" \
    -days 60 -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem 2>/dev/null
leaf alone
leaf whole
leaf cli
leaf later

api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat alone.pem)" '{name:"alone",certificate:$c}')"
check_eq "a certificate without its chain is imported all the same" 201 "$status"
check_contains "and the answer says where its chain stops" "$(body '.notes[0]')" \
    'the chain ends at "O=Example,CN=Outside Root", whose certificate is neither in the file nor held here'

cat whole.pem root.pem >whole-chain.pem
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat whole-chain.pem)" '{name:"whole",certificate:$c}')"
check_eq "a certificate sent with its whole chain: no note" "201 null" "$status $(body .notes)"

api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat later.pem)" '{name:"later",certificate:$c}')"
check_eq "once the root is held (it came with the last one), a leaf alone is whole" "201 null" "$status $(body .notes)"

api POST /api/v1/certificates "$(jq -n '{name:"issued-here",subject:{common_name:"here.example"}}')"
check_eq "nor is anything said of a certificate certhub issues" "201 null" "$status $(body .notes)"

# The CLI: a certificate of a second outside root, alone, with its key.
mv root.pem root1.pem
mv root.key root1.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -subj "/CN=Second Root" \
    -days 60 -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem 2>/dev/null
leaf cli2
expect_exit 0 "cert import of a certificate without its chain succeeds" -- remote cert import cli2.pem --key cli2.key --name cli2
check_contains "and says on stderr where its chain stops" "$(cat "$T/stderr")" \
    'certhub: cert import: note: the chain ends at "CN=Second Root"'
check_contains "its stdout is the certificate's id still" "$(cat "$T/stdout")" crt_
openssl x509 -in cli2.pem -outform DER -out cli2.der
api DELETE "/api/v1/certificates/$(cat "$T/stdout")"
expect_exit 0 "the same, from a DER file sent as it is" -- remote cert import cli2.der --name cli2-der
check_contains "says the same" "$(cat "$T/stderr")" 'note: the chain ends at "CN=Second Root"'
cat cli.pem root1.pem >cli-chain.pem
expect_exit 0 "cert import of a whole chain" -- remote cert import cli-chain.pem --name cli
check_eq "says nothing" "" "$(cat "$T/stderr")"

# A keystore uploaded: its key entries are told of as a certificate imported is (the second
# root is held nowhere yet).
. "$(dirname "$0")/keytool.sh"
leaf ks1
leaf ks2
leaf ks3
leaf ks4
openssl pkcs12 -export -in ks1.pem -inkey ks1.key -name web -passout pass:pw -out ks1.p12
api POST "/api/v1/keystores?name=alone" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: pw" \
    --data-binary @ks1.p12
check_eq "a keystore whose key entry comes without its chain is uploaded all the same" 201 "$status"
check_eq "and the answer says where its chain stops, as a certificate import's" \
    'entry "web": the chain ends at "CN=Second Root", whose certificate is neither in the file nor held here: a client sent this certificate cannot verify it; import the whole chain (or that CA'"'"'s certificate)' \
    "$(body '.notes | join("|")')"
# Two key entries of the same CA, and a trusted entry (an anchor of itself): one note, naming both.
openssl pkcs12 -export -in ks2.pem -inkey ks2.key -name two -passout pass:pw -out ks2.p12
openssl pkcs12 -export -in ks3.pem -inkey ks3.key -name three -passout pass:pw -out ks3.p12
for f in ks2 ks3; do
    kt -importkeystore -srckeystore $f.p12 -srcstoretype PKCS12 -srcstorepass pw -destkeystore two.jks \
        -deststoretype JKS -deststorepass changeit -destkeypass changeit >/dev/null
done
kt -importcert -noprompt -keystore two.jks -storepass changeit -alias partner -file ks4.pem >/dev/null
api POST "/api/v1/keystores?name=two" "" -H "Content-Type: application/x-java-keystore" -H "Certhub-Password: changeit" \
    --data-binary @two.jks
check_eq "a JKS of two key entries of a CA held nowhere: one note naming both (in either order)" \
    '201 1 entries "three", "two": the chain ends at "CN=Second Root"' \
    "$status $(body '.notes | length') $(body '.notes[0] | sub("\"two\", \"three\""; "\"three\", \"two\"")' | cut -d, -f1-2)"
expect_exit 0 "keystore upload of a key entry without its chain succeeds" -- \
    remote keystore upload ks1.p12 --password-file <(echo pw) --name cli-ks
check_contains "and says on stderr where its chain stops, as cert import says it" "$(cat "$T/stderr")" \
    'certhub: keystore upload: note: entry "web": the chain ends at "CN=Second Root"'
check_contains "its stdout is the keystore's id still" "$(cat "$T/stdout")" kst_
openssl pkcs12 -export -in ks1.pem -inkey ks1.key -certfile root.pem -name web -passout pass:pw -out ks1-chain.p12
api POST "/api/v1/keystores?name=whole" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: pw" \
    --data-binary @ks1-chain.p12
check_eq "one with the whole chain: no note" "201 null" "$status $(body .notes)"
expect_exit 0 "once the root is held (it came with the last one), the same upload" -- \
    remote keystore upload ks1.p12 --password-file <(echo pw) --name cli-ks-again
check_eq "says nothing" "" "$(cat "$T/stderr")"

# One certificate and the CAs of its chain: the certificate is the key's, else the one that is
# not a CA wherever it stands; a second that is not a CA is refused, naming both (it was
# dropped without a word).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -subj "/CN=Third Root" \
    -days 60 -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem 2>/dev/null
leaf first
leaf second
leaf third
count() { api GET "/api/v1/certificates?limit=1000"; body '.items | length'; }
before=$(count)
cat root.pem first.pem >root-first.pem
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat root-first.pem)" '{name:"root-first",certificate:$c}')"
check_eq "a bundle that begins with its root: the leaf is the certificate, whole" "201 CN=first.example null" \
    "$status $(body .subject) $(body .notes)"
check_eq "(and the root is held)" $((before + 2)) "$(count)"
cat first.pem second.pem >two-leaves.pem
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat two-leaves.pem)" '{name:"two",certificate:$c}')"
check_eq "two leaves in one file: 400 naming the field" "400 certificate" "$status $(body .error.field)"
check_eq "naming both and what to do" \
    'the file holds "CN=second.example", a certificate that is not a CA, besides "CN=first.example": import each on its own (with its key), or upload the file as a keystore (POST /api/v1/keystores, certhub keystore upload) to keep them all' \
    "$(body .error.message)"
cat first.pem second.pem second.key >two-leaves-key.pem
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat two-leaves-key.pem)" '{name:"two",certificate:$c}')"
check_contains "the same with the second's key in the file" "$status $(body .error.message)" \
    '400 the file holds "CN=first.example", a certificate that is not a CA, besides "CN=second.example"'
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat two-leaves.pem)" --arg k "$(cat second.key)" \
    '{name:"two",certificate:$c,private_key:$k}')"
check_contains "and with its key given apart" "$status $(body .error.message)" \
    '400 the file holds "CN=first.example", a certificate that is not a CA, besides "CN=second.example"'
openssl pkcs12 -export -in second.pem -inkey second.key -certfile third.pem -name web -passout pass:pw -out extra.p12
api POST /api/v1/certificates/import "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: pw" \
    --data-binary @extra.p12
check_contains "and in a PKCS#12 file" "$status $(body .error.message)" \
    '400 the file holds "CN=third.example", a certificate that is not a CA, besides "CN=second.example"'
check_eq "none of them imported" $((before + 2)) "$(count)"
cat root.pem third.pem >root-first-3.pem
expect_exit 0 "a root-first bundle with the leaf's key apart, by the CLI" -- \
    remote cert import root-first-3.pem --key third.key --name third
api GET "/api/v1/certificates/$(cat "$T/stdout")"
check_eq "is the leaf with its key" "CN=third.example true" "$(body .subject) $(body .has_private_key)"
done_testing
