#!/usr/bin/env bash
# A custom profile's name policy (allowed_domains and the switches beside it) and its key types
# over the API and the CLI: shown by GET, held to on every way of issuing (a key made by the
# server, a CSR that openssl made with SANs and a key of its own, a CSR made here, a public key,
# a renewal after the profile changed), and each refusal a 422 naming the name or the key type
# that changes nothing: no certificate, no audit row.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)

# The inventory and the audit log as counts, before and after a refusal.
counts() {
    local c a
    api GET "/api/v1/certificates?limit=1000"
    c=$(body '.items | length')
    api GET "/api/v1/audit?limit=1000"
    a=$(body '.items | length')
    echo "$c/$a"
}
# refused WHAT FIELD NAME METHOD PATH JSON: a 422 policy_violation on FIELD whose message names
# NAME (left in $msg), and nothing stored or audited.
refused() {
    local what=$1 field=$2 name=$3 before
    shift 3
    before=$(counts)
    api "$@"
    check_eq "$what: 422" 422 "$status"
    check_eq "$what: policy_violation on $field" "policy_violation $field" "$(body '.error.code + " " + .error.field')"
    msg=$(body .error.message)
    check_contains "$what: the message names it" "$msg" "$name"
    check_eq "$what: nothing stored, nothing audited" "$before" "$(counts)"
}

# ---- definitions
api POST /api/v1/profiles '{"name":"web","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["Example.COM.","*.corp.example"],"allow_subdomains":true}'
check_eq "a profile with a name policy" 201 "$status"
check_eq "its domains as compared: lower case, no trailing dot" '["example.com","*.corp.example"]' "$(jq -c .allowed_domains "$T/body")"
check_eq "the switches, defaults included" "true false false false" \
    "$(body '[.allow_subdomains, .allow_wildcards, .allow_ip_sans, .allow_uri_sans] | map(tostring) | join(" ")')"
api GET /api/v1/profiles/web
check_eq "GET shows the policy" '["example.com","*.corp.example"]' "$(jq -c .allowed_domains "$T/body")"
api GET /api/v1/profiles/tls-server
check_eq "a built-in profile has none" "null" "$(body .allowed_domains)"
api POST /api/v1/profiles '{"name":"plain","key_usage":["digital_signature"]}'
check_eq "a profile without one shows none" "null null" "$(body '[.allowed_domains, .allow_ip_sans] | map(tostring) | join(" ")')"
api POST /api/v1/profiles '{"name":"bad","key_usage":["digital_signature"],"allowed_domains":["bücher.example"]}'
check_eq "a domain not in ASCII: 400" "400 allowed_domains" "$status $(body .error.field)"
check_contains "the message says to write it as xn--" "$(body .error.message)" "xn--"
api POST /api/v1/profiles '{"name":"bad","key_usage":["digital_signature"],"allowed_domains":["a..example"]}'
check_eq "an empty label: 400" 400 "$status"
api POST /api/v1/profiles '{"name":"bad","key_usage":["digital_signature"],"allowed_domains":["f*.example"]}'
check_eq "'*' inside a label: 400" 400 "$status"
api POST /api/v1/profiles '{"name":"bad","key_usage":["digital_signature"],"allow_subdomains":true}'
check_eq "allow_subdomains without allowed_domains: 400" "400 allow_subdomains" "$status $(body .error.field)"
api POST /api/v1/profiles '{"name":"bad","key_usage":["digital_signature"],"allowed_domains":"example.com"}'
check_eq "allowed_domains not a list: 400" 400 "$status"
api GET /api/v1/profiles/bad
check_eq "none of those was stored" 404 "$status"

