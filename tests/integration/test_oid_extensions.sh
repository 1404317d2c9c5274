#!/usr/bin/env bash
# Extended key usages and certificate policies given as OIDs (Vault's ext_key_usage_oids and
# policy_identifiers, a Windows smart card logon's EKU, an organisation's policy): a custom
# profile's, shown by GET, written into what it issues (a key made here, a CSR of openssl's),
# given in place of the profile's on a request ([] for none), kept by a renewal; what is not an
# OID, more than 16, or OIDs with the EKU left out are 400s naming the field that store nothing.
# A smart card logon's certificate names its account by a user principal name (upn:, an
# otherName), given or in an openssl CSR, held to a profile's domains as an address is.
# openssl reads each certificate back; the CLI gives the same.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)
cli="$CERTHUB --server https://localhost:$port --ca-file $data/ca.pem --token-file $data/admin-token"
smartcard=1.3.6.1.4.1.311.20.2.2
policy=1.3.6.1.4.1.55555.1.2
template=1.3.6.1.4.1.311.21.8.7463524.1394875.2147483647

text_of() { jq -r .pem "$T/body" | openssl x509 -noout -text; }
counts() {
    local c
    api GET "/api/v1/certificates?limit=1000"
    c=$(body '.items | length')
    api GET /api/v1/profiles
    echo "$c/$(body '.items | length')"
}

api POST /api/v1/profiles "{\"name\":\"smartcard\",\"key_usage\":[\"digital_signature\"],\"ext_key_usage\":[\"client_auth\"],\"ext_key_usage_oids\":[\"$smartcard\",\"$template\"],\"policy_identifiers\":[\"$policy\"]}"
check_eq "a profile with EKU and policy OIDs" "201 [\"$smartcard\",\"$template\"] [\"$policy\"]" \
    "$status $(jq -c .ext_key_usage_oids "$T/body") $(jq -c .policy_identifiers "$T/body")"
api GET /api/v1/profiles/tls-server
check_eq "a built-in profile has none: not shown" "null null" "$(body .ext_key_usage_oids) $(body .policy_identifiers)"

api POST /api/v1/certificates "{\"name\":\"card\",\"profile\":\"smartcard\",\"subject\":{\"common_name\":\"Jane Doe\"},\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$issuer\"}"
check_eq "issued under it" 201 "$status"
card=$(body .id)
text_of > card.txt
check_contains "openssl reads client_auth and the smart card logon" "$(cat card.txt)" \
    "TLS Web Client Authentication, Microsoft Smartcard Login, $template"
check_contains "and the policy" "$(cat card.txt)" "Policy: $policy"
api GET "/api/v1/certificates/$card"
check_eq "its details list them" "[\"$smartcard\",\"$template\"] [\"$policy\"]" \
    "$(jq -c '.details.ext_key_usage | map(select(test("^[0-9]")))' "$T/body") $(jq -c .details.policies "$T/body")"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr.key -subj "/CN=John Roe" \
    -addext "subjectAltName=otherName:msUPN;UTF8:john@corp.example" -out card.csr 2> /dev/null
api POST /api/v1/certificates "$(jq -n --rawfile c card.csr --arg ca "$issuer" '{profile:"smartcard",csr:$c,ca_id:$ca,days:30}')"
check_eq "a CSR of openssl's under it" 201 "$status"
text_of > csr-card.txt
check_contains "has them too" "$(cat csr-card.txt)" "Policy: $policy"
check_contains "and the CSR's user principal name" "$(cat csr-card.txt)" "othername: UPN::john@corp.example"

# A CSR's names certhub does not write are refused, not dropped unsaid; a UPN held as one given.
csr_refused() { # WHAT SAN MESSAGE
    openssl req -new -key csr.key -subj "/CN=John Roe" -addext "subjectAltName=$2" -out odd.csr 2> /dev/null
    api POST /api/v1/certificates "$(jq -n --rawfile c odd.csr --arg ca "$issuer" '{profile:"smartcard",csr:$c,ca_id:$ca,days:30}')"
    check_eq "a CSR with $1: 400 naming csr" "400 csr" "$status $(body .error.field)"
    check_contains "$1: saying so" "$(body .error.message)" "$3"
}
csr_refused "an otherName of another type" "DNS:a.example,otherName:1.2.3.4;IA5STRING:x" "an otherName of type 1.2.3.4"
csr_refused "a UPN not in a UTF8String" "otherName:msUPN;IA5STRING:x@corp.example" "or a UPN not in a UTF8String"
csr_refused "a registeredID" "RID:1.2.3.4" "a registeredID"
csr_refused "a UPN with a space" "otherName:msUPN;UTF8:john roe@corp.example" "the CSR's user principal name"

