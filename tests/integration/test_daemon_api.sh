#!/usr/bin/env bash
# certhubd end to end: first start on a free loopback port, HTTPS with its own CA, bearer
# tokens, issuing over the REST API checked by openssl, bad requests, restart, SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$T/body" | head -1; }

# --help and --version answer on stdout with status 0; an unknown option is a usage error.
check_contains "certhubd --help says what --data-dir is" "$("$CERTHUBD" --help)" "--data-dir DIR        the store"
check_eq "certhubd --version is certhub's" "$("$CERTHUB" --version | cut -d' ' -f2)" "$("$CERTHUBD" --version | cut -d' ' -f2)"
expect_exit 2 "certhubd with an unknown option" -- "$CERTHUBD" --data-dir "$T/never" --bogus 1
if [ ! -e "$T/never" ]; then ok "an unknown option creates nothing"; else fail "not so: an unknown option creates nothing"; fi
start_daemon
# A taken port makes start_daemon try again: the first start's words are in the first log.
first_logs=$(cat "$T"/daemon.log.*)
check_contains "first start prints the admin token" "$first_logs" "admin API token"
check_eq "admin-token file is 0600" 600 "$(stat -c %a "$data/admin-token")"
check_eq "the store is its owner's alone (its log and index files take its mode)" 600 "$(stat -c %a "$data/certhub.db")"
TOKEN=$(cat "$data/admin-token")
check_contains "the token appears once, in the log of the first start" "$first_logs" "$TOKEN"
# A first start on a port taken (by the daemon above) or an address not this machine's says so
# and sets nothing up: no data directory, no admin token printed.
expect_error "a first start on a taken port" "cannot listen on 127.0.0.1:$port: Address already in use" -- \
    "$CERTHUBD" --data-dir "$T/second" --listen "127.0.0.1:$port"
if [ ! -e "$T/second" ]; then ok "and creates nothing"; else fail "not so: and creates nothing"; fi
expect_error "a first start on an address not this machine's" "cannot listen on 192.0.2.1:$port" -- \
    "$CERTHUBD" --data-dir "$T/second" --listen "192.0.2.1:$port"
if [ ! -e "$T/second" ]; then ok "nor does that"; else fail "not so: nor does that"; fi

# TLS: the listener's certificate chains to DATA_DIR/ca.pem for localhost and 127.0.0.1.
status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")
check_eq "health over verified TLS (localhost)" 200 "$status"
status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" "https://127.0.0.1:$port/api/v1/health")
check_eq "health over verified TLS (127.0.0.1)" 200 "$status"
# HEAD, as monitors ask: the headers alone, and the connection still good for the next request
# (libevent would write the body after them).
out=$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}\n' --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health" \
    --next -s -o /dev/null -w '%{http_code} %{num_connects}' --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")
check_eq "HEAD answers 200 without a body; a GET after it on the same connection is answered" "200 0
200 0" "$out"
raw=$( (printf 'HEAD /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n'; sleep 0.5) |
    openssl s_client -quiet -connect "127.0.0.1:$port" 2>/dev/null | tr -d '\r' || true)
check_eq "and on the wire: the status line and headers, nothing after them" "HTTP/1.1 200 OK|" \
    "$(echo "$raw" | head -1)|$(echo "$raw" | sed '1,/^$/d')"
