#!/usr/bin/env bash
# A token limited to issuing (scope "issue": a pipeline's credential, as a step-ca provisioner or
# a Vault role with its policy): it issues under its scope's profiles and CAs alone (403 naming
# the profile or the CA otherwise, nothing stored), lists, reads, exports (its key with
# keys_export), renews and changes the certificates it issued and their renewals, made by anyone,
# and nothing else of its tenant's: another's certificate, a stored CSR, a deletion.  Scopes that
# name what the tenant lacks, a viewer's role or unknown fields are 400s that make no token.  The
# CLI makes the same token (--issue --profiles --cas), an operator's by default, and issues with it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
ADMIN=$TOKEN
issuer=$(quickstart_issuer)
cli="$CERTHUB --server https://localhost:$port --ca-file $data/ca.pem"

api POST /api/v1/cas '{"name":"other root","type":"root","subject":{"common_name":"Other Root"},"key_type":"p256","days":365}'
other_ca=$(body .id)
api POST /api/v1/profiles '{"name":"web","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["example.com"],"allow_subdomains":true}'
check_eq "a profile with a name policy" 201 "$status"
api POST /api/v1/certificates "{\"name\":\"admin's\",\"profile\":\"web\",\"sans\":[\"dns:admin.example.com\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
admins=$(body .id)
tokens() { TOKEN=$ADMIN api GET "/api/v1/tokens?limit=1000"; body '.items | length'; }

# ---- scopes refused, no token made
before=$(tokens)
bad() { # WHAT FIELD ROLE SCOPE [message part]
    TOKEN=$ADMIN api POST /api/v1/tokens "{\"role\":\"$3\",\"scope\":$4}"
    check_eq "$1: 400 naming $2" "400 $2" "$status $(body .error.field)"
    [ -z "${5:-}" ] || check_contains "$1: the message says what is wrong" "$(body .error.message)" "$5"
}
bad "a profile the tenant lacks" scope.issue.profiles operator '{"issue":{"profiles":["nosuch"]}}' 'unknown profile "nosuch"'
bad "a CA the tenant lacks" scope.issue.ca_ids operator '{"issue":{"ca_ids":["ca_nosuch"]}}' "no CA ca_nosuch"
bad "a CA profile" scope.issue.profiles operator '{"issue":{"profiles":["root-ca"]}}' "makes CAs"
bad "an empty list" scope.issue.profiles operator '{"issue":{"profiles":[]}}' "1 to 32"
bad "an unknown field of issue" scope.issue operator '{"issue":{"domains":["x"]}}' 'unknown field "domains"'
bad "issue not an object" scope operator '{"issue":true}'
bad "a viewer that would issue" role viewer '{"issue":{"profiles":["web"]}}' "operator or admin"
check_eq "none of them made a token" "$before" "$(tokens)"

# ---- the pipeline's token
TOKEN=$ADMIN api POST /api/v1/tokens "{\"role\":\"operator\",\"name\":\"ci\",\"scope\":{\"issue\":{\"profiles\":[\"web\"],\"ca_ids\":[\"$issuer\"]},\"keys_export\":true}}"
check_eq "a token limited to issuing under web with the issuing CA" 201 "$status"
CI=$(body .token)
ci_id=$(body .id)
TOKEN=$ADMIN api GET "/api/v1/tokens/$ci_id"
check_eq "its scope as stored" "[\"web\"] [\"$issuer\"] true" \
    "$(jq -c .scope.issue.profiles "$T/body") $(jq -c .scope.issue.ca_ids "$T/body") $(body .scope.keys_export)"

TOKEN=$CI api POST /api/v1/certificates "{\"name\":\"ci web\",\"profile\":\"web\",\"sans\":[\"dns:ci.example.com\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "it issues under its profile with its CA" "201 web $issuer" "$status $(body .profile) $(body .ca_id)"
mine=$(body .id)
TOKEN=$ADMIN api GET "/api/v1/audit?object_id=$mine&action=certificate.issue"
check_eq "the issuance is audited as the token's" "token:$ci_id" \
    "$(body ".items[0].actor")"

count() { TOKEN=$ADMIN api GET "/api/v1/certificates?limit=1000"; body '.items | length'; }
before=$(count)
TOKEN=$CI api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"sans\":[\"dns:ci.example.com\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "another profile: 403 naming the profile" "403 profile" "$status $(body .error.field)"
check_contains "the message lists the scope's profiles" "$(body .error.message)" '["web"]'
TOKEN=$CI api POST /api/v1/certificates "{\"profile\":\"web\",\"sans\":[\"dns:ci.example.com\"],\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$other_ca\"}"
check_eq "another CA: 403 naming ca_id" "403 ca_id" "$status $(body .error.field)"
TOKEN=$CI api POST /api/v1/certificates "{\"profile\":\"web\",\"sans\":[\"dns:ci.example.org\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "a name outside the profile's domains: the profile's own 422" "422 sans" "$status $(body .error.field)"
TOKEN=$ADMIN api POST /api/v1/csrs '{"name":"stored","subject":{"common_name":"stored.example.com"},"key_type":"p256"}'
csr_id=$(body .id)
TOKEN=$CI api POST /api/v1/certificates "{\"profile\":\"web\",\"csr_id\":\"$csr_id\",\"ca_id\":\"$issuer\"}"
check_eq "a CSR stored in the tenant: 403 naming csr_id" "403 csr_id" "$status $(body .error.field)"
check_eq "the refusals stored nothing" "$before" "$(count)"