# ---- issuing
issue() { # JSON fields beside profile and ca_id
    api POST /api/v1/certificates "{\"profile\":\"web\",\"ca_id\":\"$issuer\",$1}"
}
issue '"key_type":"p256","sans":["dns:example.com","dns:WWW.Example.com","dns:a.b.example.com","dns:db.corp.example"]'
check_eq "names the policy allows (any case, below, one label below a glob)" 201 "$status"
issue '"key_type":"p256","subject":{"common_name":"api.example.com"}'
check_eq "a common name alone (made its DNS name)" 201 "$status"
before=$(counts)
refused "a SAN outside" sans "dns:evil.com" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:www.example.com\",\"dns:evil.com\"]}"
check_contains "the message says what the profile allows" "$msg" "example.com, *.corp.example and the names below them"
refused "a name that ends like an allowed one" sans "dns:notexample.com" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:notexample.com\"]}"
refused "two labels below a glob" sans "dns:a.b.corp.example" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:a.b.corp.example\"]}"
refused "the glob's own domain" sans "dns:corp.example" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:corp.example\"]}"
refused "a wildcard without allow_wildcards" sans "*.example.com" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:*.example.com\"]}"
refused "an IP address without allow_ip_sans" sans "ip:10.0.0.5" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:example.com\",\"ip:10.0.0.5\"]}"
refused "a URI without allow_uri_sans" sans "uri:https://evil.com" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"subject\":{\"common_name\":\"www.example.com\"},\"sans\":[\"uri:https://evil.com\"]}"
refused "an email address of another domain" sans "ops@evil.com" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:example.com\",\"email:ops@evil.com\"]}"
refused "a common name outside, with allowed SANs" subject "evil.com" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"subject\":{\"common_name\":\"evil.com\"},\"sans\":[\"dns:example.com\"]}"
refused "a common name alone outside" subject "intranet" POST /api/v1/certificates \
    "{\"profile\":\"web\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"subject\":{\"common_name\":\"intranet\"}}"
check_eq "after all those: as before" "$before" "$(counts)"
issue '"key_type":"p256","subject":{"common_name":"Web Frontend"},"sans":["dns:example.com"]'
check_eq "a common name no client takes for a host name is not checked" 201 "$status"
issue '"key_type":"p256","subject":{"common_name":"ops@evil.com"},"sans":["dns:example.com"]'
check_eq "nor one with '@'" 201 "$status"

# A CSR carries its own names: they are held to the policy as given ones are.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" -subj "/CN=www.example.com" \
    -addext "subjectAltName=DNS:www.example.com,DNS:attacker.net" -out "$T/bad.csr" 2>/dev/null
openssl req -new -key "$T/k.pem" -subj "/CN=www.example.com" -addext "subjectAltName=DNS:www.example.com" \
    -out "$T/good.csr" 2>/dev/null
openssl req -new -key "$T/k.pem" -subj "/CN=evil.com" -out "$T/cn.csr" 2>/dev/null
csr_json() { jq -Rs --arg ca "$issuer" '{profile:"web",ca_id:$ca,csr:.}' "$1"; }
refused "a CSR's own SAN outside" sans "the CSR's dns:attacker.net" POST /api/v1/certificates "$(csr_json "$T/bad.csr")"
refused "a CSR's common name outside" subject "evil.com" POST /api/v1/certificates "$(csr_json "$T/cn.csr")"
api POST /api/v1/certificates "$(csr_json "$T/good.csr")"
check_eq "a CSR within the policy" 201 "$status"
openssl pkey -in "$T/k.pem" -pubout -out "$T/pub.pem"
refused "a public key with a name outside" sans "dns:evil.com" POST /api/v1/certificates \
    "$(jq -Rs --arg ca "$issuer" '{profile:"web",ca_id:$ca,public_key:.,sans:["dns:evil.com"]}' "$T/pub.pem")"

# ---- a renewal is held to the profile as it is now (as Vault's): one whose names it no
# longer allows is refused, and the certificate stays as it was, not renewed.
issue '"key_type":"p256","sans":["dns:old.example.com"]'
check_eq "issued under the first policy" 201 "$status"
old=$(body .id)
api POST "/api/v1/certificates/$old/renew" '{}'
check_eq "renewed while the policy allows it" 201 "$status"
renewed=$(body .id)
api PUT /api/v1/profiles/web '{"key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["example.net"],"allow_ip_sans":true}'
check_eq "the policy changed" 200 "$status"
refused "a renewal whose names the policy no longer allows" sans "dns:old.example.com" POST "/api/v1/certificates/$renewed/renew" '{}'
api GET "/api/v1/certificates/$renewed"
check_eq "the certificate is not marked renewed" "null" "$(body .renewed_by)"
issue '"key_type":"p256","sans":["dns:example.net","ip:192.0.2.7"]'
check_eq "the new policy's names and an address" 201 "$status"

# ---- wildcards
api POST /api/v1/profiles '{"name":"wild","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["example.org","*.apps.example"],"allow_subdomains":true,"allow_wildcards":true}'
check_eq "a profile that allows wildcards" 201 "$status"
for n in "*.example.org" "*.a.example.org" "*.apps.example"; do
    api POST /api/v1/certificates "{\"profile\":\"wild\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:$n\"]}"
    check_eq "wildcard $n" 201 "$status"
done
refused "a wildcard standing for names outside" sans "*.example" POST /api/v1/certificates \
    "{\"profile\":\"wild\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:*.example\"]}"