get_len=$(curl -s -o /dev/null -w '%{size_download}' --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")
check_eq "with the Content-Length a GET's body has" "Content-Length: $get_len" "$(echo "$raw" | grep -i '^Content-Length:')"
# Framing that a proxy in front could read otherwise than evhttp, which reads no body for a
# Transfer-Encoding of "identity", nor for HEAD whatever its headers say: the body (here a
# request of its own) would be answered as the next request.  Each is refused 400 and the
# connection closed, the request behind it never answered; certhubd answers the next one.
hidden='GET /api/v1/openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n'
for framing in 'GET|Transfer-Encoding: identity' 'POST|Transfer-Encoding: identity' \
    'POST|Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked' 'POST|Transfer-Encoding: chunked\r\nContent-Length: 51' \
    'GET|Content-Length: +46' 'HEAD|Content-Length: 46' 'HEAD|Transfer-Encoding: chunked'; do
    printf "${framing%%|*} /api/v1/health HTTP/1.1\r\nHost: x\r\n${framing#*|}\r\n\r\n$hidden" > framing.req
    out=$(timeout 20 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$port" -CAfile "$data/ca.pem" \
        < framing.req 2>/dev/null | tr -d '\r' || true)
    check_eq "$framing: 400, closed, the request behind it not answered" "1 1 0" \
        "$(echo "$out" | grep -c '^HTTP/1.1 400 ') $(echo "$out" | grep -c '^Connection: close') $(echo "$out" | grep -c 'openapi:')"
done
# An HTTP/1.1 request names its host once (RFC 9112 3.2); HTTP/1.0 has no Host to give.
for hosts in '' 'Host: a\r\nHost: b\r\n'; do
    printf "GET /api/v1/health HTTP/1.1\r\n${hosts}\r\n$hidden" > host.req
    out=$(timeout 20 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$port" -CAfile "$data/ca.pem" \
        < host.req 2>/dev/null | tr -d '\r' || true)
    check_eq "Host lines '${hosts:-none}': 400, closed, the request behind it not answered" "1 1 0" \
        "$(echo "$out" | grep -c '^HTTP/1.1 400 ') $(echo "$out" | grep -c '^Connection: close') $(echo "$out" | grep -c 'openapi:')"
    check_contains "saying why" "$out" "Host header"
done
printf 'GET /api/v1/health HTTP/1.0\r\n\r\n' > host.req
out=$(timeout 20 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$port" -CAfile "$data/ca.pem" \
    < host.req 2>/dev/null | tr -d '\r' || true)
check_eq "HTTP/1.0 without Host is answered" 1 "$(echo "$out" | grep -c '^HTTP/1.[01] 200 ')"
check_eq "chunked alone is taken" 405 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" \
    -H 'Transfer-Encoding: chunked' -d '{}' "https://localhost:$port/api/v1/health")"
check_eq "and certhubd still answers" 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" \
    "https://localhost:$port/api/v1/health")"
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_1 >/dev/null 2>&1 && fail "TLS 1.1 accepted"
ok "TLS 1.1 refused"
# Under TLS 1.2, forward-secret AEAD suites only; the CBC and SHA-1 ones OpenSSL offers by default are refused.
# suite_used SUITE: the suite a TLS 1.2 handshake offering SUITE alone agreed on ("(NONE)" when refused).
suite_used() {
    echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 -cipher "$1" 2>/dev/null |
        sed -n 's/^New, [^,]*, Cipher is //p' | head -1
}
for suite in ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-CHACHA20-POLY1305; do
    check_eq "TLS 1.2 with $suite" "$suite" "$(suite_used "$suite")"
done
for suite in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384 AES128-GCM-SHA256; do
    check_eq "TLS 1.2 with $suite refused" "(NONE)" "$(suite_used "$suite")"
done
# A renegotiation the client asks for is refused (openssl s_client's "R" command, which it reads
# once its handshake is done).  Its input stays open until the refusal is in its output (30 s at
# most): at the end of its input s_client stops, and a loaded machine may not have answered
# within a fixed second.
(echo R; for i in $(seq 1 300); do grep -q "no renegotiation" reneg.out 2>/dev/null && break; sleep 0.1; done) |
    openssl s_client -connect "127.0.0.1:$port" -tls1_2 >reneg.out 2>&1 || true
check_contains "a client's renegotiation is refused" "$(cat reneg.out)" "no renegotiation"

# Authentication.
saved=$TOKEN
TOKEN="" api GET /api/v1/certificates
check_eq "no token: 401" 401 "$status"
check_contains "no token: error code" "$(cat "$T/body")" '"code":"unauthorized"'
TOKEN="cht_0000000000000000000000000000000000000000000000000000000000000000" api GET /api/v1/certificates
check_eq "unknown token: 401" 401 "$status"
TOKEN=$saved

# The quickstart CAs.
api GET /api/v1/cas
check_eq "list CAs" 200 "$status"
check_contains "quickstart root" "$(cat "$T/body")" "certhub Quickstart Root CA - Not for Production"
issuer=$(grep -o '"id":"ca_[0-9a-f]*","name":"certhub Quickstart Issuing CA' "$T/body" | sed 's/"id":"\(ca_[0-9a-f]*\)".*/\1/')
[ -n "$issuer" ] || fail "no issuing CA in $(cat "$T/body")"
issuer_cert=$(grep -o "\"id\":\"$issuer\",\"name\":\"[^\"]*\",\"certificate_id\":\"crt_[0-9a-f]*\"" "$T/body" | sed 's/.*"certificate_id":"\(crt_[0-9a-f]*\)"/\1/')

# Issue a server certificate and check it with openssl.
api POST /api/v1/certificates "{\"name\":\"web\",\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"web.example\",\"organization\":\"Acme\"},\"sans\":[\"dns:web.example\",\"ip:10.1.2.3\"],\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$issuer\"}"
check_eq "issue: 201" 201 "$status"
id=$(field id)
check_contains "issued certificate has an id" "$id" "crt_"
check_eq "the answer lists its SANs" '["dns:web.example","ip:10.1.2.3"]' "$(jq -c .sans "$T/body")"
printf '%b' "$(field pem)" > leaf.pem
api GET "/api/v1/certificates/$issuer_cert"
printf '%b' "$(field pem)" > issuer.pem
if openssl verify -CAfile "$data/ca.pem" -untrusted issuer.pem leaf.pem >/dev/null; then ok "openssl verifies the issued certificate"; else fail "not so: openssl verifies the issued certificate"; fi
check_contains "SANs as asked" "$(openssl x509 -in leaf.pem -noout -ext subjectAltName)" "DNS:web.example, IP Address:10.1.2.3"
api GET "/api/v1/certificates/$id"
check_eq "get by id" 200 "$status"
check_contains "has its key on the server" "$(cat "$T/body")" '"has_private_key":true'
if grep -q "PRIVATE KEY" "$T/body"; then fail "a private key appeared in a response"; fi
ok "no private key in responses"
api GET "/api/v1/certificates?search=web.example&limit=5"
check_contains "search finds it" "$(cat "$T/body")" "\"id\":\"$id\""
api POST /api/v1/certificates '{"subject":{"common_name":"uri.example"},"sans":["uri:https://uri.example/a,b","dns:uri.example","email:ops@uri.example"]}'
api GET "/api/v1/certificates?search=uri.example&limit=5"
check_eq "a list row carries its SANs, a URI with a comma whole" \
    '["uri:https://uri.example/a,b","dns:uri.example","email:ops@uri.example"]' "$(jq -c '.items[0].sans' "$T/body")"

# Answers are written as JSON text by certhubd itself: quotes, backslashes and non-ASCII
# text in a name and subject come back exactly as given (control characters, which names
# refuse, are escaped by the same writer: test_common).
odd='q\"uote \\back Zürich ✓ 日本'
api POST /api/v1/certificates "{\"name\":\"$odd\",\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"Zürich \\\"odd\\\" ✓\"},\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$issuer\"}"
check_eq "odd name: 201" 201 "$status"
odd_id=$(body .id)
check_eq "the name back as given" "$(jq -r -n "\"$odd\"")" "$(body .name)"
check_contains "the subject back as given (RFC 4514 escapes)" "$(body .subject)" 'CN=Zürich \"odd\" ✓'
api GET "/api/v1/certificates?limit=1000"
check_eq "the list is valid JSON with that name in it" "$(jq -r -n "\"$odd\"")" \
    "$(body ".items[] | select(.id == \"$odd_id\") | .name")"

# Bad requests change nothing.
api GET "/api/v1/certificates?limit=1000"
before=$(grep -o '"id":"crt_' "$T/body" | wc -l)
api POST /api/v1/certificates '{"profile":'
check_eq "malformed JSON: 400" 400 "$status"
status=$(curl -s -o "$T/body" -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -H "Content-Type: text/plain" --data 'x' "https://localhost:$port/api/v1/certificates")
check_eq "wrong content type: 415" 415 "$status"
api POST /api/v1/certificates "{\"profile\":\"nope\",\"subject\":{\"common_name\":\"x\"},\"ca_id\":\"$issuer\"}"
check_eq "unknown profile: 400" 400 "$status"
check_contains "unknown profile names the field" "$(cat "$T/body")" '"field":"profile"'
api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"x\"},\"ca_id\":\"$issuer\",\"days\":99999}"
check_eq "days out of range: 400" 400 "$status"
api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"x\"},\"ca_id\":\"$issuer\",\"days\":5000}"
check_eq "validity beyond the CA: 422" 422 "$status"
api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"x\"},\"ca_id\":\"$issuer\",\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\\nAAAA\\n-----END CERTIFICATE REQUEST-----\\n\"}"
check_eq "broken CSR: 400" 400 "$status"
api GET /api/v1/certificates/crt_doesnotexist
check_eq "unknown id: 404" 404 "$status"
api GET "/api/v1/certificates?limit=1000"
check_eq "nothing was stored by the bad requests" "$before" "$(grep -o '"id":"crt_' "$T/body" | wc -l)"

# Tokens, roles and tenants.
api POST /api/v1/tokens '{"role":"viewer","name":"dashboard"}'
check_eq "create a viewer token: 201" 201 "$status"
viewer=$(field token)
admin=$TOKEN
TOKEN=$viewer api GET /api/v1/certificates
check_eq "viewer may list" 200 "$status"
TOKEN=$viewer api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"v\"},\"ca_id\":\"$issuer\"}"
check_eq "viewer may not issue: 403" 403 "$status"
TOKEN=$viewer api POST "/api/v1/certificates/$id/private-key"
check_eq "viewer may not export a key: 403" 403 "$status"
api POST /api/v1/tenants '{"name":"beta"}'
check_eq "create a tenant: 201" 201 "$status"
api POST /api/v1/tokens '{"tenant":"beta","role":"admin"}'
check_eq "token for the other tenant: 201" 201 "$status"
beta=$(field token)
TOKEN=$beta api GET "/api/v1/certificates/$id"
check_eq "another tenant's certificate is not found" 404 "$status"
# Another tenant than one's own, named for a token by one who may not make its tokens, is as
# absent as one that does not exist (403 for one and 404 for the other told which exist).
TOKEN=$beta api POST /api/v1/tokens '{"tenant":"default","role":"viewer"}'
there="$status $(body .error.message)"
TOKEN=$beta api POST /api/v1/tokens '{"tenant":"nowhere","role":"viewer"}'
check_eq "beta's admin naming the default tenant or none for a token: the same 404" "$there" "$status $(body .error.message)"
check_eq "(which is a 404)" 404 "$status"
# A tenant named as an id would stand for that tenant where a name is tried first (its public
# bundle, its tokens).
api GET /api/v1/tenants
default_id=$(body '.items[] | select(.name == "default") | .id')
api POST /api/v1/tenants "{\"name\":\"$default_id\"}"
check_eq "a tenant named as another's id: 400" "400 name" "$status $(body .error.field)"
api POST /api/v1/tenants '{"name":"ten_lookalike"}'
check_eq "or as any id: 400 saying why" "400 true" "$status $(body '.error.message | contains("ten_")')"
api POST /api/v1/tenants '{"name":"DEFAULT"}'
check_eq "a tenant's name in another case: 409 (a device's user name DEFAULT/x named another tenant)" \
    "409 name true" "$status $(body .error.field) $(body '.error.message | contains("without regard to case")')"
for dots in . ..; do
    api POST /api/v1/tenants "{\"name\":\"$dots\"}"
    check_eq "a tenant named \"$dots\" (a path's step): 400" "400 name" "$status $(body .error.field)"
done
TOKEN=$beta api GET "/api/v1/certificates?limit=1000"
if grep -q "$id" "$T/body"; then fail "tenant beta lists tenant default's certificate"; fi
ok "another tenant's certificate is not listed"

# Without ca_id the tenant's one issuing CA signs (the end of its CA tree, not a root above
# it); with none or several, ca_id is required and the answer names them.
dflt='{"profile":"tls-server","subject":{"common_name":"dflt.example"},"key_type":"p256"}'
api POST /api/v1/certificates "$dflt"
check_eq "no ca_id: 201" 201 "$status"
check_eq "no ca_id: the quickstart issuing CA signed" "$issuer" "$(body .ca_id)"
TOKEN=$beta api POST /api/v1/certificates "$dflt"
check_eq "no ca_id in a tenant without a CA: 400" 400 "$status"
check_contains "no ca_id in a tenant without a CA: says so" "$(body .error.message)" "no CA of this tenant can sign"
TOKEN=$beta api POST /api/v1/cas '{"name":"beta root","type":"root","subject":{"common_name":"Beta Root"},"key_type":"p256"}'
beta_root=$(field id)
TOKEN=$beta api POST /api/v1/cas "{\"name\":\"beta issuing\",\"type\":\"intermediate\",\"parent_id\":\"$beta_root\",\"subject\":{\"common_name\":\"Beta Issuing\"},\"key_type\":\"p256\"}"
check_eq "beta's intermediate: 201" 201 "$status"
beta_issuing=$(field id)
TOKEN=$beta api POST /api/v1/cas '{"name":"orphan","type":"intermediate","parent_id":"ca_nope","subject":{"common_name":"Orphan"}}'
check_eq "an intermediate under an unknown CA: 404 on parent_id" "404 parent_id" "$status $(body .error.field)"
# A field the type of CA does not read is refused, not ignored: a root given a parent_id was
# made a root, though its maker wanted it under that parent.
TOKEN=$beta api POST /api/v1/cas "{\"name\":\"meant below\",\"type\":\"root\",\"parent_id\":\"$beta_root\",\"subject\":{\"common_name\":\"Below\"}}"
check_eq "a root with a parent_id: 400 on parent_id" "400 parent_id" "$status $(body .error.field)"
check_contains "saying what a root takes" "$(body .error.message)" 'does not apply to a root CA (type "root", the default), which takes: name,'
TOKEN=$beta api POST /api/v1/cas '{"name":"imp","type":"import","certificate":"x","key_type":"p384"}'
check_eq "an import with a key_type: 400 on key_type" "400 key_type" "$status $(body .error.field)"
TOKEN=$beta api GET "/api/v1/cas?limit=1000"
check_eq "and neither was made" "" "$(body '[.items[].name | select(. == "meant below" or . == "imp")] | join(",")')"
TOKEN=$beta api POST /api/v1/certificates "$dflt"
check_eq "no ca_id under a root and its intermediate: the intermediate signs" "$beta_issuing" "$(body .ca_id)"
TOKEN=$beta api POST /api/v1/cas '{"name":"beta lab root","type":"root","subject":{"common_name":"Beta Lab Root"},"key_type":"p256"}'
beta_lab=$(field id)
TOKEN=$beta api GET "/api/v1/certificates?limit=1000"
before=$(body '.items | length')
TOKEN=$beta api POST /api/v1/certificates "$dflt"
check_eq "no ca_id with two CAs that could sign: 400" 400 "$status"
check_contains "no ca_id with two CAs: the intermediate named" "$(body .error.message)" "$beta_issuing (beta issuing)"
check_contains "no ca_id with two CAs: the other root named" "$(body .error.message)" "$beta_lab (beta lab root)"
check_eq "no ca_id with two CAs: the field" ca_id "$(body .error.field)"
TOKEN=$beta api GET "/api/v1/certificates?limit=1000"
check_eq "no ca_id with two CAs: nothing issued" "$before" "$(body '.items | length')"

# ?tenant= on a read: the installation's admins read another tenant's lists and objects with
# their own token; a tenant's own admin may name only its own tenant.
api GET "/api/v1/cas?tenant=beta"
check_eq "an installation admin lists beta's CAs" "beta issuing,beta lab root,beta root" "$(body '[.items[].name] | sort | join(",")')"
api GET "/api/v1/cas/$beta_root?tenant=beta"
check_eq "and reads one of them" "200 Beta Root" "$status $(body .subject | sed 's/^CN=//')"
api GET "/api/v1/cas/$beta_root"
check_eq "without ?tenant= its own tenant's view: 404" 404 "$status"
api GET "/api/v1/audit?tenant=beta&action=ca.create"
check_eq "beta's audit log" 3 "$(body '.items | length')"
# Beta's entries are numbered in beta's log alone (the default tenant's hundreds of entries
# before them are not counted: a number across tenants told one how much the others did).
TOKEN=$beta api GET "/api/v1/audit?limit=1000"
check_eq "beta's audit entries numbered 1, 2, ... in its own log" \
    "$(body '[range(1; (.items | length) + 1)] | map(tostring) | join(",")')" "$(body '[.items[].seq] | map(tostring) | join(",")')"
check_eq "beta's first entry is 1" 1 "$(body '.items[0].seq')"
api GET "/api/v1/certificates?limit=1000&tenant=beta"
before=$(body '.items | length')
api POST "/api/v1/certificates?tenant=beta" "$dflt"
check_eq "a write naming another tenant is refused: writes stay in the caller's tenant" "400 tenant" \
    "$status $(body .error.field)"
api GET "/api/v1/certificates?limit=1000&tenant=beta"
check_eq "and nothing was issued in beta" "$before" "$(body '.items | length')"
TOKEN=$beta api GET "/api/v1/certificates?tenant=default"
check_eq "a tenant's admin naming another tenant: no such tenant" "404 tenant" "$status $(body .error.field)"
TOKEN=$beta api GET "/api/v1/cas?tenant=beta"
check_eq "naming its own: its list" 3 "$(body '.items | length')"
api GET "/api/v1/cas?tenant=nowhere"
check_eq "an unknown tenant: 404" 404 "$status"
# Another tenant's CSR cannot be signed into this one: its key stays where it was made.
api POST /api/v1/csrs '{"subject":{"common_name":"default-only.example"},"key_type":"p256"}'
default_csr=$(field id)
TOKEN=$beta api POST /api/v1/certificates "{\"csr_id\":\"$default_csr\",\"ca_id\":\"$beta_issuing\"}"
check_eq "another tenant's csr_id: 404" 404 "$status"
api GET "/api/v1/csrs/$default_csr"
check_eq "another tenant's csr_id: the CSR still waits" null "$(body .certificate_id)"

# Without a subject the common name is the first dns: SAN, else the name; a subject object
# holds only its known fields, and X.509's length bounds are said as such.
api POST /api/v1/certificates '{"name":"orders api","key_type":"p256"}'
check_eq "no subject, a name: CN is the name" "CN=orders api" "$(body .subject)"
api POST /api/v1/certificates '{"key_type":"p256","sans":["ip:10.0.0.7","dns:svc.example","dns:b.example"]}'
check_eq "no subject, SANs: CN is the first dns: SAN" "CN=svc.example" "$(body .subject)"
api POST /api/v1/certificates '{"key_type":"p256","sans":["ip:10.0.0.7"]}'
check_eq "no subject, no name, no dns: SAN: 400" 400 "$status"
check_eq "no subject, no name, no dns: SAN: the field" subject "$(body .error.field)"
long=$(printf 'x%.0s' $(seq 65))
api POST /api/v1/certificates "{\"key_type\":\"p256\",\"subject\":{\"common_name\":\"$long\"}}"
check_eq "a 65-character common name: 400" 400 "$status"
check_contains "a 65-character common name: the bound said" "$(body .error.message)" "X.509 allows at most 64"
api POST /api/v1/certificates "{\"key_type\":\"p256\",\"name\":\"$long\"}"
check_contains "a name too long to be the common name: said so" "$(body .error.message)" "the name cannot be its common name"
api POST /api/v1/certificates '{"key_type":"p256","subject":{"dn":"CN=typo.example"}}'
check_eq "an unknown field in subject: 400" 400 "$status"
check_contains "an unknown field in subject: named" "$(body .error.message)" 'unknown field "dn" in subject'

# A tenant revoked: its tokens stop, no token is made for it, it says so in the list; only
# the installation's admins revoke, and never the default tenant.
api POST /api/v1/tenants '{"name":"gamma"}'
api POST /api/v1/tokens '{"tenant":"gamma","role":"operator"}'
gamma=$(field token)
TOKEN=$gamma api GET /api/v1/certificates
check_eq "gamma's token works" 200 "$status"
TOKEN=$beta api DELETE /api/v1/tenants/gamma
check_eq "another tenant's admin may not revoke it: 403" 403 "$status"
api DELETE /api/v1/tenants/gamma
check_eq "revoked by name" "200 revoked" "$status $(body .status)"
TOKEN=$gamma api GET /api/v1/certificates
check_eq "its token stops at once: 401, said to have gone with its tenant" "401 the API token's tenant gamma was revoked" \
    "$status $(body .error.message)"
api POST /api/v1/tokens '{"tenant":"gamma","role":"viewer"}'
check_eq "no token is made for it: 409" "409 tenant" "$status $(body .error.field)"
api GET /api/v1/tenants
check_eq "the list says so" "revoked active" "$(body '[.items[] | select(.name == "gamma" or .name == "beta") | .status] | sort | reverse | join(" ")')"
api DELETE /api/v1/tenants/gamma
check_eq "revoked twice: 409" 409 "$status"
api DELETE /api/v1/tenants/default
check_eq "the default tenant is never revoked: 409" 409 "$status"
api DELETE /api/v1/tenants/nowhere
check_eq "an unknown tenant: 404" 404 "$status"
TOKEN=$beta api GET /api/v1/certificates
check_eq "the other tenants go on" 200 "$status"
TOKEN=$beta api PATCH /api/v1/tenants/gamma '{"status":"active"}'
check_eq "another tenant's admin may not restore it: 403" 403 "$status"
api PATCH /api/v1/tenants/gamma '{"status":"asleep"}'
check_eq "a status other than active or revoked: 400" "400 status" "$status $(body .error.field)"
api PATCH /api/v1/tenants/gamma '{"status":"active"}'
check_eq "restored" "200 active" "$status $(body .status)"
TOKEN=$gamma api GET /api/v1/certificates
check_eq "the token it had stays revoked" 401 "$status"
api POST /api/v1/tokens '{"tenant":"gamma","role":"viewer"}'
check_eq "a new token is made for it" 201 "$status"
TOKEN=$(field token) api GET /api/v1/certificates
check_eq "and works" 200 "$status"
api PATCH /api/v1/tenants/gamma '{"status":"active"}'
check_eq "restored twice: 409" 409 "$status"
api GET "/api/v1/audit?action=tenant.*&order=desc&limit=2"
check_eq "both in the audit log" "tenant.restore tenant.revoke" "$(body '[.items[].action] | join(" ")')"
api POST /api/v1/tokens '{"tenant":"gamma","role":"admin"}'
TOKEN=$(field token) api GET "/api/v1/audit?action=tenant.*&order=desc&limit=2"
check_eq "and in gamma's own log, the installation's admin named with its tenant (its tokens went with it)" \
    "tenant.restore tenant.revoke default/ default/" \
    "$(body '[(.items[].action), (.items[].actor | .[0:8])] | join(" ")')"
api GET /api/v1/tenants/gamma
check_eq "a tenant read by name" "gamma active" "$(body '.name + " " + .status')"
TOKEN=$beta api GET /api/v1/tenants/gamma
check_eq "another tenant's admin does not see it: 404" 404 "$status"
api GET /api/v1/tokens
tok=$(body '.items[0].id')
api GET "/api/v1/tokens/$tok"
check_eq "a token read by id, never the token itself" "$tok admin null" \
    "$(body '.id + " " + .role + " " + (.token | tostring)')"
TOKEN=$beta api GET "/api/v1/tokens/$tok"
check_eq "another tenant's token: 404" 404 "$status"

# Key export: admin only, audited, and the key belongs to the certificate.
openssl x509 -in leaf.pem -pubkey -noout > cert.pub
api POST "/api/v1/certificates/$id/private-key" "" -D key.headers
check_eq "admin exports the key" 200 "$status"
check_eq "kept by no cache, its type never sniffed" "2" \
    "$(tr -d '\r' < key.headers | grep -c -i -e '^Cache-Control: no-store$' -e '^X-Content-Type-Options: nosniff$')"
openssl pkey -in "$T/body" -pubout > key.pub
openssl x509 -in leaf.pem -pubkey -noout > cert.pub
check_eq "the exported key is the certificate's" "$(cat cert.pub)" "$(cat key.pub)"
api GET /api/v1/audit
check_contains "the export is in the audit log" "$(cat "$T/body")" '"action":"key.export"'
api POST "/api/v1/certificates/$id/private-key" '{"password":""}'
check_eq "the empty password: the key in clear" "200 1" "$status $(grep -c -- '-----BEGIN PRIVATE KEY-----' "$T/body")"
api GET "/api/v1/audit?action=key.export&order=desc&limit=1"
check_eq "and audited as unencrypted" false "$(body '.items[0].detail.encrypted')"
api POST "/api/v1/certificates/$id/private-key" '{"password":"a-key-password"}'
check_eq "a password: the key encrypted" "200 1" "$status $(grep -c -- '-----BEGIN ENCRYPTED PRIVATE KEY-----' "$T/body")"
api GET "/api/v1/audit?action=key.export&order=desc&limit=1"
check_eq "and audited so" true "$(body '.items[0].detail.encrypted')"
exports=$(body '.items[0].seq')
api POST "/api/v1/certificates/$id/private-key" "{\"password\":\"$(head -c 1025 /dev/zero | tr '\0' p)\"}"
check_eq "a password over 1024 bytes: 400, as every password taken" "400 password the password is longer than 1024 bytes" \
    "$status $(body .error.field) $(body .error.message)"
api GET "/api/v1/audit?action=key.export&order=desc&limit=1"
check_eq "and no export audited" "$exports" "$(body '.items[0].seq')"
# The audit log: pages, order and filters.
api GET "/api/v1/audit?limit=1000"
all=$(body '[.items[].seq] | map(tostring) | join(" ")')
newest=$(body '.items[-1].seq')
api GET "/api/v1/audit?limit=1000&order=desc"
check_eq "order=desc: the same entries, newest first" "$(echo "$all" | tr ' ' '\n' | sort -rn | tr '\n' ' ' | sed 's/ $//')" \
    "$(body '[.items[].seq] | map(tostring) | join(" ")')"
paged="" cursor=""
while :; do
    api GET "/api/v1/audit?limit=2${cursor:+&cursor=$cursor}"
    paged="$paged $(body '[.items[].seq] | map(tostring) | join(" ")')"
    cursor=$(body '.next_cursor // empty')
    [ -n "$cursor" ] || break
done
check_eq "pages of two, cursor after cursor, give every entry once" "$all" "$(echo $paged)"
api GET "/api/v1/audit?limit=1&order=desc"
check_eq "the newest alone" "$newest" "$(body '.items[0].seq')"
api GET "/api/v1/audit?action=key.export"
check_eq "action: that action only" "key.export" "$(body '[.items[].action] | unique | join(",")')"
api GET "/api/v1/audit?action=certificate.*&limit=1000"
check_eq "action prefix: certificate actions only" "true" "$(body '[.items[].action | startswith("certificate.")] | all and length > 0')"
api GET "/api/v1/audit?action=key.export,tenant.*&limit=1000"
check_eq "several actions, comma-separated: any of them" "key.export tenant.create tenant.restore tenant.revoke" \
    "$(body '[.items[].action] | unique | join(" ")')"
api GET "/api/v1/audit?action=a,b,c,d,e,f,g,h,i"
check_eq "more than 8: 400" "400 action" "$status $(body .error.field)"
api GET "/api/v1/audit?object_id=$id&limit=1000"
check_eq "object_id: that certificate's entries" "$id" "$(body '[.items[].object_id] | unique | join(",")')"
api GET "/api/v1/audit?actor=system:bootstrap&limit=1000"
check_eq "actor: the first start's entries" "system:bootstrap" "$(body '[.items[].actor] | unique | join(",")')"
api GET "/api/v1/audit?since=2999-01-01T00:00:00Z"
check_eq "since the future: nothing" "0 null" "$(body '.items | length') $(body .next_cursor)"
api GET "/api/v1/audit?until=2000-01-01"
check_eq "until the past: nothing" 0 "$(body '.items | length')"
for bad in "order=sideways order" "limit=0 limit" "limit=1001 limit" "cursor=zz cursor" "since=yesterday since" \
    "after=-1 after" "after=3&order=desc after" "since=2030-01-01&until=2029-01-01 until"; do
    api GET "/api/v1/audit?${bad% *}"
    check_eq "audit with ${bad% *}: 400 naming ${bad#* }" "400 ${bad#* }" "$status $(body .error.field)"
done
# Query values read alike on every route: an empty cursor is the first page (audit refused
# it, the others took it); an empty filter is refused (ca_id= listed nothing, kind= was a 400);
# the words of a value in any case (kind=CA was a 400, format=PEM taken); a "%" that begins no
# escape, or a value that is not UTF-8, refused (search=%zz and %C3%28 searched).
api GET "/api/v1/audit?cursor=&limit=1"
check_eq "audit?cursor=: the first page" "200 1" "$status $(body '.items | length')"
api GET "/api/v1/device-decisions?cursor="
check_eq "device-decisions?cursor=: the same" 200 "$status"
for bad in "certificates?ca_id= ca_id" "audit?actor= actor" "certificates?kind= kind"; do
    api GET "/api/v1/${bad% *}"
    check_eq "${bad% *}: 400 saying it is empty" "400 ${bad#* } true" \
        "$status $(body .error.field) $(body '.error.message | contains("is empty: give it a value, or leave it out")')"
done
api GET "/api/v1/certificates?kind=CA&limit=1"
check_eq "kind=CA: the CAs" "200 true" "$status $(body '.items[0].is_ca')"
api GET "/api/v1/audit?order=DESC&limit=1"
check_eq "order=DESC: newest first" "200 $newest" "$status $(body '.items[0].seq')"
api GET "/api/v1/certificates?search=%zz"
check_eq "search=%zz: 400" "400 true" "$status $(body '.error.message | contains("begins no %XX escape")')"
api GET "/api/v1/certificates?search=%C3%28"
check_eq "search that is not UTF-8: 400 naming it" "400 search" "$status $(body .error.field)"

# Export in every format; PKCS#12 with its key, read back by openssl.
curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -o exported.der "https://localhost:$port/api/v1/certificates/$id/export?format=der"
check_eq "DER export is the certificate" "$(openssl x509 -in leaf.pem -noout -fingerprint -sha256)" "$(openssl x509 -inform DER -in exported.der -noout -fingerprint -sha256)"
curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -o exported.pem "https://localhost:$port/api/v1/certificates/$id/export?format=pem"
check_eq "PEM export carries the chain to the root" 3 "$(grep -c 'BEGIN CERTIFICATE' exported.pem)"
if openssl verify -CAfile "$data/ca.pem" -untrusted exported.pem leaf.pem >/dev/null; then ok "the exported chain verifies"; else fail "not so: the exported chain verifies"; fi
status=$(curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{"format":"p12","password":"s3cret"}' -o exported.p12 -w '%{http_code}' "https://localhost:$port/api/v1/certificates/$id/export")
check_eq "PKCS#12 export" 200 "$status"
openssl pkcs12 -in exported.p12 -nocerts -nodes -passin pass:s3cret 2>/dev/null | openssl pkey -pubout > p12key.pub
check_eq "the PKCS#12 key is the certificate's" "$(cat cert.pub)" "$(cat p12key.pub)"
TOKEN=$viewer api POST "/api/v1/certificates/$id/export" '{"format":"jks","password":"s3cret"}'
check_eq "viewer may not export a keystore with the key: 403" 403 "$status"
# A truststore (what keytool -importcert makes): the certificates alone, each a trusted entry,
# for anyone who may read the certificate.
TOKEN=$viewer api POST "/api/v1/certificates/$id/export" '{"format":"jks","password":"s3cret","truststore":true}'
cp "$T/body" truststore.jks
list=$(keytool -list -keystore truststore.jks -storepass s3cret 2>/dev/null)
check_eq "a viewer exports it as a JKS truststore: trusted entries, no key" "200 0 true" \
    "$status $(grep -c PrivateKeyEntry <<<"$list") $(grep -q trustedCertEntry <<<"$list" && echo true)"
api POST "/api/v1/certificates/$id/export" '{"format":"pem","truststore":true}'
check_eq "truststore with pem: 400 on truststore" "400 truststore" "$status $(body .error.field)"
api GET "/api/v1/certificates/$id/export?format=p12"
check_eq "PKCS#12 by GET (no password) is refused: 400" 400 "$status"
# Each export field goes with the formats that use it; with another it would go unread (a
# key asked for in DER came back without it), so it is refused, naming the field.
for b in 'der include_key {"format":"der","include_key":true}' 'p7b include_key {"format":"p7b","include_key":true}' \
    'der password {"format":"der","password":"s3cret"}' 'pem password {"format":"pem","password":"s3cret"}' \
    'jks legacy {"format":"jks","password":"s3cret","legacy":true}' 'pem include_key {"format":"pem","include_key":"yes"}' \
    'pem include_key {"format":"pem","include_key":"true"}'; do
    set -- $b
    api POST "/api/v1/certificates/$id/export" "$3"
    check_eq "$1 with $2 as given: 400 on $2" "400 $2" "$status $(body .error.field)"
done
api POST "/api/v1/certificates/$id/export" '{"format":"pem","include_key":true,"password":"s3cret"}'
check_contains "pem with include_key and a password: the key encrypted" "$(cat "$T/body")" "BEGIN ENCRYPTED PRIVATE KEY"
check_eq "the key first, then the certificate and its chain (as the spec says)" \
    "ENCRYPTED PRIVATE KEY,CERTIFICATE" "$(sed -n 's/^-----BEGIN \(.*\)-----$/\1/p' "$T/body" | uniq | paste -sd,)"

# Rename, chain, duplicate import, delete, a new root CA.
api PATCH "/api/v1/certificates/$id" '{"name":"web renamed"}'
check_contains "rename" "$(cat "$T/body")" '"name":"web renamed"'
api GET "/api/v1/cas/$issuer/chain"
check_eq "chain holds the issuer and the root" 2 "$(grep -c 'BEGIN CERTIFICATE' "$T/body")"
pem_json=$(awk '{printf "%s\\n", $0}' leaf.pem)
api POST /api/v1/certificates/import "{\"name\":\"again\",\"certificate\":\"$pem_json\"}"
check_eq "importing a certificate already held: 409" 409 "$status"
check_contains "the duplicate names the existing id" "$(cat "$T/body")" "\"existing_id\":\"$id\""
api POST /api/v1/certificates/import "{\"name\":\"again\",\"certificate\":\"$pem_json\",\"preview\":true}"
check_eq "its preview is refused the same way, naming it too" "409 already_exists $id" \
    "$status $(body '.error.code + " " + .error.existing_id')"
# Imported alone, then with its key: the key is added to the one held (200), once.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout later.key -subj /CN=later.example \
    -days 10 -out later.pem 2>/dev/null
later_json=$(awk '{printf "%s\\n", $0}' later.pem)
later_key=$(awk '{printf "%s\\n", $0}' later.key)
api POST /api/v1/certificates/import "{\"certificate\":\"$later_json\"}"
check_eq "a certificate imported without its key" 201 "$status"
later_id=$(field id)
api POST /api/v1/certificates/import "{\"certificate\":\"$later_json\",\"private_key\":\"$later_key\"}"
check_eq "the same with its key: 200, the key added" 200 "$status"
check_contains "the one held, now with its key" "$(cat "$T/body")" "\"id\":\"$later_id\""
check_contains "has_private_key" "$(cat "$T/body")" '"has_private_key":true'
api POST /api/v1/certificates/import "{\"certificate\":\"$later_json\",\"private_key\":\"$later_key\"}"
check_eq "and once only: then 409" 409 "$status"
api GET "/api/v1/audit?action=certificate.key_add"
check_contains "the key added is audited" "$(cat "$T/body")" "$later_id"
api POST /api/v1/cas '{"name":"Team Root","type":"root","subject":{"common_name":"Team Root","organization":"Acme"},"key_type":"p384","days":3650}'
check_eq "create a root CA" 201 "$status"
api GET /api/v1/profiles
check_contains "profiles listed" "$(cat "$T/body")" '"name":"device"'
api DELETE "/api/v1/certificates/$id"
check_eq "delete" 200 "$status"
api GET "/api/v1/certificates/$id"
check_eq "deleted certificate is gone" 404 "$status"
api POST /api/v1/certificates "{\"name\":\"keeper\",\"profile\":\"tls-client\",\"subject\":{\"common_name\":\"keeper\"},\"ca_id\":\"$issuer\"}"
check_eq "issue one to keep across the restart" 201 "$status"
id=$(field id)

# The API describes itself.
curl -s --cacert "$data/ca.pem" -o served.yaml "https://localhost:$port/api/v1/openapi.yaml"
cmp -s served.yaml "$CERTHUB_SOURCE_DIR/docs/api/openapi.yaml" || fail "openapi.yaml is served as written: served.yaml and $CERTHUB_SOURCE_DIR/docs/api/openapi.yaml differ"
ok "openapi.yaml is served as written"

# A CSR made on the server, signed by an outside CA (openssl), attached.
api POST /api/v1/csrs '{"name":"partner","subject":{"common_name":"partner.example"},"sans":["dns:partner.example"],"key_type":"p256"}'
check_eq "create a CSR" 201 "$status"
csr_id=$(field id)
printf '%b' "$(field pem)" > partner.csr
if openssl req -in partner.csr -verify -noout 2>/dev/null; then ok "openssl verifies the server's CSR"; else fail "not so: openssl verifies the server's CSR"; fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout outside.key -subj /CN=Outside -days 5 -out outside.pem 2>/dev/null
openssl x509 -req -in partner.csr -CA outside.pem -CAkey outside.key -CAcreateserial -days 3 -out partner.pem 2>/dev/null
pj=$(awk '{printf "%s\\n", $0}' partner.pem)
api POST "/api/v1/csrs/$csr_id/certificate" "{\"certificate\":\"$pj\"}"
check_eq "attach the signed certificate" 201 "$status"
check_contains "the attached certificate keeps the server key" "$(cat "$T/body")" '"has_private_key":true'

# A keystore from keytool, uploaded and listed entry by entry.
keytool -genkeypair -keystore up.jks -storetype JKS -storepass changeit -keypass changeit -alias upload-me -keyalg EC -groupname secp256r1 -dname "CN=uploaded" -validity 10 >/dev/null 2>&1
b64=$(base64 -w0 up.jks)
api POST /api/v1/keystores "{\"name\":\"from keytool\",\"data\":\"$b64\",\"password\":\"wrong\"}"
check_eq "keystore with the wrong password: 400" 400 "$status"
check_contains "wrong password named" "$(cat "$T/body")" '"code":"wrong_password"'
api POST /api/v1/keystores "{\"name\":\"from keytool\",\"data\":\"$b64\",\"password\":\"changeit\"}"
check_eq "keystore upload" 201 "$status"
ks_id=$(field id)
api GET "/api/v1/keystores/$ks_id/entries"
check_contains "the entry with its alias" "$(cat "$T/body")" '"alias":"upload-me"'
check_contains "the entry's certificate details" "$(cat "$T/body")" '"subject":"CN=uploaded"'
api GET "/api/v1/keystores/$ks_id"
check_eq "the keystore with its entries" "from keytool upload-me CN=uploaded" \
    "$(body '.name + " " + .entries[0].alias + " " + .entries[0].certificate.subject')"
TOKEN=$beta api GET "/api/v1/keystores/$ks_id"
check_eq "another tenant's keystore is not found" 404 "$status"
# One entry whole (the keystore seed's entry details): a PKCS#12 entry of a key, its
# certificate and the outside CA after it, under an alias that holds a slash.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout entry.key -subj /CN=entry.example -out entry.csr 2>/dev/null
openssl x509 -req -in entry.csr -CA outside.pem -CAkey outside.key -CAcreateserial -days 3 -out entry.pem 2>/dev/null
openssl pkcs12 -export -inkey entry.key -in entry.pem -certfile outside.pem -name "web/prod" -passout pass:changeit -out entry.p12
api POST "/api/v1/keystores?name=chained" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: changeit" --data-binary @entry.p12
check_eq "a PKCS#12 with a chain uploaded" 201 "$status"
chained=$(field id)
api GET "/api/v1/keystores/$chained/entries/web%2Fprod"
check_eq "an entry by its alias: its certificate, key and chain" \
    "200 web/prod true CN=entry.example P-256 CN=Outside" \
    "$status $(body '.alias + " " + (.has_private_key | tostring) + " " + .certificate.subject + " " + .certificate.details.key_curve + " " + ([.chain[].subject] | join(","))')"
check_eq "the entry's certificate is the one listed" "$(body .certificate_id)" "$(body .certificate.id)"
openssl x509 -in entry.pem -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f' > want.txt
check_eq "and it is the certificate that went in" "$(cat want.txt)" "$(body .certificate.sha256)"
outside_id=$(body '.chain[0].id')
api DELETE "/api/v1/certificates/$outside_id"
check_eq "a certificate of a keystore entry's chain is not deleted from under it: 409" "409 true" \
    "$status $(body '.error.message | contains("entry \"web/prod\" of keystore \"chained\"")')"
api GET "/api/v1/keystores/$chained/entries/nothing-here"
check_eq "an alias the keystore lacks: 404 on alias" "404 alias" "$status $(body .error.field)"
TOKEN=$beta api GET "/api/v1/keystores/$chained/entries/web%2Fprod"
check_eq "nor does another tenant see the entry" 404 "$status"
# An encoded NUL ended the decoded path: the DELETE of one entry, so cut short, was the DELETE of
# the whole keystore, and a GET of an export the certificate's details.
api DELETE "/api/v1/keystores/$chained%00/entries/web%2Fprod"
check_eq "an encoded NUL in the path: 400, naming it" "400 true" "$status $(body '.error.message | contains("%00")')"
api GET "/api/v1/keystores/$chained/entries/web%2Fprod"
check_eq "and the keystore and its entry are still there" "200 web/prod" "$status $(body .alias)"
api GET "/api/v1/certificates/$id%00/export"
check_eq "nor is a certificate's export cut short to the certificate" 400 "$status"
api GET "/api/v1/certificates/$id/export?format=pem%00der"
check_eq "nor a value of the query" 400 "$status"
# An encoded slash is part of the segment it is in: only an alias, which takes the rest of the
# path, holds one.  In an id it made another route of the path (the entry's DELETE for a
# keystore's id, the export for a certificate's).
api DELETE "/api/v1/keystores/$chained%2Fentries%2Fweb%2Fprod"
check_eq "an encoded slash in a keystore's id: 404" 404 "$status"
api GET "/api/v1/keystores/$chained/entries/web%2Fprod"
check_eq "and the entry is still there" "200 web/prod" "$status $(body .alias)"
api GET "/api/v1/certificates/$id%2Fexport"
check_eq "an encoded slash in a certificate's id: 404, not its export" "404 not_found" "$status $(body .error.code)"
api POST "/api/v1/certificates/$id%2fexport" '{"format":"pem"}'
check_eq "in lower case, asked with a method the export takes" 404 "$status"
# A keystore's entries a page at a time, in the keystore's order.
for a in alpha beta gamma; do
    keytool -genkeypair -keystore three.jks -storetype JKS -storepass changeit -keypass changeit -alias "$a" \
        -keyalg EC -groupname secp256r1 -dname "CN=$a" -validity 10 >/dev/null 2>&1
done
api POST "/api/v1/keystores?name=three" "" -H "Content-Type: application/x-java-keystore" -H "Certhub-Password: changeit" \
    --data-binary @three.jks
three=$(field id)
api GET "/api/v1/keystores/$three/entries?limit=1000"
all=$(body '[.items[].alias] | join(" ")')
check_eq "a keystore's three entries" 3 "$(echo "$all" | wc -w)"
check_eq "in pages of 1, each once and in order" "$all" "$(walk_pages "/api/v1/keystores/$three/entries" 1 alias)"
api GET "/api/v1/keystores/$three/entries?limit=2"
# (each alias is its certificate's common name)
check_eq "each entry of a page with its certificate" "$(echo "$all" | awk '{ print "CN=" $1 " CN=" $2 }')" \
    "$(body '[.items[].certificate.subject] | join(" ")')"
api GET "/api/v1/keystores/$three/entries?limit=2&cursor=$(body .next_cursor)"
check_eq "and so on the next page" "CN=$(echo "$all" | awk '{ print $3 }')" "$(body '[.items[].certificate.subject] | join(" ")')"

# Metrics for Prometheus (bearer token like every other route but health).  A certificate of
# 3 days makes the issuer's first expiry 3 days away.
api POST /api/v1/certificates "{\"name\":\"soon\",\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"soon.example\"},\"key_type\":\"p256\",\"days\":3,\"ca_id\":\"$issuer\"}"
check_eq "a certificate of 3 days" 201 "$status"
status=$(curl -s -o metrics.txt -w '%{http_code}' --cacert "$data/ca.pem" "https://localhost:$port/metrics")
check_eq "metrics need a token" 401 "$status"
curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -o metrics.txt "https://localhost:$port/metrics"
check_contains "request counter by route" "$(cat metrics.txt)" 'certhub_http_requests_total{route="POST /api/v1/certificates",status="2xx"}'
check_contains "client errors counted" "$(cat metrics.txt)" 'status="4xx"'
post='route="POST /api/v1/certificates",status="2xx"'
total=$(sed -n "s|^certhub_http_requests_total{$post} ||p" metrics.txt)
check_eq "the latency histogram's +Inf bucket counts every request" "$total" \
    "$(sed -n "s|^certhub_http_request_duration_seconds_bucket{$post,le=\"+Inf\"} ||p" metrics.txt)"
check_eq "its buckets only grow, up to the count" "$total" \
    "$(grep "^certhub_http_request_duration_seconds_bucket{$post," metrics.txt |
        awk 'NR > 1 && $NF < last { bad = 1 } { last = $NF } END { print bad ? "shrinks" : last }')"
check_eq "and it has a bucket per bound" 15 "$(grep -c "^certhub_http_request_duration_seconds_bucket{$post," metrics.txt)"
api GET /api/v1/profiles
curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -o metrics.txt "https://localhost:$port/metrics"
check_contains "the route table's last routes are counted too" "$(cat metrics.txt)" \
    'certhub_http_requests_total{route="GET /api/v1/profiles",status="2xx"}'
check_contains "certificates by state" "$(cat metrics.txt)" 'certhub_certificates{state="valid"}'
left=$(sed -n "s/^certhub_ca_seconds_to_earliest_expiry{ca=\"$issuer\"} //p" metrics.txt)
[ -n "$left" ] && [ "$left" -gt $((3 * 86400 - 120)) ] && [ "$left" -le $((3 * 86400 + 120)) ] ||
    fail "seconds to the issuer's earliest expiry: '$left', expected about $((3 * 86400))"
ok "seconds to the earliest expiry per CA: its certificate of 3 days"
# Another tenant's admin reads its own tenant's figures, not what the whole process does.
curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $beta" -o beta-metrics.txt "https://localhost:$port/metrics"
check_contains "another tenant reads its certificates by state" "$(cat beta-metrics.txt)" 'certhub_certificates{state="valid"}'
check_contains "and its CAs' expiries" "$(cat beta-metrics.txt)" "certhub_ca_seconds_to_earliest_expiry{ca=\"$beta_issuing\"}"
check_eq "but no request counts, connections, jobs or device decisions of the installation" 0 \
    "$(grep -c '^certhub_\(http\|scheduler\|server_certificate\|device_decisions\)' beta-metrics.txt || true)"
check_eq "nor the default tenant's CAs" 0 "$(grep -c "ca=\"$issuer\"" beta-metrics.txt || true)"

# Signing in: a user that does not exist is answered as a wrong password is; after five
# failures in a row for a name, the next attempt must wait, the right password too; once the
# window has passed the right password gets in and clears the count.
login() { TOKEN="" api POST /api/v1/session "{\"username\":\"$1\",\"password\":\"$2\"}"; }
TOKEN="" api POST /api/v1/session '{"username":"admin"}'
check_eq "no password: 400 naming it (nothing tried, nothing counted)" "400 password" "$status $(body .error.field)"
login nobody "some password"
check_eq "an unknown user: 401, the words of a wrong password" "401 wrong user name or password" \
    "$status $(body .error.message)"
# The window is 2 s from the fifth failure, and a check can tell only of attempts it knows were
# answered within it: the time is taken before the fifth failure is sent (certhubd starts the
# window once it has found the password wrong), and the sixth and seventh attempts count when
# the seventh was answered less than 2 s later, measured to the microsecond.  A loaded machine
# that took longer leaves the round unsaid (what was answered may be right after the window):
# the right password, asked until the window has passed, clears the count, and the round is
# run again.  (certhubd's clock cannot be stopped here instead: this test runs in the sanitizer
# build too, where libfaketime's preload is refused.)
password=$(cat "$data/admin-password")
for round in 1 2 3 4 5; do
    for i in 1 2 3 4 5; do
        [ "$i" != 5 ] || t5=$(now_us)
        login admin "not the password $i"
        [ "$status" = 401 ] || fail "round $round, wrong password $i: $status"
    done
    login admin "$password"
    sixth=$status
    sixth_body=$(<"$T/body")
    curl -s -o /dev/null -D headers.txt --cacert "$data/ca.pem" -H "Content-Type: application/json" \
        --data '{"username":"admin","password":"x"}' "https://localhost:$port/api/v1/session"
    took=$(($(now_us) - t5))
    [ "$took" -ge 2000000 ] || break
    echo "# round $round: the fifth failure to the seventh attempt took $(secs_since "$t5") s, longer than the window"
    [ "$round" != 5 ] || fail "five rounds of sign-ins, each slower than the 2 s window: nothing could be checked in it"
    for i in $(seq 1 600); do
        login admin "$password"
        [ "$status" = 201 ] && break
        sleep 0.1
    done
    [ "$status" = 201 ] || fail "the right password was still refused a minute after the window: $status $(cat "$T/body")"
done
ok "five wrong passwords: 401 each"
printf '%s' "$sixth_body" >"$T/body"
check_eq "the sixth attempt waits, even with the right password: 429" "429 too_many_requests" \
    "$sixth $(body .error.code)"
# (said in whole seconds rounded up: 2 s, or 1 s once the machine took a second to send it, as
# the Retry-After below allows too)
case "$(body .error.message)" in
*"try again in 2 s" | *"try again in 1 s") ok "and says for how long" ;;
*) fail "the wait is not said in the window's seconds: $(body .error.message)" ;;
esac
tr -d '\r' < headers.txt | grep -qE '^Retry-After: [12]$' || fail "no Retry-After of the window left: $(cat headers.txt)"
ok "with a Retry-After header of the seconds left"
sleep 2.2
login admin "$password"
check_eq "after the window the right password gets in" 201 "$status"
login admin "wrong again"
check_eq "and the count started again: a wrong one is a 401, not a wait" 401 "$status"

