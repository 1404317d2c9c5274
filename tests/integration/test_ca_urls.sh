#!/usr/bin/env bash
# The URLs a CA writes into what it issues (Vault's config/urls): CRL distribution points, OCSP
# responders and where its own certificate is published (the AIA's caIssuers, which clients use
# to fetch an issuer a server did not send).  Set at creation or by PATCH /cas/{id}, shown on the
# CA, written into each certificate issued after (an intermediate's certificate takes its
# parent's), kept through a rotation, cleared with [], audited; openssl reads them back.  A URL
# a client cannot fetch, or more than three, is a 400 naming the list that changes nothing; the
# CLI sets them with ca create / ca update (none clears one).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
cli="$CERTHUB --server https://localhost:$port --ca-file $data/ca.pem --token-file $data/admin-token"

text_of() { jq -r .pem "$T/body" | openssl x509 -noout -text; }

api POST /api/v1/cas '{"name":"urls root","type":"root","subject":{"common_name":"URLs Root"},"days":3650,"crl_urls":["http://pki.example.com/root.crl"],"ocsp_urls":["http://ocsp.example.com/root"],"ca_issuers_urls":["http://pki.example.com/root.der","ldap://ldap.example.com/cn=URLs%20Root"]}'
check_eq "a root with its URLs" 201 "$status"
root=$(body .id)
check_eq "shown on the CA" '["http://pki.example.com/root.crl"] ["http://ocsp.example.com/root"] ["http://pki.example.com/root.der","ldap://ldap.example.com/cn=URLs%20Root"]' \
    "$(jq -c .crl_urls "$T/body") $(jq -c .ocsp_urls "$T/body") $(jq -c .ca_issuers_urls "$T/body")"

api POST /api/v1/cas "{\"name\":\"urls issuing\",\"type\":\"intermediate\",\"parent_id\":\"$root\",\"subject\":{\"common_name\":\"URLs Issuing\"},\"days\":1000}"
inter=$(body .id)
check_eq "an intermediate without URLs of its own: [] each" "201 [] [] []" \
    "$status $(jq -c .crl_urls "$T/body") $(jq -c .ocsp_urls "$T/body") $(jq -c .ca_issuers_urls "$T/body")"
api GET "/api/v1/cas/$inter/chain"
openssl x509 -in "$T/body" -noout -text > inter.txt
check_contains "its certificate has the root's CRL" "$(cat inter.txt)" "URI:http://pki.example.com/root.crl"
check_contains "the root's OCSP responder" "$(cat inter.txt)" "OCSP - URI:http://ocsp.example.com/root"
check_contains "and where the root is published" "$(cat inter.txt)" "CA Issuers - URI:http://pki.example.com/root.der"
check_contains "the LDAP one too" "$(cat inter.txt)" "CA Issuers - URI:ldap://ldap.example.com/cn=URLs%20Root"

issue() { api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"sans\":[\"dns:$1\"],\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$inter\"}"; }
issue plain.example
check_eq "a leaf of the intermediate" 201 "$status"
check_eq "it has neither CRL nor AIA" "0" "$(text_of | grep -c 'CRL Distribution\|Authority Information Access' || true)"

# ---- set by PATCH
api PATCH "/api/v1/cas/$inter" '{"ca_issuers_urls":["http://pki.example.com/issuing.der"]}'
check_eq "the intermediate's caIssuers set" '200 ["http://pki.example.com/issuing.der"] []' \
    "$status $(jq -c .ca_issuers_urls "$T/body") $(jq -c .crl_urls "$T/body")"
api GET "/api/v1/audit?object_id=$inter&action=ca.update"
check_eq "audited with what changed" '["http://pki.example.com/issuing.der"]' "$(body '.items[-1].detail' | jq -c .ca_issuers_urls)"
issue aia.example
text_of > aia.txt
check_contains "a leaf issued after has it" "$(cat aia.txt)" "CA Issuers - URI:http://pki.example.com/issuing.der"
check_eq "and no OCSP, none being set" 0 "$(grep -c 'OCSP - URI' aia.txt || true)"
$CERTHUB inspect <(jq -r .pem "$T/body") > inspect.txt
check_contains "certhub inspect shows it" "$(cat inspect.txt)" "http://pki.example.com/issuing.der"

# ---- refused, nothing changed
api GET "/api/v1/cas/$inter"
before=$(jq -c '[.crl_urls, .ocsp_urls, .ca_issuers_urls, .name]' "$T/body")
for bad in '{"crl_urls":["ftp://pki.example.com/x.crl"]}' '{"ocsp_urls":["http://ocsp example.com/"]}' \
    '{"ca_issuers_urls":["http://a.example/1","http://a.example/2","http://a.example/3","http://a.example/4"]}' \
    '{"crl_urls":"http://pki.example.com/x.crl"}' '{"crl_urls":[7]}' '{"name":"renamed","ocsp_urls":["mailto:x@example.com"]}'; do
    api PATCH "/api/v1/cas/$inter" "$bad"
    field=$(echo "$bad" | jq -r 'keys[] | select(. != "name")')
    check_eq "PATCH $bad: 400 naming $field" "400 $field" "$status $(body .error.field)"
