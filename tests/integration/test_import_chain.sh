#!/usr/bin/env bash
# An uploaded certificate is to come with its whole chain (SAP BTP's destination certificates:
# "an uploaded certificate file must contain the entire certificate chain").  certhub keeps
# what it is given, and says when the chain stops short of a root: a client sent the
# certificate could not verify it.  Said by the API (notes) and the CLI (on stderr); not said
# once the missing CA's certificate is held, nor for a chain sent whole.
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
done_testing