# Console users: listed, their role changed and password reset by an admin (their sessions end
# with it), removed; not the admin's own user.
api POST /api/v1/users '{"name":"ops","role":"operator","password":"ops-password-1"}'
check_eq "a user made" 201 "$status"
api GET /api/v1/users
check_eq "users listed by name, no password in sight" "admin:admin ops:operator false" \
    "$(body '[.items[] | .name + ":" + .role] | join(" ")') $(grep -q password "$T/body" && echo true || echo false)"
curl -s -o /dev/null -c ops.jar --cacert "$data/ca.pem" -H "Content-Type: application/json" \
    --data '{"username":"ops","password":"ops-password-1"}' "https://localhost:$port/api/v1/session"
session_role() { curl -s -b ops.jar --cacert "$data/ca.pem" "https://localhost:$port/api/v1/session" | jq -r '.role // .error.code'; }
check_eq "ops signed in" operator "$(session_role)"
api PATCH /api/v1/users/ops '{"role":"viewer"}'
check_eq "its role changed" "200 true" "$status $(body .role_changed)"
check_eq "which ends its session: it carried the old role" unauthorized "$(session_role)"
api PATCH /api/v1/users/ops '{"password":"short"}'
check_eq "a new password too short: 400" "400 password" "$status $(body .error.field)"
api PATCH /api/v1/users/ops '{"password":"a-reset-password-1"}'
check_eq "an admin resets a password" 200 "$status"
login ops "ops-password-1"
check_eq "the old one no longer signs in" 401 "$status"
login ops "a-reset-password-1"
check_eq "the new one does, with the new role" "201 viewer" "$status $(body .role)"
ops_session() { # JAR: signed in as ops, the CSRF token printed
    curl -s -o "$1.json" -c "$1" --cacert "$data/ca.pem" -H "Content-Type: application/json" \
        --data '{"username":"ops","password":"a-reset-password-1"}' "https://localhost:$port/api/v1/session"
    jq -r .csrf_token "$1.json"
}
csrf1=$(ops_session one.jar)
ops_session two.jar >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -b one.jar -H "X-CSRF-Token: $csrf1" -H "Content-Type: application/json" \
    --data '{"current_password":"a-reset-password-1","new_password":"ops-own-password-2"}' --cacert "$data/ca.pem" \
    "https://localhost:$port/api/v1/session/password")
