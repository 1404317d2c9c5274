#!/usr/bin/env bash
# The CLI as a client of a real certhubd: CA list, issuing, listing, export in two formats
# checked by openssl, tokens and roles, errors from the server shown as one line.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

start_daemon
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }

issuer=$(remote ca list | awk '/Issuing CA/ {print $1}')
check_contains "ca list shows the issuing CA" "$issuer" "ca_"
id=$(remote cert issue --ca-id "$issuer" --profile tls-server --subject "CN=cli.example,O=Acme" --san dns:cli.example --days 10 --out cli.pem)
check_contains "cert issue prints the id" "$id" "crt_"
remote cert export "$id" --format pem --out chain.pem
openssl verify -CAfile "$data/ca.pem" -untrusted chain.pem cli.pem >/dev/null && ok "the issued certificate verifies with the exported chain"
check_contains "cert list finds it" "$(remote cert list --search cli.example)" "$id"
check_contains "cert get --output json" "$(remote --output json cert get "$id")" '"subject": "CN=cli.example,O=Acme"'
echo s3cret > pw
remote cert export "$id" --format p12 --password-file pw --out cli.p12
check_eq "PKCS#12 holds one key" 1 "$(openssl pkcs12 -in cli.p12 -nocerts -nodes -passin pass:s3cret 2>/dev/null | grep -c 'BEGIN PRIVATE KEY')"
viewer=$(remote token create --role viewer --name cli-test)
echo "$viewer" > viewer-token
expect_error "a viewer cannot issue: the server's reason, one line" "needs the operator role" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file viewer-token --ca-file "$data/ca.pem" cert issue --ca-id "$issuer" --subject CN=x
expect_error "unknown CA id" "no CA with id" -- remote cert issue --ca-id ca_missing --subject CN=x
expect_error "no token" "no API token" -- env -u CERTHUB_TOKEN "$CERTHUB" --server "https://localhost:$port" cert list
expect_error "untrusted server certificate" "cannot reach" -- "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file cli.pem cert list
remote cert delete "$id" >/dev/null
expect_error "deleted certificate" "HTTP 404" -- remote cert get "$id"
done_testing