# ---- a user principal name given
api POST /api/v1/certificates "{\"name\":\"jane card\",\"profile\":\"smartcard\",\"subject\":{\"common_name\":\"Jane Doe\"},\"sans\":[\"upn:jane@corp.example\",\"email:jane@corp.example\"],\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$issuer\"}"
check_eq "a user principal name given" 201 "$status"
check_contains "openssl reads it as an otherName" "$(text_of)" "othername: UPN::jane@corp.example, email:jane@corp.example"
check_eq "the answer lists it" '["upn:jane@corp.example","email:jane@corp.example"]' "$(jq -c .sans "$T/body")"
api GET "/api/v1/certificates?search=jane@corp"
check_eq "searched by it" "jane card" "$(body '[.items[].name] | join(",")')"
api POST /api/v1/certificates "{\"profile\":\"smartcard\",\"subject\":{\"common_name\":\"x\"},\"sans\":[\"upn:nobody\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "one without its domain: 400 naming sans" "400 sans" "$status $(body .error.field)"
check_contains "saying what it is" "$(body .error.message)" "is not a user principal name (user@domain, UTF-8 without spaces"
api POST /api/v1/profiles '{"name":"corp-card","key_usage":["digital_signature"],"ext_key_usage":["client_auth"],"allowed_domains":["corp.example"]}'
api POST /api/v1/certificates "{\"profile\":\"corp-card\",\"subject\":{\"common_name\":\"X Person\"},\"sans\":[\"upn:x@other.example\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "a domain the profile does not allow: 422 naming sans" "422 sans" "$status $(body .error.field)"
check_contains "naming it" "$(body .error.message)" "does not allow upn:x@other.example"
api POST /api/v1/certificates "{\"profile\":\"corp-card\",\"subject\":{\"common_name\":\"X Person\"},\"sans\":[\"upn:x@corp.example\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "one it allows: 201" 201 "$status"

# ---- given on the request, in place of the profile's
api POST /api/v1/certificates "{\"name\":\"dv\",\"profile\":\"smartcard\",\"subject\":{\"common_name\":\"dv.example\"},\"key_type\":\"p256\",\"days\":30,\"ca_id\":\"$issuer\",\"policy_identifiers\":[\"2.23.140.1.2.1\",\"2.5.29.32.0\"],\"ext_key_usage_oids\":[]}"
check_eq "the request's policies, and no EKU OIDs" 201 "$status"
dv=$(body .id)
text_of > dv.txt
check_contains "its policies" "$(cat dv.txt)" "Policy: 2.23.140.1.2.1"
check_contains "anyPolicy" "$(cat dv.txt)" "X509v3 Any Policy"
check_eq "not the profile's policy, nor the smart card EKU" 0 "$(grep -c "$policy\|Smartcard" dv.txt || true)"

# ---- kept by a renewal, whatever the profile says since
api PUT /api/v1/profiles/smartcard "{\"key_usage\":[\"digital_signature\"],\"ext_key_usage\":[\"client_auth\"]}"
check_eq "the profile's OIDs taken away" "200 null" "$status $(body .ext_key_usage_oids)"
api POST "/api/v1/certificates/$card/renew" '{}'
check_eq "the card renewed" "201 $card" "$status $(body .renews)"
text_of > renewed.txt
check_contains "its renewal keeps the smart card logon" "$(cat renewed.txt)" "Microsoft Smartcard Login"
check_contains "and the policy" "$(cat renewed.txt)" "Policy: $policy"
api POST "/api/v1/certificates/$dv/renew" '{}'
check_contains "the other's renewal keeps the request's policies" "$(text_of)" "Policy: 2.23.140.1.2.1"