check_eq "ops changes its own password" 200 "$code"
role_of() { curl -s -b "$1" --cacert "$data/ca.pem" "https://localhost:$port/api/v1/session" | jq -r '.role // .error.code'; }
check_eq "its other session ends, the one it changed it in stays" "unauthorized viewer" "$(role_of two.jar) $(role_of one.jar)"
api PATCH /api/v1/users/ops '{"password":"a-reset-password-1"}'
api PATCH /api/v1/users/ops '{}'
check_eq "nothing to change: 400" 400 "$status"
api PATCH /api/v1/users/nobody '{"role":"admin"}'
check_eq "an unknown user: 404" 404 "$status"
curl -s -o /dev/null -c admin.jar --cacert "$data/ca.pem" -H "Content-Type: application/json" \
    --data "{\"username\":\"admin\",\"password\":\"$(cat "$data/admin-password")\"}" "https://localhost:$port/api/v1/session"
csrf=$(curl -s -b admin.jar --cacert "$data/ca.pem" "https://localhost:$port/api/v1/session" | jq -r .csrf_token)
# Still the first start's password: GET /session says so, for the console to invite its change
# (to nobody else: a token has no password).
check_eq "admin with the first start's password: first_password true; a token: false" "true false" \
    "$(curl -s -b admin.jar --cacert "$data/ca.pem" "https://localhost:$port/api/v1/session" | jq -r .first_password) \