# ---- an empty list: no DNS names at all, addresses allowed
api POST /api/v1/profiles '{"name":"ip-only","key_usage":["digital_signature"],"allowed_domains":[],"allow_ip_sans":true}'
check_eq "a profile for addresses only" 201 "$status"
api POST /api/v1/certificates "{\"profile\":\"ip-only\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"subject\":{\"common_name\":\"10.1.2.3\"},\"sans\":[\"ip:10.1.2.3\"]}"
check_eq "an address" 201 "$status"
refused "a DNS name under an empty list" sans "it allows no DNS names" POST /api/v1/certificates \
    "{\"profile\":\"ip-only\",\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"sans\":[\"dns:example.com\"]}"

# ---- key types
api POST /api/v1/profiles '{"name":"keyed","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"key_types":["P-256","ed25519","rsa-3072"]}'
check_eq "a profile with key types" 201 "$status"
check_eq "its key types as key_type names" '["rsa3072","p256","ed25519"]' "$(jq -c .key_types "$T/body")"
api GET /api/v1/profiles/web
check_eq "a profile without them shows none" "null" "$(body .key_types)"
api POST /api/v1/profiles '{"name":"bad","key_usage":["digital_signature"],"key_types":[]}'
check_eq "an empty list: 400" "400 key_types" "$status $(body .error.field)"
api POST /api/v1/profiles '{"name":"bad","key_usage":["digital_signature"],"key_types":["dsa2048"]}'
check_eq "an unknown type: 400" "400 key_types" "$status $(body .error.field)"
check_contains "the message lists the accepted ones" "$(body .error.message)" "accepted: rsa2048, rsa3072, rsa4096, p256, p384, p521, ed25519"
api GET /api/v1/profiles/bad
check_eq "neither was stored" 404 "$status"
kissue() { # JSON fields beside profile and ca_id
    api POST /api/v1/certificates "{\"profile\":\"keyed\",\"ca_id\":\"$issuer\",$1}"
}
kissue '"key_type":"ed25519","subject":{"common_name":"k.example.com"}'
check_eq "a key made here of an allowed type" 201 "$status"
refused "a key made here of another type" key_type "key type p384" POST /api/v1/certificates \
    "{\"profile\":\"keyed\",\"ca_id\":\"$issuer\",\"key_type\":\"p384\",\"subject\":{\"common_name\":\"k.example.com\"}}"
check_contains "the message names the allowed ones" "$msg" "its key_types are rsa3072, p256, ed25519"
# CSRs openssl made: their key's algorithm, curve and RSA size.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/k384.pem" -subj "/CN=k.example.com" \
    -out "$T/p384.csr" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/k2048.pem" -subj "/CN=k.example.com" -out "$T/rsa2048.csr" 2>/dev/null
openssl req -new -newkey rsa:3072 -nodes -keyout "$T/k3072.pem" -subj "/CN=k.example.com" -out "$T/rsa3072.csr" 2>/dev/null
openssl req -new -newkey ed25519 -nodes -keyout "$T/ked.pem" -subj "/CN=k.example.com" -out "$T/ed25519.csr" 2>/dev/null
kcsr_json() { jq -Rs --arg ca "$issuer" '{profile:"keyed",ca_id:$ca,csr:.}' "$1"; }
refused "a CSR of a P-384 key" csr "the CSR's key is p384" POST /api/v1/certificates "$(kcsr_json "$T/p384.csr")"
refused "a CSR of an RSA-2048 key" csr "the CSR's key is rsa2048" POST /api/v1/certificates "$(kcsr_json "$T/rsa2048.csr")"
api POST /api/v1/certificates "$(kcsr_json "$T/rsa3072.csr")"
check_eq "a CSR of an RSA-3072 key" 201 "$status"
api POST /api/v1/certificates "$(kcsr_json "$T/ed25519.csr")"
check_eq "a CSR of an Ed25519 key" 201 "$status"
api POST /api/v1/csrs '{"subject":{"common_name":"k.example.com"},"key_type":"p521"}'
check_eq "a CSR made here, P-521" 201 "$status"
csr_id=$(body .id)
refused "a CSR made here of another type" csr "the CSR's key is p521" POST /api/v1/certificates \
    "{\"profile\":\"keyed\",\"ca_id\":\"$issuer\",\"csr_id\":\"$csr_id\"}"
openssl pkey -in "$T/k384.pem" -pubout -out "$T/pub384.pem"
refused "a public key of another type" public_key "the public key is p384" POST /api/v1/certificates \
    "$(jq -Rs --arg ca "$issuer" '{profile:"keyed",ca_id:$ca,public_key:.,subject:{common_name:"k.example.com"}}' "$T/pub384.pem")"
