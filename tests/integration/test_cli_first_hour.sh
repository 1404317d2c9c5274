#!/usr/bin/env bash
# The mistakes of a first hour with the CLI as a client of certhubd, each said as what is
# wrong and what is taken: the wrong file as the token or as the CA file, the API's base URL
# given as the server.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

start_daemon
url="https://localhost:$port"
remote() { "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }

# The token: the console password beside it, a certificate, an empty file.
expect_error "the console password given as the token" \
    "$data/admin-password does not hold an API token: a token is one line beginning cht_" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-password" --ca-file "$data/ca.pem" ca list
expect_error "a certificate given as the token" "ca.pem does not hold an API token" -- \
    "$CERTHUB" --server "$url" --token-file "$data/ca.pem" --ca-file "$data/ca.pem" ca list
: > empty.token
expect_error "an empty token file" "empty.token does not hold an API token" -- \
    "$CERTHUB" --server "$url" --token-file empty.token --ca-file "$data/ca.pem" ca list
expect_error "CERTHUB_TOKEN holding something else" "CERTHUB_TOKEN does not hold an API token" -- \
    env CERTHUB_TOKEN="Bearer $(cat "$data/admin-token")" "$CERTHUB" --server "$url" --ca-file "$data/ca.pem" ca list
check_contains "CERTHUB_TOKEN with the newline of \$(cat) or an echo kept works" \
    "$(CERTHUB_TOKEN="$(cat "$data/admin-token")"$'\n' "$CERTHUB" --server "$url" --ca-file "$data/ca.pem" ca list)" \
    "Quickstart Issuing CA"

# The CA file: missing, a key, the root in DER.
expect_error "a CA file that is not there" "the CA file (--ca-file or CERTHUB_CA): cannot open no-such.pem" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file no-such.pem ca list
"$CERTHUB" key create --type p256 --out some.key
expect_error "a key given as the CA file" "the CA file some.key holds no PEM certificate" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file some.key ca list
openssl x509 -in "$data/ca.pem" -outform DER -out ca.der
expect_error "the root in DER as the CA file" "the CA file ca.der is a DER certificate: --ca-file takes PEM" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file ca.der ca list
grep -q "cannot reach" "$T/stderr" && fail "a CA file refused before any connection is said as the server unreachable"
ok "and none of them is said as the server unreachable"

# The server as the API reference writes its base.
for base in "$url/api/v1" "$url/api/v1/"; do
    check_contains "--server $base names the same server" \
        "$("$CERTHUB" --server "$base" --token-file "$data/admin-token" --ca-file "$data/ca.pem" ca list)" \
        "Quickstart Issuing CA"
done

done_testing