$(api GET /api/v1/session; body .first_password)"
code=$(curl -s -o self.json -w '%{http_code}' -b admin.jar -H "X-CSRF-Token: $csrf" -X DELETE --cacert "$data/ca.pem" \
    "https://localhost:$port/api/v1/users/admin")
check_eq "an admin signed in cannot remove itself" "409 another admin can" "$code $(jq -r .error.message self.json | grep -o 'another admin can')"
# Acting in another tenant, the installation's admin meets a user there with its own name:
# that one is not itself, and may be removed.
as_admin() { curl -s -o as.json -w '%{http_code}' -b admin.jar -H "X-CSRF-Token: $csrf" -H "Content-Type: application/json" \
    --cacert "$data/ca.pem" "$@"; }
codes="$(as_admin -X PATCH --data '{"tenant":"beta"}' "https://localhost:$port/api/v1/session")"
codes="$codes $(as_admin --data '{"name":"admin","role":"admin","password":"beta-admin-pass-1"}' "https://localhost:$port/api/v1/users")"
codes="$codes $(as_admin -X PATCH --data '{"role":"viewer"}' "https://localhost:$port/api/v1/users/admin")"
codes="$codes $(as_admin -X DELETE "https://localhost:$port/api/v1/users/admin")"
codes="$codes $(as_admin -X PATCH --data '{"tenant":"default"}' "https://localhost:$port/api/v1/session")"
codes="$codes $(as_admin -X DELETE "https://localhost:$port/api/v1/users/admin")"
check_eq "in beta its namesake is changed and removed; back home, itself is still refused" "200 201 200 200 200 409" "$codes"
# Its own password changed while acting in beta is its own, not beta's user of the same name
# (checked against the current password of that one, and changed), and what it does in beta
# is audited there as the installation's user.
codes="$(as_admin -X PATCH --data '{"tenant":"beta"}' "https://localhost:$port/api/v1/session")"
codes="$codes $(as_admin --data '{"name":"admin","role":"admin","password":"beta-admin-pass-1"}' "https://localhost:$port/api/v1/users")"
codes="$codes $(as_admin --data '{"current_password":"beta-admin-pass-1","new_password":"hijacked-pass-12"}' \
    "https://localhost:$port/api/v1/session/password")"