done
long="http://pki.example.com/$(head -c 1100 /dev/zero | tr '\0' a)"
api PATCH "/api/v1/cas/$inter" "{\"crl_urls\":[\"$long\"]}"
check_eq "a URL of 1,100 characters: 400 naming crl_urls" "400 crl_urls" "$status $(body .error.field)"
check_contains "saying the longest taken" "$(body .error.message)" "a URL is at most 1024 characters"
api PATCH "/api/v1/cas/$inter" '{"ocsp_urls":["http://ocsp.example.com/a b"]}'
check_contains "a space: said where" "$(body .error.message)" "(a space at character 26)"
api PATCH "/api/v1/cas/$inter" '{"ca_issuers_urls":["http://pki.example.com/a\"b.der"]}'
check_contains "a quote: said where" "$(body .error.message)" "(a character a URL holds only percent-encoded at character 25)"
api PATCH "/api/v1/cas/$inter" '{"crl_urls":["http://pki.example.com/x.crl","http://pki.example.com/x.crl"]}'
check_contains "one given twice" "$(body .error.message)" "http://pki.example.com/x.crl is given twice in crl_urls"
api PATCH "/api/v1/cas/$inter" '{"crl_urls":[""]}'
check_contains "an empty one" "$(body .error.message)" "(it is empty)"
api GET "/api/v1/cas/$inter"
check_eq "none of them changed the CA (its name neither)" "$before" "$(jq -c '[.crl_urls, .ocsp_urls, .ca_issuers_urls, .name]' "$T/body")"
api GET /api/v1/cas
cas=$(body '.items | length')
api POST /api/v1/cas '{"name":"bad urls","type":"root","subject":{"common_name":"Bad"},"ca_issuers_urls":["pki.example.com/root.der"]}'
check_eq "a CA created with a URL without its scheme: 400 naming the list" "400 ca_issuers_urls" "$status $(body .error.field)"
check_contains "the message says what is accepted" "$(body .error.message)" "http://, https:// or ldap://"
api GET /api/v1/cas
check_eq "and no CA made" "$cas" "$(body '.items | length')"

# ---- kept through a rotation, then cleared
api PATCH "/api/v1/cas/$inter" '{"crl_urls":["http://pki.example.com/issuing.crl"]}'
api POST "/api/v1/cas/$inter/rotate" '{}'
check_eq "the intermediate rotated" "200" "$status"
check_eq "its URLs stay" '["http://pki.example.com/issuing.crl"] ["http://pki.example.com/issuing.der"]' \
    "$(jq -c .crl_urls "$T/body") $(jq -c .ca_issuers_urls "$T/body")"
api GET "/api/v1/cas/$inter/chain"
check_contains "its new certificate has the root's URLs" "$(openssl x509 -in "$T/body" -noout -text)" \
    "CA Issuers - URI:http://pki.example.com/root.der"
issue rotated.example
text_of > rotated.txt
check_contains "a leaf of the new certificate: the CRL" "$(cat rotated.txt)" "URI:http://pki.example.com/issuing.crl"
check_contains "and caIssuers" "$(cat rotated.txt)" "CA Issuers - URI:http://pki.example.com/issuing.der"
api PATCH "/api/v1/cas/$inter" '{"crl_urls":[],"ca_issuers_urls":[]}'
check_eq "cleared with []" '200 [] []' "$status $(jq -c .crl_urls "$T/body") $(jq -c .ca_issuers_urls "$T/body")"
issue cleared.example
check_eq "a leaf after: neither" 0 "$(text_of | grep -c 'CRL Distribution\|Authority Information Access' || true)"

# ---- the CLI
ca_cli=$($cli ca create --name "cli root" --subject "CN=CLI Root" --ca-issuers-urls http://pki.example.com/cli.der,http://mirror.example.com/cli.der)
$cli --output json ca get "$ca_cli" > cli.json
check_eq "ca create --ca-issuers-urls" '["http://pki.example.com/cli.der","http://mirror.example.com/cli.der"]' "$(jq -c .ca_issuers_urls cli.json)"
$cli ca update "$ca_cli" --ocsp-urls http://ocsp.example.com/cli --ca-issuers-urls none > updated.txt
check_eq "ca update says the URLs it has now" "  ocsp_urls: http://ocsp.example.com/cli" "$(sed -n 2,9p updated.txt)"
$cli --output json ca get "$ca_cli" > cli.json
check_eq "ca update sets one list and clears another (none)" '["http://ocsp.example.com/cli"] []' \
    "$(jq -c .ocsp_urls cli.json) $(jq -c .ca_issuers_urls cli.json)"
$cli ca update "$ca_cli" --crl-urls "ldap://ldap.example.com/CN=CLI%20Root,DC=example,DC=com?certificateRevocationList, HTTP://pki.example.com/cli.crl" > /dev/null
$cli --output json ca get "$ca_cli" > cli.json
check_eq "an LDAP URL's commas are its own: a comma splits where a URL begins (a scheme in capitals taken)" \
    '["ldap://ldap.example.com/CN=CLI%20Root,DC=example,DC=com?certificateRevocationList","HTTP://pki.example.com/cli.crl"]' \
    "$(jq -c .crl_urls cli.json)"
expect_error "a bad URL from the CLI: exit 1, the server's message" "http://, https:// or ldap://" -- \
    $cli ca update "$ca_cli" --crl-urls ftp://pki.example.com/x.crl

done_testing