# A renewal, with a new key of the same type or the key kept, once the type is taken away.
kissue '"key_type":"p256","subject":{"common_name":"k.example.com"}'
check_eq "a P-256 certificate" 201 "$status"
kold=$(body .id)
api PUT /api/v1/profiles/keyed '{"key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"key_types":["ed25519"]}'
check_eq "P-256 taken away" 200 "$status"
refused "a renewal with a new key of a type no longer allowed" key_type "key type p256" \
    POST "/api/v1/certificates/$kold/renew" '{}'
refused "a renewal keeping a key of a type no longer allowed" public_key "the public key is p256" \
    POST "/api/v1/certificates/$kold/renew" '{"reuse_key":true}'
api GET "/api/v1/certificates/$kold"
check_eq "the certificate is not marked renewed" "null" "$(body .renewed_by)"

# ---- the CLI
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
expect_exit 0 "profile create with a name policy" -- remote profile create cli-web --key-usage digital_signature \
    --ext-key-usage server_auth --allowed-domains example.com,corp.example --subdomains on
remote --output json profile get cli-web >"$T/p.json"
check_eq "its policy" 'example.com,corp.example true false false' \
    "$(jq -r '[(.allowed_domains | join(",")), .allow_subdomains, .allow_wildcards, .allow_ip_sans] | map(tostring) | join(" ")' "$T/p.json")"
expect_error "--subdomains takes on or off" "--subdomains takes on or off" -- \
    remote profile update cli-web --subdomains maybe
before=$(counts)
expect_error "cert issue with a name outside" "profile cli-web does not allow dns:evil.com" -- \
    remote cert issue --ca-id "$issuer" --profile cli-web --san dns:www.example.com,dns:evil.com --out "$T/x.pem"
expect_error "cert issue of the CSR openssl made with a SAN outside" "the CSR's dns:attacker.net" -- \
    remote cert issue --ca-id "$issuer" --profile cli-web --csr "$T/bad.csr" --out "$T/x.pem"
check_eq "neither stored nor audited" "$before" "$(counts)"
expect_exit 0 "a name below a domain" -- \
    remote cert issue --ca-id "$issuer" --profile cli-web --san dns:a.corp.example --out "$T/ok.pem"
openssl x509 -in "$T/ok.pem" -noout -ext subjectAltName >"$T/san.txt"
check_contains "issued for it" "$(cat "$T/san.txt")" "DNS:a.corp.example"
expect_exit 0 "profile update: wildcards on, the rest kept" -- remote profile update cli-web --wildcards on
expect_exit 0 "a wildcard now" -- \
    remote cert issue --ca-id "$issuer" --profile cli-web --san "dns:*.corp.example" --out "$T/w.pem"
expect_exit 0 "profile update --allowed-domains any: no policy" -- remote profile update cli-web --allowed-domains any
remote --output json profile get cli-web >"$T/p.json"
check_eq "none shown" "null null" "$(jq -r '[.allowed_domains, .allow_ip_sans] | map(tostring) | join(" ")' "$T/p.json")"
expect_exit 0 "any name then" -- \
    remote cert issue --ca-id "$issuer" --profile cli-web --san dns:evil.com --out "$T/e.pem"
expect_exit 0 "profile update --allowed-domains none --ip-sans on: addresses only" -- \
    remote profile update cli-web --allowed-domains none --ip-sans on
expect_error "a DNS name then" "it allows no DNS names" -- \
    remote cert issue --ca-id "$issuer" --profile cli-web --san dns:example.com --out "$T/x.pem"

expect_exit 0 "profile update --key-types (and any name)" -- \
    remote profile update cli-web --allowed-domains any --key-types p256,ed25519
remote --output json profile get cli-web >"$T/p.json"
check_eq "its key types" 'p256,ed25519' "$(jq -r '.key_types | join(",")' "$T/p.json")"
before=$(counts)
expect_error "cert issue of the CSR of an RSA-2048 key" "the CSR's key is rsa2048, which profile cli-web does not allow" -- \
    remote cert issue --ca-id "$issuer" --profile cli-web --csr "$T/rsa2048.csr" --out "$T/x.pem"
check_eq "not stored nor audited" "$before" "$(counts)"
expect_exit 0 "profile update --key-types any" -- remote profile update cli-web --key-types any
remote --output json profile get cli-web >"$T/p.json"
check_eq "no key types then" "null" "$(jq -r .key_types "$T/p.json")"

done_testing