# ---- refused, nothing stored
before=$(counts)
refused() { # WHAT FIELD METHOD PATH JSON [message part]
    api "$3" "$4" "$5"
    check_eq "$1: 400 naming $2" "400 $2" "$status $(body .error.field)"
    [ -z "${6:-}" ] || check_contains "$1: saying what is taken" "$(body .error.message)" "$6"
}
refused "a leading zero in a profile" ext_key_usage_oids POST /api/v1/profiles \
    '{"name":"bad","key_usage":["digital_signature"],"ext_key_usage_oids":["1.3.06.1"]}' "give it dotted, as 1.3.6.1.4.1.311.20.2.2"
refused "a name, not an OID" policy_identifiers POST /api/v1/profiles \
    '{"name":"bad","key_usage":["digital_signature"],"policy_identifiers":["anyPolicy"]}' "is not an OID"
refused "a number, not a string" policy_identifiers POST /api/v1/profiles \
    '{"name":"bad","key_usage":["digital_signature"],"policy_identifiers":[1.2]}'
refused "an OID of a first arc 3" policy_identifiers POST /api/v1/certificates \
    "{\"profile\":\"tls-server\",\"sans\":[\"dns:x.example\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\",\"policy_identifiers\":[\"3.1\"]}" \
    "the first arc must be 0, 1 or 2"
refused "a UUID's arc, which Go's x509 refuses" policy_identifiers POST /api/v1/certificates \
    "{\"profile\":\"tls-server\",\"sans\":[\"dns:x.example\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\",\"policy_identifiers\":[\"2.25.329800735698586629295641978511506172918\"]}" \
    "which Go's x509 and other readers of certificates refuse"
refused "a policy twice" policy_identifiers POST /api/v1/profiles \
    '{"name":"bad","key_usage":["digital_signature"],"policy_identifiers":["1.2.3","1.2.3"]}' "is given twice"
refused "a named usage as an OID" ext_key_usage_oids POST /api/v1/profiles \
    '{"name":"bad","key_usage":["digital_signature"],"ext_key_usage_oids":["1.3.6.1.5.5.7.3.1"]}' "is server_auth: give it by its name"
many=$(seq 1 17 | sed 's/^/"1.2./; s/$/"/' | paste -sd,)
refused "17 OIDs" ext_key_usage_oids POST /api/v1/certificates \
    "{\"profile\":\"tls-server\",\"sans\":[\"dns:x.example\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\",\"ext_key_usage_oids\":[$many]}" \
    "at most 16"
refused "EKU OIDs with the EKU left out" ext_key_usage_oids POST /api/v1/certificates \
    "{\"profile\":\"tls-server\",\"sans\":[\"dns:x.example\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\",\"ext_key_usage\":[],\"ext_key_usage_oids\":[\"$smartcard\"]}" \
    "give one or the other"
check_eq "none of them stored a certificate or a profile" "$before" "$(counts)"

# ---- the CLI
$cli profile create badge --key-usage digital_signature --ext-key-usage client_auth --ext-key-usage-oids "$smartcard" \
    --policies "$policy,2.23.140.1.2.1" > /dev/null
$cli --output json profile get badge > badge.json
check_eq "profile create --ext-key-usage-oids --policies" "[\"$smartcard\"] [\"$policy\",\"2.23.140.1.2.1\"]" \
    "$(jq -c .ext_key_usage_oids badge.json) $(jq -c .policy_identifiers badge.json)"
$cli --output json cert issue --profile badge --subject "CN=Badge" --key-type p256 --days 30 --ca-id "$issuer" \
    --policies 1.2.3.4 --out badge.pem > /dev/null
check_contains "cert issue --policies in place of the profile's" "$(openssl x509 -in badge.pem -noout -text)" "Policy: 1.2.3.4"
$CERTHUB inspect badge.pem > inspect.txt
check_contains "certhub inspect lists the policy" "$(cat inspect.txt)" "1.2.3.4"
$cli profile update badge --policies none > /dev/null
$cli --output json profile get badge > badge.json
check_eq "profile update --policies none takes them away, the EKU OIDs kept" "null [\"$smartcard\"]" \
    "$(jq -c .policy_identifiers badge.json) $(jq -c .ext_key_usage_oids badge.json)"
expect_error "a bad OID from the CLI: exit 1, the server's words" "is not an OID" -- \
    $cli cert issue --profile badge --subject "CN=Badge" --key-type p256 --ca-id "$issuer" --ext-key-usage-oids 1.2.x

done_testing