# The profile's usages, extensions and policies as they are: none of them asked otherwise.
for over in '"ext_key_usage":["code_signing","ocsp_signing"]:ext_key_usage' '"ext_key_usage":[]:ext_key_usage' \
    '"key_usage":["digital_signature","key_encipherment"]:key_usage' '"basic_constraints":false:basic_constraints' \
    '"critical":["ext_key_usage"]:critical' '"policy_identifiers":["1.2.3"]:policy_identifiers' \
    '"ext_key_usage_oids":["1.3.6.1.5.5.7.3.9"]:ext_key_usage_oids'; do
    TOKEN=$CI api POST /api/v1/certificates "{\"profile\":\"web\",\"sans\":[\"dns:ci.example.com\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\",${over%:*}}"
    check_eq "the token asking ${over%:*}: 403 naming ${over##*:}" "403 ${over##*:}" "$status $(body .error.field)"
done
# Its one CA signs what names none, the tenant's others not said.
TOKEN=$CI api POST /api/v1/certificates '{"profile":"web","sans":["dns:default.example.com"],"key_type":"p256"}'
check_eq "no CA named: its scope's one" "201 $issuer" "$status $(body .ca_id)"
dflt=$(body .id)

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout own.key -subj /CN=csr.example.com \
    -addext subjectAltName=DNS:csr.example.com -out own.csr 2> /dev/null
TOKEN=$CI api POST /api/v1/certificates "$(jq -n --rawfile c own.csr --arg ca "$issuer" '{profile:"web",csr:$c,ca_id:$ca}')"
check_eq "a CSR of its own: 201" 201 "$status"
from_csr=$(body .id)

# ---- what it reads and changes
TOKEN=$CI api GET "/api/v1/certificates/$mine"
check_eq "it reads what it issued" "200 $mine" "$status $(body .id)"
TOKEN=$CI api POST "/api/v1/certificates/$mine/private-key" '{}'
check_eq "and exports its key (keys_export)" 200 "$status"
openssl pkey -in "$T/body" -noout 2> /dev/null || fail "the key exported is not a PEM key"
TOKEN=$CI api GET "/api/v1/certificates/$mine/export?format=pem"
check_eq "and its PEM" 200 "$status"
TOKEN=$CI api GET "/api/v1/certificates/$admins"
check_eq "not a certificate the admin issued" 403 "$status"
TOKEN=$ADMIN api GET "/api/v1/certificates/$admins"
admins_serial=$(body .serial)
TOKEN=$CI api GET "/api/v1/certificates/$admins_serial"
refusal=$(body .error.message)
TOKEN=$CI api GET "/api/v1/certificates/deadbeef"
check_eq "a serial no certificate has: the same 403 as another's (nothing learnt of what exists)" "403 $refusal" \
    "$status $(body .error.message)"
check_contains "the refusal says what the token may do" "$(body .error.message)" "issues certificates"
TOKEN=$CI api DELETE "/api/v1/certificates/$mine"
check_eq "nor delete what it issued" 403 "$status"
TOKEN=$CI api GET "/api/v1/cas"
check_eq "nor the CAs" 403 "$status"
TOKEN=$CI api PATCH "/api/v1/certificates/$mine" '{"auto_renew":true}'
check_eq "it turns automatic renewal on for its own" "200 true" "$status $(body .auto_renew)"
TOKEN=$CI api PATCH "/api/v1/certificates/$admins" '{"auto_renew":true}'
check_eq "not for another's" 403 "$status"
TOKEN=$CI api POST "/api/v1/certificates/$mine/renew" '{}'
check_eq "it renews its own" "201 $mine" "$status $(body .renews)"
renewal=$(body .id)
TOKEN=$CI api POST "/api/v1/certificates/$admins/renew" '{}'
check_eq "not another's" 403 "$status"
TOKEN=$ADMIN api POST "/api/v1/certificates/$from_csr/renew" '{}'
by_admin=$(body .id)
TOKEN=$CI api GET "/api/v1/certificates/$by_admin"
check_eq "a renewal the admin made of what it issued: its too" "200 $from_csr" "$status $(body .renews)"

TOKEN=$CI api GET "/api/v1/certificates?limit=1000"
check_eq "its list: what it issued and their renewals, the admin's renewal too, newest first" \
    "200 $by_admin $renewal $from_csr $dflt $mine" "$status $(body '[.items[].id] | join(" ")')"
TOKEN=$CI api GET "/api/v1/certificates?limit=1&search=csr.example.com"
check_eq "filtered as any list" "200 $by_admin" "$status $(body '[.items[].id] | join(" ")')"
TOKEN=$ADMIN api DELETE "/api/v1/certificates/$by_admin"
TOKEN=$CI api GET "/api/v1/certificates?limit=1000"
check_eq "one deleted is gone from it" "$renewal $from_csr $dflt $mine" "$(body '[.items[].id] | join(" ")')"