codes="$codes $(as_admin --data "{\"current_password\":\"$(cat "$data/admin-password")\",\"new_password\":\"own-admin-pass-12\"}" \
    "https://localhost:$port/api/v1/session/password")"
check_eq "acting in beta: beta's admin's password is refused as the current one, its own is changed" "200 201 403 200" "$codes"
check_eq "the session it changed it in goes on" 200 "$(as_admin "https://localhost:$port/api/v1/session")"
codes="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" -H "Content-Type: application/json" \
    --data '{"username":"admin","password":"beta-admin-pass-1","tenant":"beta"}' "https://localhost:$port/api/v1/session")"
codes="$codes $(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" -H "Content-Type: application/json" \
    --data '{"username":"admin","password":"own-admin-pass-12"}' "https://localhost:$port/api/v1/session")"
check_eq "beta's admin keeps its password; the installation admin signs in with its new one" "201 201" "$codes"
# Who runs the installation, said by GET /session: the console offers what only they may read.
as_admin "https://localhost:$port/api/v1/session" >/dev/null
check_eq "the installation's admin acting in beta is still the installation's" "beta true" \
    "$(jq -r '"\(.tenant) \(.installation_admin)"' as.json)"
check_eq "its password changed, it is no longer the first start's" false "$(jq -r .first_password as.json)"
curl -s -o /dev/null -c beta.jar --cacert "$data/ca.pem" -H "Content-Type: application/json" \
    --data '{"username":"admin","password":"beta-admin-pass-1","tenant":"beta"}' "https://localhost:$port/api/v1/session"
check_eq "beta's own admin is not" "beta false" \
    "$(curl -s -b beta.jar --cacert "$data/ca.pem" "https://localhost:$port/api/v1/session" | jq -r '"\(.tenant) \(.installation_admin)"')"
as_admin "https://localhost:$port/api/v1/audit?action=user.create&order=desc&limit=1" >/dev/null
check_eq "in beta's log, the user made from the switched session is the installation's" "default/user:admin" \
    "$(jq -r '.items[0].actor' as.json)"
as_admin -X PATCH --data '{"tenant":"default"}' "https://localhost:$port/api/v1/session" >/dev/null
as_admin "https://localhost:$port/api/v1/audit?action=user.password&order=desc&limit=1" >/dev/null
check_eq "and its password change is in its own tenant's log, under its own name" "user:admin" "$(jq -r '.items[0].actor' as.json)"
TOKEN=$viewer api GET /api/v1/users
check_eq "a viewer does not list users" 403 "$status"
api DELETE /api/v1/users/ops
check_eq "a user removed" "200 true" "$status $(body .deleted)"
login ops "a-reset-password-1"
check_eq "it no longer signs in" 401 "$status"
api GET "/api/v1/audit?action=user.*"
check_eq "each change audited (after the first start's admin), no password in the log" "user.create user.create user.update user.update user.password user.update user.password user.delete false" \
    "$(body '[.items[].action] | join(" ")') $(grep -q 'reset-password' "$T/body" && echo true || echo false)"