# ---- another token that issues reads none of the first's
TOKEN=$ADMIN api POST /api/v1/tokens '{"role":"operator","name":"ci 2","scope":{"issue":{}}}'
check_eq "a token that issues under any profile and CA" 201 "$status"
CI2=$(body .token)
TOKEN=$CI2 api GET "/api/v1/certificates/$renewal"
check_eq "it does not read the first token's certificates" 403 "$status"
TOKEN=$CI2 api GET "/api/v1/certificates"
check_eq "nor list them: its list is empty" "200 0" "$status $(body '.items | length')"
TOKEN=$ADMIN api POST /api/v1/tokens "{\"role\":\"operator\",\"scope\":{\"issue\":{\"ca_ids\":[\"$issuer\",\"$other_ca\"]}}}"
TOKEN=$(body .token) api POST /api/v1/certificates "$(jq -n --rawfile c own.csr '{profile:"tls-server",csr:$c}')"
check_eq "a token of two CAs naming none: 400 naming ca_id" "400 ca_id" "$status $(body .error.field)"
check_contains "listing its CAs" "$(body .error.message)" "this token issues with the CAs [\"$issuer\",\"$other_ca\"]"
TOKEN=$CI2 api POST /api/v1/certificates "{\"profile\":\"tls-server\",\"sans\":[\"dns:any.example\"],\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$other_ca\"}"
check_eq "without keys_export, a key made here (it could never fetch it): 403 naming key_type" "403 key_type" \
    "$status $(body .error.field)"
check_contains "saying what to give instead" "$(body .error.message)" "give a CSR (csr) or a public key"
TOKEN=$CI2 api POST /api/v1/certificates "$(jq -n --rawfile c own.csr --arg ca "$other_ca" '{profile:"tls-server",csr:$c,days:30,ca_id:$ca}')"
check_eq "it issues under any profile with any CA, from its CSR" 201 "$status"
any=$(body .id)
TOKEN=$CI2 api GET "/api/v1/certificates/$any"
check_eq "and reads it" 200 "$status"

# ---- a profile a token issues under is not deleted while the token is in force (one made again
# with its name would give the token what it allows)
TOKEN=$ADMIN api POST /api/v1/profiles '{"name":"narrow","key_usage":["digital_signature"],"ext_key_usage":["client_auth"]}'
TOKEN=$ADMIN api POST /api/v1/tokens '{"role":"operator","name":"narrow ci","scope":{"issue":{"profiles":["narrow"]}}}'
narrow_tok=$(body .id)
TOKEN=$ADMIN api DELETE /api/v1/profiles/narrow
check_eq "deleting it: 409 naming the token" "409 name" "$status $(body .error.field)"
check_contains "which is named" "$(body .error.message)" "$narrow_tok"
TOKEN=$ADMIN api DELETE "/api/v1/tokens/$narrow_tok"
TOKEN=$ADMIN api DELETE /api/v1/profiles/narrow
check_eq "the token revoked, the profile goes" 200 "$status"

# ---- a token of objects alone still issues nothing
TOKEN=$ADMIN api POST /api/v1/tokens "{\"role\":\"operator\",\"scope\":{\"objects\":[\"$admins\"]}}"
AGENT=$(body .token)
TOKEN=$AGENT api POST /api/v1/certificates "{\"profile\":\"web\",\"sans\":[\"dns:a.example.com\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "a token of objects issues nothing" 403 "$status"
TOKEN=$AGENT api GET "/api/v1/certificates"
check_eq "nor lists" 403 "$status"

# ---- the CLI
CERTHUB_TOKEN=$ADMIN $cli token create --name "cli ci" --issue --profiles web --cas "$issuer" --keys-export > cli-ci.token
chmod 600 cli-ci.token
CERTHUB_TOKEN=$ADMIN $cli --output json token list > list.json
check_eq "the CLI's token: an operator's, its scope" "operator [\"web\"] [\"$issuer\"]" \
    "$(jq -r '.items[] | select(.name == "cli ci") | "\(.role) \(.scope.issue.profiles | tostring) \(.scope.issue.ca_ids | tostring)"' list.json)"
$cli --token-file cli-ci.token --output json cert issue --name "from cli" --profile web --san dns:cli.example.com \
    --key-type p256 --ca-id "$issuer" > issued.json
check_eq "the CLI issues with it" "web" "$(jq -r .profile issued.json)"
$cli --token-file cli-ci.token cert get "$(jq -r .id issued.json)" > /dev/null || fail "the CLI's token does not read what it issued"
expect_error "the CLI's token refused another's certificate, exit 1" "issues certificates" -- \
    $cli --token-file cli-ci.token cert get "$admins"
expect_error "a viewer that would issue: exit 1, saying why" "operator or admin" -- \
    env CERTHUB_TOKEN="$ADMIN" $cli token create --issue --role viewer

done_testing