# A password another admin sets for admin is no longer the first start's either: the file goes
# with it (put back here as it was, the change above having removed it).
printf 'first-start-password\n' >"$data/admin-password"
as_admin "https://localhost:$port/api/v1/session" >/dev/null
check_eq "while the file is there, admin's session says first_password" true "$(jq -r .first_password as.json)"
api PATCH /api/v1/users/admin '{"password":"reset-admin-pass-12"}'
check_eq "admin's password reset by another admin" 200 "$status"
[ ! -e "$data/admin-password" ] || fail "DATA_DIR/admin-password is still there after admin's password was reset"
ok "and the first-start password file is gone with it"

# Tokens a console user made are its own: listed with their maker, they end when the user is
# removed (all) or demoted (those above its new role), in the same change, each audited with
# why; nobody else's token goes with them.
api POST /api/v1/users '{"name":"carol","role":"admin","password":"carol-password-1"}'
check_eq "carol, an admin, made" 201 "$status"
carol_csrf=$(curl -s -c carol.jar --cacert "$data/ca.pem" -H "Content-Type: application/json" \
    --data '{"username":"carol","password":"carol-password-1"}' "https://localhost:$port/api/v1/session" | jq -r .csrf_token)
as_carol() { curl -s -o carol.json -w '%{http_code}' -b carol.jar -H "X-CSRF-Token: $carol_csrf" \
    -H "Content-Type: application/json" --cacert "$data/ca.pem" "$@"; }
carol_token() { # ROLE NAME: a token carol makes from her session, "TOKEN ID" printed
    local code
    code=$(as_carol --data "{\"role\":\"$1\",\"name\":\"$2\"}" "https://localhost:$port/api/v1/tokens")
    [ "$code" = 201 ] || fail "carol making the $1 token $2: $code $(cat carol.json)"
    jq -r '"\(.token) \(.id)"' carol.json
}
read -r c_admin c_admin_id <<<"$(carol_token admin carol-admin)"
read -r c_op c_op_id <<<"$(carol_token operator carol-op)"
read -r c_view c_view_id <<<"$(carol_token viewer carol-view)"
TOKEN=$c_admin api POST /api/v1/tokens '{"role":"admin","name":"made-by-carols-token"}'
check_eq "carol's admin token makes another" 201 "$status"
c_child=$(body .token)
c_child_id=$(body .id)
codes="$(as_carol -X PATCH --data '{"tenant":"beta"}' "https://localhost:$port/api/v1/session")"
read -r c_beta c_beta_id <<<"$(carol_token viewer carol-in-beta)"
codes="$codes $(as_carol -X PATCH --data '{"tenant":"default"}' "https://localhost:$port/api/v1/session")"
check_eq "carol, an installation admin, made one in beta too" "200 200" "$codes"
uses() { # TOKEN...: the status of a read with each
    local t out=""
    for t in "$@"; do
        TOKEN=$t api GET "/api/v1/certificates?limit=1"
        out="$out${out:+ }$status"
    done
    echo "$out"
}
check_eq "each of them works, beta's own admin token too" "200 200 200 200 200 200" \
    "$(uses "$c_admin" "$c_op" "$c_view" "$c_child" "$c_beta" "$beta")"
api GET "/api/v1/tokens/$c_op_id"
carol_id=$(body .created_by)
if [[ $carol_id == usr_* ]]; then ok "a token made from a session names its user's id: $carol_id"; else fail "created_by of carol-op: $carol_id"; fi
check_eq "and the user's name" carol "$(body .created_by_name)"
api GET "/api/v1/tokens/$c_child_id"
check_eq "a token made by a token names that token" "$c_admin_id null" "$(body .created_by) $(body .created_by_name)"
api GET /api/v1/tokens
check_eq "the first start's token names nobody" null \
    "$(body '[.items[] | select(.name == "bootstrap admin")][0].created_by')"
api GET "/api/v1/tokens/$c_beta_id?tenant=beta"
check_eq "the one made in beta names the installation's user with its tenant" "$carol_id default/carol" \
    "$(body .created_by) $(body .created_by_name)"
check_contains "certhub token list has a column of who made each" "$(CERTHUB_TOKEN=$TOKEN "$CERTHUB" \
    --server "https://localhost:$port" --ca-file "$data/ca.pem" token list --all | grep carol-view)" " carol"

# Demoted to operator: the admin tokens that go back to her end (hers, and the one it made).
api PATCH /api/v1/users/carol '{"role":"operator"}'
check_eq "carol demoted: 2 tokens above operator revoked" "200 2" "$status $(body .tokens_revoked)"
check_eq "those refused, her operator and viewer tokens and beta's kept" "401 401 200 200 200 200" \
    "$(uses "$c_admin" "$c_child" "$c_op" "$c_view" "$c_beta" "$beta")"
api GET "/api/v1/audit?action=token.revoke&object_id=$c_child_id"
check_eq "each audited with why" "user_role_lowered carol $carol_id operator" \
    "$(body '.items[0].detail | "\(.reason) \(.user) \(.user_id) \(.role)"')"

# Removed: the rest end, in beta too; nobody else's.
api DELETE /api/v1/users/carol
check_eq "carol removed: her 3 other tokens revoked with her" "200 true 3" \
    "$status $(body .deleted) $(body .tokens_revoked)"
check_eq "her tokens refused; beta's admin token and the first start's work" "401 401 401 200 200" \
    "$(uses "$c_op" "$c_view" "$c_beta" "$beta" "$TOKEN")"
TOKEN=$c_view api GET /api/v1/certificates
check_eq "a revoked token is told so" "401 the API token was revoked" "$status $(body .error.message)"
api GET "/api/v1/audit?action=token.revoke&object_id=$c_view_id"
check_eq "in the log, why" "user_deleted carol" "$(body '.items[0].detail | "\(.reason) \(.user)"')"
api GET /api/v1/session
me=$(body .user)
api GET "/api/v1/audit?tenant=beta&action=token.revoke&object_id=$c_beta_id"
check_eq "in beta's log, where it was made, by whom and why" "default/$me user_deleted" \
    "$(body '.items[0] | "\(.actor) \(.detail.reason)"')"
api GET "/api/v1/audit?action=user.delete&order=desc&limit=1"
check_eq "the user's removal says how many went" 3 "$(body '.items[0].detail.tokens_revoked')"
api GET "/api/v1/tokens/$c_view_id"
check_eq "listed as revoked, still naming its maker by id" "revoked $carol_id null" \
    "$(body .status) $(body .created_by) $(body .created_by_name)"

# Restart: nothing secret printed, the same CA, the same token, the certificate still there.
stop_daemon -TERM
check_contains "SIGTERM stops it cleanly" "$(cat "$log")" "certhubd: stopped"
start_daemon
if grep -q "cht_" "$log"; then fail "the second start printed a token"; fi
ok "the second start prints nothing secret"
api GET "/api/v1/certificates/$id"
check_eq "the certificate survived the restart" 200 "$status"
TOKEN=$gamma api GET /api/v1/certificates
check_eq "the revoked tenant's token is still refused after the restart" 401 "$status"

done_testing
