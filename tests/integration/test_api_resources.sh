#!/usr/bin/env bash
# The REST API's resources beyond issuing: tenants and tokens (list, revoke, who may), custom
# profiles used for issuing, uploads as JSON, multipart and raw bodies, CSR download and an
# intermediate CA signed by an outside CA (openssl), and bad requests that change nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)
check_contains "the issuing CA is listed" "$issuer" "ca_"

# ---- tenants and tokens
api POST /api/v1/tenants '{"name":"acme"}'
check_eq "the installation's admin creates a tenant" 201 "$status"
api GET /api/v1/tenants
check_eq "tenants listed" "acme default" "$(body '[.items[].name] | join(" ")')"
api POST /api/v1/tokens '{"tenant":"acme","role":"admin","name":"acme admin"}'
check_eq "a token for the new tenant" 201 "$status"
acme_admin=$(body .token)
acme_admin_id=$(body .id)
# In acme's own audit log too, with its role (it was in the default tenant's alone, and no
# role said: an admin token had come to be in acme unsaid).
TOKEN=$acme_admin api GET "/api/v1/audit?action=token.create&object_id=$acme_admin_id"
check_eq "the token made in acme is in acme's audit log, its role and tenant said, its maker named with its tenant" \
    "1 admin acme default/" \
    "$(body '[.items | length, .[0].detail.role, .[0].detail.tenant, (.[0].actor | .[0:8])] | join(" ")')"
api POST /api/v1/tokens '{"role":"viewer","name":"dashboards"}'
viewer=$(body .token)
viewer_id=$(body .id)
TOKEN=$acme_admin api GET /api/v1/tenants
check_eq "a tenant's admin sees only its tenant" "acme" "$(body '[.items[].name] | join(" ")')"
TOKEN=$acme_admin api POST /api/v1/tenants '{"name":"evil"}'
check_eq "a tenant's admin cannot create tenants" 403 "$status"
TOKEN=$acme_admin api POST /api/v1/tokens '{"tenant":"default","role":"admin"}'
check_eq "nor make tokens for another tenant (which is not there for it: 404, as for one that does not exist)" 404 "$status"
TOKEN=$acme_admin api DELETE "/api/v1/tokens/$viewer_id"
check_eq "nor revoke another tenant's token" 404 "$status"
TOKEN=$acme_admin api GET /api/v1/tokens
check_eq "acme's tokens: only its own" "acme admin" "$(body '[.items[].name] | join(",")')"
api GET /api/v1/tokens
check_contains "tokens listed with names and roles" "$(body '[.items[] | .name + ":" + .role] | join(",")')" "dashboards:viewer"
check_eq "no token or hash in the list" "" "$(grep -o 'cht_\|token_hash' "$T/body" || true)"
TOKEN=$viewer api GET /api/v1/certificates
check_eq "the viewer token works" 200 "$status"
TOKEN=$viewer api DELETE "/api/v1/tokens/$viewer_id"
check_eq "a viewer cannot revoke tokens" 403 "$status"
api DELETE "/api/v1/tokens/$viewer_id"
check_eq "revoked" 200 "$status"
TOKEN=$viewer api GET /api/v1/certificates
check_eq "a revoked token is refused at once" 401 "$status"
api GET /api/v1/tokens
check_eq "the list shows when it was revoked" "true" "$(body "[.items[] | select(.id == \"$viewer_id\") | .revoked_at != null] | .[0]")"

# ---- custom profiles
api POST /api/v1/profiles '{"name":"mqtt-device","description":"MQTT client","key_usage":["digital_signature"],"ext_key_usage":["client_auth"],"default_days":90,"max_days":397}'
check_eq "custom profile created" 201 "$status"
api POST /api/v1/profiles '{"name":"mqtt-device","key_usage":["digital_signature"]}'
check_eq "a taken name: 409" 409 "$status"
api POST /api/v1/profiles '{"name":"tls-server","key_usage":["digital_signature"]}'
check_eq "a built-in name: 409" 409 "$status"
api POST /api/v1/profiles '{"name":"x","key_usage":["digital_signature"],"colour":"red"}'
check_eq "unknown field in a profile: 400" 400 "$status"
check_eq "the field is named" "colour" "$(body .error.field)"
api POST /api/v1/profiles "{\"name\":\"accented\",\"description\":\"$(printf 'é%.0s' $(seq 1 256))\",\"key_usage\":[\"digital_signature\"]}"
check_eq "a description of 256 characters of two bytes each: 201 (its bound is in characters)" 201 "$status"
api DELETE /api/v1/profiles/accented
api POST /api/v1/profiles "{\"name\":\"accented\",\"description\":\"$(printf 'é%.0s' $(seq 1 257))\",\"key_usage\":[\"digital_signature\"]}"
check_eq "257: 400 saying characters" "400 description must be a string of at most 256 characters" \
    "$status $(body .error.message)"
api POST /api/v1/profiles '{"name":"ca-ish","key_usage":["key_cert_sign"]}'
check_eq "CA usages refused: 422" 422 "$status"
api GET /api/v1/profiles
check_eq "listed after the built-in ones" "mqtt-device" "$(body '.items[-1].name')"
check_eq "with its usages" "client_auth" "$(body '.items[-1].ext_key_usage | join(",")')"
api POST /api/v1/certificates "{\"profile\":\"mqtt-device\",\"subject\":{\"common_name\":\"sensor-1\"},\"ca_id\":\"$issuer\"}"
check_eq "issued with the custom profile" 201 "$status"
sensor=$(body .id)
body .pem > sensor.pem
check_contains "client auth only" "$(openssl x509 -in sensor.pem -noout -ext extendedKeyUsage)" "TLS Web Client Authentication"
days=$(( ($(date -d "$(openssl x509 -in sensor.pem -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
[ "$days" -ge 89 ] && [ "$days" -le 90 ] || fail "lifetime $days days, expected the profile's 90"
ok "its default lifetime (90 days)"
api POST /api/v1/certificates "{\"profile\":\"mqtt-device\",\"subject\":{\"common_name\":\"sensor-2\"},\"ca_id\":\"$issuer\",\"days\":400}"
check_eq "beyond the profile's max_days: 422" 422 "$status"
api PUT /api/v1/profiles/mqtt-device '{"key_usage":["digital_signature"],"ext_key_usage":["client_auth","server_auth"]}'
check_eq "profile replaced" 200 "$status"
TOKEN=$acme_admin api GET /api/v1/profiles/mqtt-device
check_eq "another tenant does not see it" 404 "$status"
api DELETE /api/v1/profiles/tls-server
check_eq "built-in profiles stay" 422 "$status"
api PUT /api/v1/profiles/tls-server '{"key_usage":["digital_signature"]}'
check_eq "built-in profiles are not changed" "422 built-in profiles cannot be changed; create a custom profile" \
    "$status $(body .error.message)"
api DELETE /api/v1/profiles/mqtt-device
check_eq "a custom profile that issued an unexpired certificate: 409, its renewals issue from it" \
    "409 profile mqtt-device issued 1 unexpired certificate, whose renewals issue from it" \
    "$status $(body .error.message | cut -d: -f1)"
api DELETE "/api/v1/certificates/$sensor"
api DELETE /api/v1/profiles/mqtt-device
check_eq "custom profile deleted once that certificate is gone" 200 "$status"
api DELETE /api/v1/profiles/mqtt-device
check_eq "deleted again: 404 naming the profile, as GET does" "404 profile unknown profile \"mqtt-device\"" \
    "$status $(body .error.field) $(body .error.message | cut -d';' -f1)"
api PUT /api/v1/profiles/mqtt-device '{"key_usage":["digital_signature"]}'
check_eq "changed once gone: the same" "404 profile" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"profile\":\"mqtt-device\",\"subject\":{\"common_name\":\"sensor-3\"},\"ca_id\":\"$issuer\"}"
check_eq "an unknown profile: 400" 400 "$status"
check_eq "naming the field" "profile" "$(body .error.field)"

# ---- the extension switches of a create wizard (the storage seed's Extra Constraints), read
# back by openssl
# exts FILE: the four switched extensions the certificate holds, each "name" or "name:critical".
exts() {
    openssl x509 -in "$1" -noout -text | sed -n 's/^ *X509v3 \(Basic Constraints\|Key Usage\|Extended Key Usage\|Authority Key Identifier\): *\(critical\)\{0,1\}$/\1:\2/p' |
        sed 's/:$//; s/ /_/g' | paste -sd, -
}
api GET "/api/v1/certificates?limit=1000"
count=$(body '.items | length')
api POST /api/v1/certificates "{\"sans\":[\"dns:switch-default.example\"],\"ca_id\":\"$issuer\"}"
body .pem > sw-default.pem
check_eq "none asked: all four, Basic Constraints and Key Usage critical (RFC 5280's advice)" \
    "Basic_Constraints:critical,Key_Usage:critical,Extended_Key_Usage,Authority_Key_Identifier" "$(exts sw-default.pem)"
api POST /api/v1/certificates "{\"sans\":[\"dns:switch-off.example\"],\"ca_id\":\"$issuer\",\"basic_constraints\":false,\"authority_key_id\":false}"
check_eq "Basic Constraints and the AKI switched off: 201" 201 "$status"
off=$(body .id)
body .pem > sw-off.pem
check_eq "openssl finds neither" "Key_Usage:critical,Extended_Key_Usage" "$(exts sw-off.pem)"
check_contains "the subject key identifier stays (not a switch)" "$(openssl x509 -in sw-off.pem -noout -text)" "X509v3 Subject Key Identifier"
check_eq "no CA either way (openssl -purpose)" "No" "$(openssl x509 -in sw-off.pem -noout -purpose | sed -n 's/^SSL server CA : //p')"
openssl verify -CAfile "$data/ca.pem" -untrusted <(api GET "/api/v1/cas/$issuer/chain"; cat "$T/body") sw-off.pem >/dev/null 2>&1 ||
    fail "the certificate without AKI does not verify with openssl"
ok "and it still verifies with openssl, its issuer found by name"
api GET "/api/v1/certificates/$off"
check_eq "its details say so" "false null key_usage" \
    "$(body '(.details.basic_constraints|tostring) + " " + (.details.aki|tostring) + " " + (.details.critical | join(","))')"
api POST /api/v1/certificates "{\"sans\":[\"dns:switch-usages.example\"],\"ca_id\":\"$issuer\",\"key_usage\":[],\"ext_key_usage\":[]}"
check_eq "empty usage lists ([]): 201" 201 "$status"
body .pem > sw-usages.pem
check_eq "leave Key Usage and EKU out" "Basic_Constraints:critical,Authority_Key_Identifier" "$(exts sw-usages.pem)"
check_eq "(a server certificate's common name still its SAN)" "DNS:switch-usages.example" \
    "$(openssl x509 -in sw-usages.pem -noout -ext subjectAltName | tail -1 | tr -d ' ')"
# RFC 5480: an EC key does no key transport.  Asked for: refused, naming what the key takes; a
# profile's key_encipherment is left out for an EC key, and a profile of nothing else refused.
api POST /api/v1/certificates "{\"sans\":[\"dns:ec-ke.example\"],\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"key_usage\":[\"digital_signature\",\"key_encipherment\"]}"
check_eq "key_encipherment asked for a P-256 key: 400 naming the field" "400 key_usage" "$status $(body .error.field)"
check_contains "saying what an EC key takes" "$(body .error.message)" \
    "key_encipherment does not apply to an EC key (RFC 5480), which takes digital_signature, non_repudiation, key_agreement"
api POST /api/v1/certificates "{\"sans\":[\"dns:rsa-ka.example\"],\"ca_id\":\"$issuer\",\"key_type\":\"rsa2048\",\"key_usage\":[\"key_agreement\"]}"
check_eq "key_agreement for an RSA key: 400" "400 key_usage" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"sans\":[\"dns:ec-ka.example\"],\"ca_id\":\"$issuer\",\"key_type\":\"p256\",\"key_usage\":[\"digital_signature\",\"key_agreement\"]}"
check_eq "key_agreement for an EC key: 201" 201 "$status"
check_eq "as openssl reads it" "Digital Signature, Key Agreement" \
    "$(body .pem | openssl x509 -noout -ext keyUsage | tail -1 | sed 's/^ *//')"
api POST /api/v1/certificates "{\"sans\":[\"dns:z.example\",\"dns:Z.example\"],\"ca_id\":\"$issuer\"}"
check_eq "one SAN twice (in another case): 400 naming it" "400 sans dns:Z.example is given twice" \
    "$status $(body .error.field) $(body .error.message)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"v6\"},\"sans\":[\"ip:::1\",\"ip:0:0::1\"],\"ca_id\":\"$issuer\"}"
check_eq "one address written two ways: 400" "400 sans" "$status $(body .error.field)"
# The usages a CSR asks for, taken on request (csr_usages; Vault's use_csr_values), else the
# profile's.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=asks.example \
    -addext "keyUsage=critical,digitalSignature,keyAgreement" -addext "extendedKeyUsage=clientAuth" -out asks.csr 2>/dev/null
api POST /api/v1/certificates "$(jq -n --arg c "$(cat asks.csr)" --arg ca "$issuer" '{csr:$c,ca_id:$ca}')"
check_eq "a CSR's usages not asked for: the profile's" "201 TLS Web Server Authentication" \
    "$status $(body .pem | openssl x509 -noout -ext extendedKeyUsage | tail -1 | sed 's/^ *//')"
api POST /api/v1/certificates "$(jq -n --arg c "$(cat asks.csr)" --arg ca "$issuer" '{csr:$c,ca_id:$ca,csr_usages:true}')"
check_eq "csr_usages: the CSR's, as openssl reads them" "201 Digital Signature, Key Agreement|TLS Web Client Authentication" \
    "$status $(body .pem | openssl x509 -noout -ext keyUsage | tail -1 | sed 's/^ *//')|$(body .pem | openssl x509 -noout -ext extendedKeyUsage | tail -1 | sed 's/^ *//')"
api POST /api/v1/certificates "$(jq -n --arg c "$(cat asks.csr)" --arg ca "$issuer" '{csr:$c,ca_id:$ca,csr_usages:true,ext_key_usage:["server_auth"]}')"
check_eq "one given still decides" "201 TLS Web Server Authentication" \
    "$status $(body .pem | openssl x509 -noout -ext extendedKeyUsage | tail -1 | sed 's/^ *//')"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=odd.example \
    -addext "extendedKeyUsage=1.2.3.4" -out odd-eku.csr 2>/dev/null
api POST /api/v1/certificates "$(jq -n --arg c "$(cat odd-eku.csr)" --arg ca "$issuer" '{csr:$c,ca_id:$ca,csr_usages:true}')"
check_eq "an extended key usage certhub does not issue: 422 on csr, naming it" "422 csr true" \
    "$status $(body .error.field) $(body '.error.message | contains("extended key usage 1.2.3.4")')"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=ke.example \
    -addext "keyUsage=digitalSignature,keyEncipherment" -out ec-ke.csr 2>/dev/null
api POST /api/v1/certificates "$(jq -n --arg c "$(cat ec-ke.csr)" --arg ca "$issuer" '{csr:$c,ca_id:$ca,csr_usages:true}')"
check_eq "key transport asked by an EC key's CSR: 400 as if given" "400 key_usage" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"sans\":[\"dns:u.example\"],\"ca_id\":\"$issuer\",\"csr_usages\":true}"
check_eq "csr_usages without a CSR: 400" "400 csr_usages" "$status $(body .error.field)"
api POST /api/v1/csrs '{"subject":{"common_name":"ec-ke"},"key_type":"p256","key_usage":["key_encipherment"]}'
check_eq "nor asked of an outside CA in a CSR for an EC key: 400" "400 key_usage" "$status $(body .error.field)"
api GET /api/v1/csrs
check_eq "(no CSR made)" 0 "$(body '[.items[] | select(.subject | test("ec-ke"))] | length')"
api POST /api/v1/profiles '{"name":"transport-only","key_usage":["key_encipherment"],"ext_key_usage":["client_auth"]}'
api POST /api/v1/certificates "{\"profile\":\"transport-only\",\"subject\":{\"common_name\":\"t1\"},\"ca_id\":\"$issuer\",\"key_type\":\"p256\"}"
check_eq "a profile of key transport alone with an EC key: 422" "422 key_usage" "$status $(body .error.field)"
check_contains "naming the profile" "$(body .error.message)" "profile transport-only's key usage (key_encipherment) does not apply to an EC key"
api POST /api/v1/certificates "{\"profile\":\"transport-only\",\"subject\":{\"common_name\":\"t2\"},\"ca_id\":\"$issuer\",\"key_type\":\"rsa2048\"}"
check_eq "the same profile with an RSA key: 201" 201 "$status"
api DELETE "/api/v1/certificates/$(body .id)"
api DELETE /api/v1/profiles/transport-only
check_eq "(the profile goes again)" 200 "$status"
api POST /api/v1/certificates "{\"sans\":[\"dns:switch-crit.example\"],\"ca_id\":\"$issuer\",\"critical\":[\"ext_key_usage\",\"basic_constraints\"]}"
check_eq "critical as asked: 201" 201 "$status"
crit=$(body .id)
body .pem > sw-crit.pem
check_eq "EKU and Basic Constraints critical, Key Usage not" \
    "Basic_Constraints:critical,Key_Usage,Extended_Key_Usage:critical,Authority_Key_Identifier" "$(exts sw-crit.pem)"
api POST /api/v1/certificates "{\"sans\":[\"dns:switch-none.example\"],\"ca_id\":\"$issuer\",\"critical\":[],\"basic_constraints\":false,\"authority_key_id\":false,\"key_usage\":[],\"ext_key_usage\":[]}"
body .pem > sw-none.pem
check_eq "all four off: none of them" "201 " "$status $(exts sw-none.pem)"
# A renewal keeps the choice (as it keeps the usages).
for id in "$off" "$crit"; do
    api GET "/api/v1/certificates/$id"
    body .pem > was.pem
    api POST "/api/v1/certificates/$id/renew" '{}'
    check_eq "renewed" 201 "$status"
    body .pem > renewed.pem
    check_eq "the renewal holds the same extensions, as critical" "$(exts was.pem)" "$(exts renewed.pem)"
done
api GET "/api/v1/certificates?limit=1000"
count=$(body '.items | length')
# Bad values: a 400 naming the field, nothing stored.
bad_switch() { # WHAT FIELD JSON-MEMBERS [MESSAGE]
    api POST /api/v1/certificates "{\"sans\":[\"dns:switch-bad.example\"],\"ca_id\":\"$issuer\",$3}"
    check_eq "$1: 400 on $2" "400 $2" "$status $(body .error.field)"
    [ -z "${4:-}" ] || check_contains "saying why" "$(body .error.message)" "$4"
}
bad_switch "Basic Constraints off for a CA profile" basic_constraints '"profile":"intermediate-ca","basic_constraints":false' "RFC 5280 4.2.1.9"
bad_switch "Basic Constraints off for a root profile" basic_constraints '"profile":"root-ca","basic_constraints":false' "leaf certificates only"
bad_switch "a switch that is no boolean" basic_constraints '"basic_constraints":"off"' "true or false"
bad_switch "nor null" authority_key_id '"authority_key_id":null'
bad_switch "a critical AKI" critical '"critical":["authority_key_id"]' "RFC 5280 4.2.1.1"
bad_switch "an extension no switch names" critical '"critical":["subject_key_id"]' "accepted: basic_constraints, key_usage"
bad_switch "critical that is no list" critical '"critical":"key_usage"' "array"
bad_switch "an extension left out marked critical" critical '"key_usage":[],"critical":["key_usage"]' "key_usage is left out"
bad_switch "the AKI left out and marked critical" critical '"authority_key_id":false,"critical":["authority_key_id"]'
api GET "/api/v1/certificates?limit=1000"
check_eq "none of the bad switches stored anything" "$count" "$(body '.items | length')"

# ---- issuing overrides and bad requests (each changes nothing)
api GET "/api/v1/certificates?limit=1000"
before=$(body '.items | length')
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"ov.example\"},\"sans\":[\"dns:ov.example\"],\"ca_id\":\"$issuer\",\"key_usage\":[\"digital_signature\"],\"ext_key_usage\":[\"server_auth\",\"client_auth\"]}"
check_eq "issued with usage overrides" 201 "$status"
body .pem > ov.pem
check_contains "the overridden EKU" "$(openssl x509 -in ov.pem -noout -ext extendedKeyUsage)" "TLS Web Client Authentication"
before=$((before + 1))
api POST /api/v1/certificates/import "" -H "Content-Type: application/x-pem-file" --data-binary @/dev/null
check_eq "an import with an empty body: 400 saying nothing came" "400 certificate" "$status $(body .error.field)"
check_contains "(and how to send it)" "$(body .error.message)" "no certificate came (an empty body?)"
api POST /api/v1/keystores?name=empty "" -H "Content-Type: application/octet-stream" --data-binary @/dev/null
check_eq "a keystore upload with an empty body: 400 saying nothing came" "400 no keystore came" \
    "$status $(body .error.message | cut -c1-16)"
api POST /api/v1/certificates/import "" -F "file=@$data/ca.pem" -F "certificate=$(cat "$data/ca.pem")"
check_eq "an import with both a file and the field: 400 saying not both" "400 not both" "$status $(body .error.message | grep -o 'not both')"
api POST "/api/v1/certificates/import?name=x" "$(jq -n --arg c "$(cat "$data/ca.pem")" '{certificate:$c}')"
check_eq "a query field beside a JSON body: 400 naming it, not dropped" "400 name" "$status $(body .error.field)"
check_contains "saying where it goes" "$(body .error.message)" "with JSON, give it in the body"
api POST "/api/v1/trusted-certificates?name=x" "" -F "file=@$data/ca.pem"
check_eq "or beside a form" "400 name" "$status $(body .error.field)"
api POST /api/v1/certificates '{"sans":["dns:empty.example"],"ca_id":""}'
check_eq "an empty ca_id: 400, not a 404 naming nothing" "400 ca_id" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"name\":\"\",\"sans\":[\"dns:empty.example\"],\"ca_id\":\"$issuer\"}"
check_eq "an empty name: 400, not one made up unasked" "400 name" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"a\"},\"ca_id\":\"$issuer\",\"colour\":1}"
check_eq "unknown field: 400" "400 colour" "$status $(body .error.field)"
# A certificate issued here is never a CA (those are made by POST /cas), so a path length,
# which only a CA's Basic Constraints carry, was taken and silently dropped: now refused.
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"a\"},\"ca_id\":\"$issuer\",\"path_len\":1}"
check_eq "a path length for a certificate: 400" "400 path_len" "$status $(body .error.field)"
# A name is printed in tables, logs and audit details: a newline would forge a line there and
# an escape sequence rewrite the terminal of whoever lists it.  Every kind of object refuses
# them (CAs did; certificates, CSRs, keystores, trusted certificates and tokens did not).
api POST /api/v1/certificates "{\"name\":\"web\\u001b[2Jx\",\"sans\":[\"dns:esc.example\"],\"ca_id\":\"$issuer\"}"
check_eq "a certificate name with an escape sequence: 400" "400 name" "$status $(body .error.field)"
check_contains "saying why" "$(body .error.message)" "control character"
# A right-to-left override shows a name as another ("invoice\u202Egpj.exe" reads "invoiceexe.jpg").
api POST /api/v1/certificates "{\"name\":\"invoice\\u202egpj.exe\",\"sans\":[\"dns:rlo.example\"],\"ca_id\":\"$issuer\"}"
check_eq "a certificate name with a right-to-left override: 400" "400 name" "$status $(body .error.field)"
api POST /api/v1/csrs '{"name":"two\nlines","subject":{"common_name":"nl.example"}}'
check_eq "a CSR name with a newline: 400" "400 name" "$status $(body .error.field)"
api POST /api/v1/tokens "{\"role\":\"viewer\",\"name\":\"$(head -c 200 /dev/zero | tr '\0' t)\"}"
check_eq "a token name of 200 characters: 400" "400 name" "$status $(body .error.field)"
api POST "/api/v1/certificates/import?name=tab%09bed" "" -H "Content-Type: application/x-pem-file" --data-binary @"$data/ca.pem"
check_eq "an imported certificate's name with a tab: 400" "400 name" "$status $(body .error.field)"
# Names are bounded in characters, not bytes (128 of them in any script), and are UTF-8.
e100=$(printf 'é%.0s' $(seq 100)); e129=$(printf 'é%.0s' $(seq 129))
api POST /api/v1/csrs "{\"name\":\"$e100\",\"subject\":{\"common_name\":\"utf8.example\"}}"
check_eq "a name of 100 characters (200 bytes): taken whole" "201 100" "$status $(body '.name | length')"
api DELETE "/api/v1/csrs/$(body .id)"
api POST /api/v1/csrs "{\"name\":\"$e129\",\"subject\":{\"common_name\":\"utf8.example\"}}"
check_eq "a name of 129 characters: 400" "400 name" "$status $(body .error.field)"
api POST "/api/v1/certificates/import?name=bad%ffname" "" -H "Content-Type: application/x-pem-file" --data-binary @"$data/ca.pem"
check_eq "a name that is not UTF-8: 400" "400 name" "$status $(body .error.field)"
check_contains "saying so" "$(body .error.message)" "not UTF-8"
api POST /api/v1/csrs '{"name":"c1\u009b2Jx","subject":{"common_name":"c1.example"}}'
check_eq "a name with a C1 control (CSI): 400" "400 name" "$status $(body .error.field)"
api POST /api/v1/users '{"name":"esc\u001b[2J","role":"viewer","password":"correct horse battery"}'
check_eq "a console user's name with an escape: 400" "400 name" "$status $(body .error.field)"
# A name that is blank shows as nothing in a list, and one with white space at an end as another
# that looks the same: every kind of object refuses them, 400 naming the field and saying what
# is accepted (they are refused, not trimmed: what is stored is what was sent).
api POST /api/v1/certificates "{\"name\":\"web\",\"sans\":[\"dns:names.example\"],\"ca_id\":\"$issuer\"}"
web=$(body .id)
api PATCH "/api/v1/certificates/$web" '{"name":"   "}'
check_eq "a certificate renamed to spaces: 400" "400 name" "$status $(body .error.field)"
check_contains "saying what is wrong and what is taken" "$(body .error.message)" \
    "the name is only white space: give 1 to 128 characters, not all of them spaces"
api GET "/api/v1/certificates/$web"
check_eq "and its name is as it was" "web" "$(body .name)"
api PATCH "/api/v1/certificates/$web" '{"name":" web"}'
check_eq "a name that begins with a space: 400" "400 the name begins with white space" \
    "$status $(body .error.message | cut -d: -f1)"
api PATCH "/api/v1/certificates/$web" '{"name":"web\u00a0"}'
check_eq "one that ends with a no-break space: 400" "400 the name ends with white space" \
    "$status $(body .error.message | cut -d: -f1)"
api PATCH "/api/v1/certificates/$web" '{"name":"web one"}'
check_eq "a space inside a name is a name's" "200 web one" "$status $(body .name)"
api PATCH "/api/v1/certificates/$web" '{"name":"web"}'
blank_name() { # WHAT: checks the answer of the api call before it
    check_eq "$1: 400 on its name" "400 name" "$status $(body .error.field)"
}
api POST /api/v1/certificates "{\"name\":\"\\u3000\",\"sans\":[\"dns:blank.example\"],\"ca_id\":\"$issuer\"}"
blank_name "a certificate issued with an ideographic space for a name"
api POST "/api/v1/certificates/import?name=%20%20" "" -H "Content-Type: application/x-pem-file" --data-binary @"$data/ca.pem"
blank_name "a certificate imported with spaces for a name"
api POST /api/v1/cas '{"name":"  ","type":"root","subject":{"common_name":"Blank Root"}}'
blank_name "a CA named with spaces"
api POST /api/v1/csrs '{"name":"\u200b","subject":{"common_name":"blank.example"}}'
blank_name "a CSR named with a zero-width space"
api POST /api/v1/keystores "{\"name\":\" \",\"certificate_id\":\"$web\",\"format\":\"p12\"}"
blank_name "a keystore named with a space"
api POST /api/v1/trusted-certificates "" -F "file=@$data/ca.pem" -F "name=   "
blank_name "a trusted certificate named with spaces"
api POST /api/v1/profiles '{"name":"  ","key_usage":["digital_signature"]}'
blank_name "a profile named with spaces"
api POST /api/v1/tokens '{"role":"viewer","name":" "}'
blank_name "a token named with a space"
api POST /api/v1/tokens '{"role":"viewer","name":""}'
blank_name "a token with an empty name (one without a name leaves it out)"
api POST /api/v1/tenants '{"name":"   "}'
blank_name "a tenant named with spaces"
api POST /api/v1/users '{"name":"\u3000","role":"viewer","password":"correct horse battery"}'
blank_name "a console user named with an ideographic space"
# null is no value of these fields (only some settings take it, for "none"): refused as any other
# wrong type, naming the field, rather than read as the field left out (a rename to null
# answered 200 and changed nothing).
api PATCH "/api/v1/certificates/$web" '{"name":null}'
check_eq "a rename to null: 400 on name" "400 name" "$status $(body .error.field)"
check_contains "saying null is not taken" "$(body .error.message)" "name must be a string (null is not taken: leave the field out)"
api PATCH "/api/v1/certificates/$web" '{"auto_renew":null}'
check_eq "auto_renew null: 400" "400 auto_renew" "$status $(body .error.field)"
api GET "/api/v1/certificates/$web"
check_eq "and the certificate is as it was" "web false" "$(body '.name + " " + (.auto_renew | tostring)')"
for field in days ttl subject sans key_usage ca_id; do
    api POST /api/v1/certificates "$(jq -cn --arg ca "$issuer" --arg f "$field" '{sans:["dns:null.example"],ca_id:$ca} + {($f):null}')"
    check_eq "an issuance with $field null: 400 on it" "400 $field" "$status $(body .error.field)"
done
api POST /api/v1/tokens '{"role":"viewer","name":"scoped","scope":null}'
check_eq "a token with scope null: 400 on scope, not a token of the whole tenant" "400 scope" "$status $(body .error.field)"
api POST /api/v1/csrs '{"subject":{"common_name":"null.example","organization":null}}'
check_eq "a subject's member null: 400 on it" "400 organization" "$status $(body .error.field)"
api DELETE "/api/v1/certificates/$web" # (not one of those counted below)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"a\"},\"ca_id\":\"$issuer\",\"days\":\"ten\"}"
check_eq "wrong type: 400" "400 days" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"a\"},\"ca_id\":\"$issuer\",\"key_usage\":[\"signing\"]}"
check_eq "unknown key usage: 400" "400 key_usage" "$status $(body .error.field)"
check_contains "the accepted names are listed" "$(body .error.message)" "digital_signature"
# The subject's email is an address (it went into the certificate as any text).
for bad in not-an-email "@example.com" "ops@" "a b@example.com" "a@b@c"; do
    api POST /api/v1/certificates "$(jq -n --arg e "$bad" '{subject:{common_name:"mail.example",email:$e}}')"
    check_eq "subject email \"$bad\": 400 on email" "400 email" "$status $(body .error.field)"
done
api POST /api/v1/certificates '{"subject":{"common_name":"mail.example","email":"ops@example.com"}}'
check_eq "an address: 201, in the subject" "201 true" "$status $(body '.subject | contains("ops@example.com")')"
api DELETE "/api/v1/certificates/$(body .id)" # (the count of what bad requests stored, below, is of the others)
# RFC 5280 4.2.1.3: keyCertSign only in a CA's certificate (profiles refuse it too).
api POST /api/v1/certificates "{\"sans\":[\"dns:ku.example\"],\"ca_id\":\"$issuer\",\"key_usage\":[\"digital_signature\",\"key_cert_sign\"]}"
check_eq "key_cert_sign for a certificate that is no CA: 422" "422 key_usage" "$status $(body .error.field)"
check_contains "saying where CAs are made" "$(body .error.message)" "create CAs through the CA calls"
api POST /api/v1/certificates '{"subject":' 
check_eq "malformed JSON: 400" "400 malformed" "$status $(body .error.code)"
check_contains "called not valid JSON, with jansson's reason and where" "$(body .error.message)" \
    "the body is not valid JSON: "
# A number jansson cannot hold makes the text unreadable, not "not an object".
api POST /api/v1/certificates '{"sans":["dns:big.example"],"days":99999999999999999999}'
check_eq "a number too big to read: 400 malformed" "400 malformed" "$status $(body .error.code)"
check_contains "saying the JSON is not valid, why and where" "$(body .error.message)" \
    "the body is not valid JSON: too big integer near '99999999999999999999' (line 1, column "
api POST /api/v1/certificates '["dns:array.example"]'
check_eq "valid JSON that is no object: 400 saying so" "400 the body is not a JSON object" \
    "$status $(body .error.message | cut -d: -f1)"
api POST /api/v1/certificates '{"sans":["dns:twice.example"],"days":3,"days":4}'
check_eq "a field given twice: 400 saying so" "400 the body gives a field twice" \
    "$status $(body .error.message | cut -d'(' -f1 | sed 's/ $//')"
api POST /api/v1/certificates "" -H "Content-Type: application/json" --data-binary @/dev/null
check_eq "an empty JSON body: 400 saying so" "400 the body is empty" "$status $(body .error.message | cut -d: -f1)"
api POST /api/v1/certificates "" -H "Content-Type: text/xml" --data "<cert/>"
check_eq "wrong content type: 415" 415 "$status"
api POST /api/v1/certificates "" -H "Content-Type: application/jsonp" --data '{}'
check_eq "a type that only begins as JSON's: 415" 415 "$status"
api POST /api/v1/certificates "" -H "Content-Type: Application/JSON; charset=utf-8" --data "{\"colour\":1}"
check_eq "JSON's type in capitals, with a parameter, is JSON's (media types ignore case)" "400 colour" \
    "$status $(body .error.field)"
api POST /api/v1/certificates "" -H "Content-Type: application/json; charset=iso-8859-1" --data "{\"name\":\"caf$(printf '\351')\"}"
check_eq "JSON said to be in another charset: 415 saying JSON is UTF-8" \
    "415 JSON is read as UTF-8 (RFC 8259): charset=iso-8859-1 is not taken; send UTF-8, with charset=utf-8 or none" \
    "$status $(body .error.message)"
api POST /api/v1/certificates "" -H 'Content-Type: application/json; charset="UTF-8"' --data "{\"colour\":1}"
check_eq "charset=\"UTF-8\" is UTF-8's" "400 colour" "$status $(body .error.field)"
api POST /api/v1/profiles '{"name":"twice","key_usage":["digital_signature"]}' -H "Authorization: Bearer not-a-token"
check_eq "Authorization twice (one an admin's): 400 saying so, nothing made" \
    "400 the Authorization header is sent more than once: send it once" "$status $(body .error.message)"
api GET /api/v1/profiles/twice
check_eq "(no profile)" 404 "$status"
api DELETE /api/v1/session
check_eq "DELETE /session with a token: 400, the token revoked elsewhere" "400 true" \
    "$status $(body '.error.message | contains("DELETE /api/v1/tokens/{id}")')"
api GET /api/v1/profiles
check_eq "(and the token still works)" 200 "$status"
api POST /api/v1/certificates '{"name":"a\u0000b"}'
check_eq "a NUL in a string: 400 saying so in plain words" "400 a string holds \\u0000, which no field takes" \
    "$status $(body .error.message | sed 's/.*: //')"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"a\"},\"ca_id\":\"$issuer\",\"days\":36000}"
check_eq "validity beyond the CA's: 422" 422 "$status"
# A body saved by an editor that begins it with a byte order mark: said as such (jansson's words
# quote the invisible mark), and nothing issued.
printf '\357\273\277{"subject":"CN=bom.example","ca_id":"%s","days":3}' "$issuer" > bom.json
api POST /api/v1/certificates "" -H "Content-Type: application/json" --data-binary @bom.json
check_eq "a JSON body with a byte order mark: 400 naming it" "400 malformed the body begins with a byte order mark" \
    "$status $(body .error.code) $(body .error.message | cut -d'(' -f1 | sed 's/ $//')"
api GET "/api/v1/certificates?search=bom.example"
check_eq "and nothing was issued" 0 "$(body '.items | length')"
head -c 5000000 /dev/zero | tr '\0' 'a' > big
api POST /api/v1/certificates/import "" -H "Content-Type: application/octet-stream" --data-binary @big
check_eq "oversized body: 413" 413 "$status"
# 5 MB is over evhttp's own cap, which answers before certhubd's code sees the request: its
# HTML page is replaced by the API's JSON error.
check_eq "as the API's JSON error" "too_large application/json" "$(body .error.code) $(curl -s -o /dev/null \
    -w '%{content_type}' --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    --data-binary @big "https://localhost:$port/api/v1/certificates")"
check_contains "saying the limit" "$(body .error.message)" "at most 4 MiB"
# (curl may report the 100 Continue before it as the status when the answer comes while it
# still sends: the last status line of the headers is the answer's)
api POST /api/v1/certificates/import "" -H "Content-Type: application/octet-stream" -H "Transfer-Encoding: chunked" \
    --data-binary @big -D "$T/headers"
status=$(awk '/^HTTP\//{s=$2} END{print s}' "$T/headers")
check_eq "chunked, the same" "413 too_large" "$status $(body .error.code)"
api PUT /api/v1/certificates "" -D headers
check_eq "a method the resource does not take: 405" "405 method_not_allowed" "$status $(body .error.code)"
check_contains "and Allow names those it takes" "$(tr -d '\r' < headers)" "Allow: GET, HEAD, POST"
api POST /api/v1/health
check_eq "health too" "405 this resource takes GET, HEAD" "$status $(body .error.message)"
api GET "/api/v1/health?verbose=1"
check_eq "health takes no query parameter" "400 verbose" "$status $(body .error.field)"
check_contains "and says so" "$(body .error.message)" "GET /api/v1/health takes no query parameters"
api GET "/metrics?x=1"
check_eq "nor /metrics" "400 x" "$status $(body .error.field)"
check_eq "headers of 60 kB are taken" 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" \
    -H "X-Pad: $(head -c 60000 /dev/zero | tr '\0' a)" "https://localhost:$port/api/v1/health")"
check_eq "headers over 64 kB: 400" 400 "$(curl -s -o "$T/body" -w '%{http_code}' --cacert "$data/ca.pem" \
    -H "X-Pad: $(head -c 70000 /dev/zero | tr '\0' a)" "https://localhost:$port/api/v1/health")"
check_eq "as JSON too" malformed "$(body .error.code)"
check_contains "saying what is taken" "$(body .error.message)" "over 64 kB"
check_eq "plain HTTP to the HTTPS port: 400 saying so" "400 https_required" "$(curl -s -o "$T/body" \
    -w '%{http_code}' "http://localhost:$port/api/v1/health") $(body .error.code)"
check_eq "a POST too" "400 https_required" "$(curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"name":"x"}' "http://localhost:$port/api/v1/certificates") $(body .error.code)"
check_eq "a DELETE (which OpenSSL reads as a wrong version) too" "400 https_required" "$(curl -s -o "$T/body" \
    -w '%{http_code}' -X DELETE "http://localhost:$port/api/v1/certificates/x") $(body .error.code)"
check_eq "and HTTPS goes on" 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")"
check_eq "a method evhttp does not take: 501 as JSON" "501 method_not_allowed" "$(curl -s -o "$T/body" -w '%{http_code}' \
    --cacert "$data/ca.pem" -X OPTIONS "https://localhost:$port/api/v1/health") $(body .error.code)"
check_eq "an Expect other than 100-continue: 417 as JSON" "417 expectation_failed" "$(curl -s -o "$T/body" \
    -w '%{http_code}' --cacert "$data/ca.pem" -H 'Expect: later' -d x "https://localhost:$port/api/v1/health") $(body .error.code)"
# Two Content-Length headers: what is read as a body by one reader is a request of its own to
# another (smuggling).  Refused, and nothing after it on the connection is read.
printf 'GET /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 47\r\n\r\nGET /api/v1/openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n' > smuggle.req
out=$(timeout 20 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$port" -CAfile "$data/ca.pem" < smuggle.req 2>/dev/null || true)
check_eq "two Content-Length headers: 400, and the request hidden behind them not answered" "1 0" \
    "$(echo "$out" | grep -c '^HTTP/1.1 400') $(echo "$out" | grep -c 'openapi:')"
# A request line that never ends is cut at the same line, not buffered while it comes.
check_eq "an endless request line is answered 400 and closed" "400 before 8 MB" "$(python3 - "$port" "$data/ca.pem" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
sent = 0
try:
    s.sendall(b"GET /")
    while sent < 8 << 20:
        s.sendall(b"a" * 65536)
        sent += 65536
except OSError:
    pass
s.settimeout(5)
try:
    answer = s.recv(100).split(b" ")[1].decode()
except (OSError, IndexError):
    answer = "nothing"
print(answer, "before 8 MB" if sent < 8 << 20 else "after 8 MB")
PY
)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr.key -subj /CN=bad.example -outform DER -out csr.der 2>/dev/null
# Flip a bit near the end: inside the signature, so the CSR parses but does not verify.
size=$(stat -c %s csr.der)
printf "$(printf '\\%03o' $(( $(od -An -tu1 -j $((size - 5)) -N1 csr.der) ^ 1 )))" | dd of=csr.der bs=1 seek=$((size - 5)) conv=notrunc 2>/dev/null
openssl req -inform DER -in csr.der -out bad.csr 2>/dev/null
api POST /api/v1/certificates "$(jq -n --arg csr "$(cat bad.csr)" --arg ca "$issuer" '{csr:$csr, ca_id:$ca}')"
check_eq "a CSR whose signature does not verify" "csr" "$(body .error.field)"
check_contains "is refused with a 4xx" "$status" "4"
api GET "/api/v1/certificates?limit=1000"
check_eq "none of the bad requests stored anything" "$before" "$(body '.items | length')"

# ---- details and filters
api GET "/api/v1/certificates?search=ov.example"
ov=$(body '.items[0].id')
api GET "/api/v1/certificates/$ov"
check_eq "details hold what inspect shows" "ov.example server_auth,client_auth" \
    "$(body '.details.common_name + " " + (.details.ext_key_usage | join(","))')"
check_contains "and when it was created" "$(body .created_at)" "20"
api GET "/api/v1/certificates?kind=ca"
check_eq "kind=ca lists CAs only" "true" "$(body '[.items[].is_ca] | all')"
api GET "/api/v1/certificates?kind=leaf&limit=5"
check_eq "kind=leaf lists no CA" "false" "$(body '[.items[].is_ca] | any')"
api GET "/api/v1/certificates?ca_id=$issuer&limit=1000"
by_ca=$(body '[.items[].id] | join(" ")')
check_eq "ca_id: only that CA's certificates" "true" "$(body "[.items[].ca_id] | all(. == \"$issuer\")")"
api GET "/api/v1/certificates?limit=1000"
check_eq "every one of them, in the unfiltered list's order (newest first)" "$(body "[.items[] | select(.ca_id == \"$issuer\") | .id] | join(\" \")")" "$by_ca"
check_eq "a CA's certificates in pages of 2 (cursor after cursor): each once, in the same order" "$by_ca" \
    "$(walk_pages "/api/v1/certificates?ca_id=$issuer" 2)"
api GET "/api/v1/certificates?kind=root"
check_eq "an unknown kind: 400" "400 kind" "$status $(body .error.field)"
for bad in 0 1001 10abc; do
    api GET "/api/v1/certificates?limit=$bad"
    check_eq "certificates?limit=$bad: 400" "400 limit" "$status $(body .error.field)"
done
ft=$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)
LD_PRELOAD=$ft FAKETIME="@2020-01-01 00:00:00" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout lapsed.key -subj /CN=lapsed.example -days 30 -out lapsed.pem 2>/dev/null
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat lapsed.pem)" '{name:"lapsed", certificate:$c}')"
check_eq "an expired certificate imported says so" "201 expired" "$status $(body .status)"
api GET "/api/v1/certificates?status=expired"
check_eq "status=expired lists what is past its end" "lapsed" "$(body '[.items[].name] | join(",")')"
api GET "/api/v1/certificates?status=active&limit=1000"
check_eq "status=active leaves it out" "false" "$(body '[.items[].name] | any(. == "lapsed")')"
check_eq "and lists only valid ones" "true" "$(body '[.items[].status] | all(. == "active")')"
check_eq "soonest to end first" "$(body '[.items[].not_after] | join(" ")')" "$(body '[.items[].not_after] | sort | join(" ")')"
api GET /api/v1/overview
overview=$(cat "$T/body")
api GET "/api/v1/certificates?status=active&limit=1000"
check_eq "the overview counts the valid certificates" "$(body '.items | length')" "$(echo "$overview" | jq .certificates.valid)"
api GET "/api/v1/certificates?status=expired&limit=1000"
check_eq "and the expired ones" "$(body '.items | length')" "$(echo "$overview" | jq .certificates.expired)"
api GET "/api/v1/certificates?status=active&limit=1000&expiring_before=$(date -u -d '+182 days' +%Y-%m-%dT%H:%M:%SZ)"
check_eq "and those ending in the next 26 weeks, week by week" "$(body '.items | length')" \
    "$(echo "$overview" | jq '.certificates.expiring_per_week | add')"
check_eq "26 weeks" 26 "$(echo "$overview" | jq '.certificates.expiring_per_week | length')"
# RFC 3339 times with an offset name the same instant as in UTC (%2B: '+' in a query is a space).
# (before the end of a certificate: it is not in the list, as it would be were the offset
# ignored and the time read as a later one in UTC)
api GET "/api/v1/certificates?status=active&limit=1"
at=$(date -u -d "$(body '.items[0].not_after')" +%s)
api GET "/api/v1/certificates?status=active&limit=1000&expiring_before=$(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ)"
utc=$(body '[.items[].id] | join(" ")')
api GET "/api/v1/certificates?status=active&limit=1000&expiring_before=$(TZ=IST-5:30 date -d "@$at" +%Y-%m-%dT%H:%M:%S)%2B05:30"
check_eq "expiring_before with an offset (+05:30): the same certificates" "200 $utc" "$status $(body '[.items[].id] | join(" ")')"
api GET "/api/v1/audit?since=$(TZ=EST5 date -d '-1 hour' +%Y-%m-%dT%H:%M:%S%:z)&limit=1"
check_eq "audit since with a negative offset" 200 "$status"
api GET "/api/v1/certificates?status=revoked"
check_eq "another status: 400" "400 status" "$status $(body .error.field)"
api GET "/api/v1/certificates?method=imported&limit=1000"
check_eq "method=imported lists imports only" "true" "$(body '[.items[].method] | all(. == "imported")')"
api GET "/api/v1/certificates?method=stolen"
check_eq "an unknown method: 400" "400 method" "$status $(body .error.field)"

# ---- uploads: JSON, multipart, raw
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout up.key -subj /CN=upload.example -days 30 -out up.pem 2>/dev/null
openssl x509 -in up.pem -outform DER -out up.der
api POST /api/v1/certificates/import "" -F "file=@up.pem" -F "private_key=<up.key" -F "name=from a form"
check_eq "multipart import with key" 201 "$status"
check_eq "named from the form" "from a form true" "$(body '.name + " " + (.has_private_key | tostring)')"
api POST "/api/v1/certificates/import?name=raw" "" -H "Content-Type: application/pkix-cert" --data-binary @up.der
check_eq "the same certificate as a raw DER body: 409" 409 "$status"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout raw.key -subj /CN=raw.example -days 30 -outform DER -out raw.der 2>/dev/null
api POST "/api/v1/certificates/import?name=raw%FF" "" -H "Content-Type: application/pkix-cert" --data-binary @raw.der
check_eq "a name in the query that is not UTF-8: 400, not a silent default" "400 name" "$status $(body .error.field)"
api POST "/api/v1/certificates/import?name=raw" "" -H "Content-Type: application/pkix-cert" --data-binary @raw.der
check_eq "raw DER body imported" "201 raw" "$status $(body .name)"
# Without a name field, the form's file name, cut to a name's 128 characters: an upload that named
# nothing is not refused for its file's name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout longname.key -subj /CN=longname.example \
    -days 30 -out longname.pem 2>/dev/null
api POST /api/v1/certificates/import "" -F "file=@longname.pem;filename=$(printf 'y%.0s' $(seq 1 200)).pem"
check_eq "a form's long file name: cut to 128 characters" "201 128" "$status $(body '.name | length')"
api DELETE "/api/v1/certificates/$(body .id)"
api POST /api/v1/certificates/import "" -F "file=@longname.pem;filename=$(printf 'y%.0s' $(seq 1 300)).pem"
check_eq "one of 300 (beyond a form's 255 bytes): cut the same (it was the CN)" "201 128" "$status $(body '.name | length')"
api DELETE "/api/v1/certificates/$(body .id)"
api POST /api/v1/certificates/import "" -F "file=@longname.pem;filename=$(printf 'ü%.0s' $(seq 1 200)).pem"
check_eq "of two-byte characters: cut at a whole one, to 128" "201 128" "$status $(body '.name | length')"
api DELETE "/api/v1/certificates/$(body .id)"
{ printf -- '--zz\r\nContent-Disposition: form-data; name="file"; filename="a\0evil.pem"\r\n\r\n'
  cat longname.pem; printf -- '\r\n--zz--\r\n'; } > nul-name.form
api POST /api/v1/certificates/import "" -H "Content-Type: multipart/form-data; boundary=zz" --data-binary @nul-name.form
check_eq "a NUL in the file name: no name taken of it (it was \"a\"), the CN" "201 longname.example" "$status $(body .name)"
api POST /api/v1/certificates/import "" -F "file=@up.pem" -F "colour=red"
check_eq "unknown form field: 400" "400 colour" "$status $(body .error.field)"
api POST /api/v1/certificates/import "" -F "file=@up.pem" -F "file=@raw.der"
check_eq "two files in one form: 400 saying so" "400 file two files" "$status $(body .error.field) $(body .error.message | grep -o 'two files')"
api POST /api/v1/certificates/import "" -H "Content-Type: multipart/form-data; boundary=zz" --data-binary $'--zz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'
check_eq "a cut multipart body: 400" 400 "$status"
openssl pkcs12 -export -in up.pem -inkey up.key -name web -passout pass:s3cret -out up.p12

# ---- a certificate imported from a file that holds its key, or from a certificate bag
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bag.key -subj /CN=bag.example -days 30 -out bag.pem 2>/dev/null
openssl pkcs12 -export -in bag.pem -inkey bag.key -name bag -passout pass:s3cret -out bag.p12
api POST /api/v1/certificates/import "" -F "file=@bag.p12"
check_eq "a PKCS#12 without its password: 400, the password asked for" "400 password" "$status $(body .error.field)"
check_contains "and said so" "$(body .error.message)" "give its password"
api POST /api/v1/certificates/import "" -H "Content-Type: application/x-pkcs12" --data-binary @bag.p12
check_contains "a raw body: told where its password goes" "$(body .error.message)" "a raw body takes it in the Certhub-Password header"
api POST /api/v1/certificates/import "" -F "file=@bag.p12" -F "password=wrong"
check_eq "with a wrong password: 400 wrong_password" "400 wrong_password" "$status $(body .error.code)"
api GET "/api/v1/certificates?search=bag.example"
check_eq "and nothing was stored" 0 "$(body '.items | length')"
# ---- a preview: what an import would store, read and checked as it would be, nothing stored
api GET "/api/v1/certificates?limit=1000"
before=$(body '.items | length')
api GET "/api/v1/audit?limit=1&order=desc"
audit_before=$(body '.items[0]')
api POST /api/v1/certificates/import "" -F "file=@bag.p12" -F "password=s3cret" -F "preview=true"
check_eq "a preview: 200, the subject, the key included, no id" "200 true CN=bag.example true null" \
    "$status $(body .preview) $(body .subject) $(body .has_private_key) $(body .id)"
check_contains "with the certificate decoded (its key)" "$(body .details.key_algorithm)" "EC"
api POST /api/v1/certificates/import "" -F "file=@bag.p12" -F "password=wrong" -F "preview=true"
check_eq "a preview with a wrong password: the import's 400 wrong_password" "400 wrong_password" "$status $(body .error.code)"
api POST /api/v1/certificates/import "$(jq -n '{certificate:"not a certificate", preview:true}')"
check_eq "a preview of a bad file: 4xx" 4 "${status:0:1}"
api POST "/api/v1/certificates/import?preview=true" "" -H "Content-Type: application/pkix-cert" --data-binary @raw.der
check_eq "a preview of one held already: the import's 409" "409" "$status"
api POST "/api/v1/certificates/import?preview=maybe" "" -H "Content-Type: application/pkix-cert" --data-binary @raw.der
check_eq "preview neither true nor false: 400" "400 preview" "$status $(body .error.field)"
api GET "/api/v1/certificates?limit=1000"
check_eq "previews stored nothing: the list is as long as before" "$before" "$(body '.items | length')"
api GET "/api/v1/audit?limit=1&order=desc"
check_eq "and audited nothing: the newest entry is the one before" "$audit_before" "$(body '.items[0]')"
api POST /api/v1/certificates/import "" -F "file=@bag.p12" -F "password=s3cret"
check_eq "a PKCS#12 imported as a certificate with its key" "201 CN=bag.example true bag.p12" \
    "$status $(body .subject) $(body .has_private_key) $(body .name)"
bag_id=$(body .id)
api POST "/api/v1/certificates/$bag_id/private-key" ""
[ "$status" = 200 ] && openssl pkey -in "$T/body" -pubout 2>/dev/null | cmp -s - <(openssl pkey -in bag.key -pubout) &&
    ok "the key imported from the PKCS#12 is the certificate's"
api DELETE "/api/v1/certificates/$bag_id"
cat bag.key bag.pem > bag-with-key.pem
api POST "/api/v1/certificates/import?name=pem-with-key" "" -H "Content-Type: application/x-pem-file" --data-binary @bag-with-key.pem
check_eq "PEM with the key in the same file: the key is kept" "201 true" "$status $(body .has_private_key)"
api DELETE "/api/v1/certificates/$(body .id)"
openssl crl2pkcs7 -nocrl -certfile bag.pem -certfile up.pem -outform DER -out bag.p7b
api POST "/api/v1/certificates/import?name=from-p7b" "" -H "Content-Type: application/pkcs7-mime" --data-binary @bag.p7b
check_eq "a PKCS#7 bag: its first certificate" "201 CN=bag.example false" "$status $(body .subject) $(body .has_private_key)"
openssl pkcs12 -export -in up.pem -inkey up.key -name two -passout pass:s3cret -out two.p12 2>/dev/null
keytool -importkeystore -srckeystore bag.p12 -srcstoretype pkcs12 -srcstorepass s3cret -destkeystore two.jks \
    -deststoretype jks -deststorepass s3cret -noprompt >/dev/null 2>&1
keytool -importkeystore -srckeystore two.p12 -srcstoretype pkcs12 -srcstorepass s3cret -destkeystore two.jks \
    -deststoretype jks -deststorepass s3cret -noprompt >/dev/null 2>&1
api POST /api/v1/certificates/import "" -F "file=@two.jks" -F "password=s3cret"
check_eq "a keystore of two keys is refused as one certificate, pointing at keystores" "400 /api/v1/keystores" \
    "$status $(body .error.message | grep -o /api/v1/keystores)"
printf 'not a certificate' > junk.txt
api POST /api/v1/certificates/import "" -F "file=@junk.txt"
check_contains "junk: 400 naming the accepted formats" "$status $(body .error.message)" "400 "
check_contains "junk: the formats" "$(body .error.message)" "PKCS#12"
api POST "/api/v1/keystores?name=raw-p12" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" --data-binary @up.p12
check_eq "raw PKCS#12 keystore with the password in a header" "201 p12" "$status $(body .format)"
ks=$(body .id)
for f in pem:application/x-pem-file p7b:application/pkcs7-mime p12:application/x-pkcs12 jks:application/x-java-keystore; do
    case $f in p12* | jks*) pw=',"password":"s3cret"' ;; *) pw="" ;; esac
    api POST "/api/v1/keystores/$ks/export" "{\"format\":\"${f%%:*}\"$pw}" -D headers
    check_eq "a keystore exported as ${f%%:*}: its own media type" "200 ${f#*:}" \
        "$status $(tr -d '\r' < headers | sed -n 's/^Content-Type: //Ip')"
done
# A certificate a keystore holds (an entry's, or in its chain) is not deleted from under it:
# that failed on a foreign key ("already exists"), or for a chain's certificate succeeded and
# left the keystore unable to export.
api GET "/api/v1/keystores/$ks/entries"
kcert=$(body '.items[0].certificate_id')
api DELETE "/api/v1/certificates/$kcert"
check_eq "a keystore entry's certificate: 409 naming the keystore, and the entry to delete" "409 true true" \
    "$status $(body '.error.message | contains("of keystore \"raw-p12\"")') $(body '.error.message | contains("delete that entry")')"
api GET "/api/v1/certificates/$kcert"
check_eq "and it is still there" 200 "$status"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout kroot.key -subj "/CN=Keystore Root" \
    -days 30 -addext "keyUsage=critical,keyCertSign,cRLSign" -out kroot.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout kleaf.key -subj "/CN=kleaf.example" \
    -out kleaf.csr 2>/dev/null
openssl x509 -req -in kleaf.csr -CA kroot.pem -CAkey kroot.key -CAcreateserial -days 10 -out kleaf.pem 2>/dev/null
openssl pkcs12 -export -in kleaf.pem -inkey kleaf.key -certfile kroot.pem -name kleaf -passout pass:s3cret -out kchain.p12
api POST "/api/v1/keystores?name=chained" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" --data-binary @kchain.p12
[ "$status" = 201 ] || fail "uploading a P12 with its chain: $status $(cat "$T/body")"
api GET "/api/v1/keystores/$(body .id)/entries/kleaf"
kca=$(body '.chain[0].id // empty')
[ -n "$kca" ] || fail "the chained keystore's entry has no chain: $(cat "$T/body")"
api DELETE "/api/v1/certificates/$kca"
check_eq "a CA of an entry's chain: 409 saying it is in the chain (not the entry's)" "409 true" \
    "$status $(body '.error.message | contains("is in the chain of entry")')"
# A JCEKS holding a secret key beside a key entry: the key entry is taken, the secret key left
# out and said to be in the answer.
keytool -genseckey -keystore sec.jceks -storetype JCEKS -storepass s3cret -keypass s3cret -alias app-aes -keyalg AES \
    -keysize 128 2>/dev/null
keytool -importkeystore -srckeystore up.p12 -srcstoretype pkcs12 -srcstorepass s3cret -destkeystore sec.jceks \
    -deststoretype JCEKS -deststorepass s3cret -destkeypass s3cret >/dev/null 2>&1
api POST "/api/v1/keystores?name=with-secret" "" -H "Content-Type: application/octet-stream" -H "Certhub-Password: s3cret" \
    --data-binary @sec.jceks
check_eq "a JCEKS with a secret key: stored, the secret key said to be left out" \
    "201 jceks entry \"app-aes\" is a secret key, which certhub does not hold: left out" \
    "$status $(body .format) $(body '.notes[0]')"
api GET "/api/v1/keystores/$(body .id)/entries"
check_eq "and its key entry is there" "1 true" "$(body '.items | length') $(body '.items[0].has_private_key')"
head -c 700 up.p12 > cut.p12
api POST "/api/v1/keystores?name=cut" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" --data-binary @cut.p12
check_eq "a keystore cut short: 400 saying so, with the lengths" "400 true" \
    "$status $(body '.error.message | test("cut short: its DER encoding says [0-9]+ bytes, and only 700 are there")')"
api POST /api/v1/keystores "" -F "file=@up.p12" -F "password=wrong"
check_eq "multipart keystore, wrong password: 400" "400 wrong_password" "$status $(body .error.code)"
api POST /api/v1/keystores "" -F "file=@up.p12;filename=web.p12" -F "password=s3cret"
check_eq "multipart keystore named after its file" "201 web.p12" "$status $(body .name)"

# ---- CSR download, and an intermediate signed by an outside CA
api POST /api/v1/csrs '{"name":"edge issuing","subject":{"common_name":"Edge Issuing CA","organization":"Acme"},"key_type":"p256"}'
check_eq "CSR created with a server key" 201 "$status"
csr_id=$(body .id)
api GET "/api/v1/csrs/$csr_id/export"
cp "$T/body" edge.csr
openssl req -in edge.csr -noout -verify 2>/dev/null || fail "the downloaded CSR does not verify"
ok "the downloaded CSR verifies with openssl"
api GET "/api/v1/csrs/$csr_id/export?format=der"
openssl req -inform DER -in "$T/body" -noout 2>/dev/null || fail "the DER CSR does not parse"
ok "DER download"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout outside.key -subj "/CN=Outside Root" -days 60 -out outside.pem 2>/dev/null
printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > ext.cnf
openssl x509 -req -in edge.csr -CA outside.pem -CAkey outside.key -CAcreateserial -days 30 -extfile ext.cnf -out edge.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --arg c "$(cat edge.pem)" --arg id "$csr_id" '{name:"edge issuing", type:"import", certificate:$c, csr_id:$id}')"
check_eq "the outside-signed intermediate imported on its CSR" "201 true" "$status $(body .can_sign)"
edge=$(body .id)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"gw.edge.example\"},\"sans\":[\"dns:gw.edge.example\"],\"ca_id\":\"$edge\",\"days\":10}"
check_eq "it signs" 201 "$status"
body .pem > gw.pem
openssl verify -CAfile outside.pem -untrusted edge.pem gw.pem >/dev/null || fail "the leaf does not chain to the outside root"
ok "its leaf chains to the outside root"
api POST /api/v1/cas "$(jq -n --arg c "$(cat edge.pem)" --arg id "$csr_id" '{name:"again", type:"import", certificate:$c, csr_id:$id}')"
check_eq "the CSR is used up: 409" 409 "$status"
# The outside root brought in after it (to chain to, without its key): the intermediate it
# signed is linked to it, and its chain now ends at the root.
api GET "/api/v1/cas/$edge/chain"
check_eq "before, the intermediate's chain is itself" 1 "$(grep -c 'BEGIN CERTIFICATE' "$T/body")"
api POST /api/v1/cas "$(jq -n --arg c "$(cat outside.pem)" '{name:"outside root", type:"import", certificate:$c}')"
check_eq "the outside root imported without its key" "201 false null" "$status $(body .can_sign) $(body .parent_id)"
outside=$(body .id)
api GET "/api/v1/cas/$edge"
check_eq "the intermediate it signed now has it as parent" "$outside" "$(body .parent_id)"
api GET "/api/v1/cas/$edge/chain"
cp "$T/body" edge-chain.pem
check_eq "and its chain ends at the root" "$(openssl x509 -in outside.pem -noout -fingerprint -sha256)" \
    "$(awk '/BEGIN CERT/ {b = ""} {b = b $0 "\n"} END {printf "%s", b}' edge-chain.pem | openssl x509 -noout -fingerprint -sha256)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mid2.key -subj "/CN=Second Outside Issuing" -days 20 \
    -CA outside.pem -CAkey outside.key -addext "basicConstraints=critical,CA:true,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out mid2.pem 2>/dev/null
# Its key encrypted, as a CA's key often is: the password opens it, and is asked for.
openssl pkey -in mid2.key -aes256 -passout pass:kp -out mid2-enc.key
for pw in '' bad; do
    api POST /api/v1/cas "$(jq -n --arg c "$(cat mid2.pem)" --arg k "$(cat mid2-enc.key)" --arg p "$pw" \
        '{name:"second issuing", type:"import", certificate:$c, private_key:$k} + (if $p == "" then {} else {password:$p} end)')"
    check_eq "an encrypted CA key with ${pw:-no} password: 400 wrong_password on private_key" \
        "400 wrong_password private_key" "$status $(body .error.code) $(body .error.field)"
done
api POST /api/v1/cas "$(jq -n --arg c "$(cat mid2.pem)" --arg k "$(cat mid2-enc.key)" '{name:"second issuing", type:"import", certificate:$c, private_key:$k, password:"kp"}')"
check_eq "an intermediate imported after its root is linked at once (its key opened with its password)" \
    "201 $outside true" "$status $(body .parent_id) $(body .can_sign)"
mid2=$(body .id)
api GET "/api/v1/cas/$mid2/chain"
check_eq "its chain: itself and the root" 2 "$(grep -c 'BEGIN CERTIFICATE' "$T/body")"
api DELETE "/api/v1/cas/$outside"
check_eq "the root is not deleted while CAs it signed are there" 409 "$status"
# A cross-signed pair (B signed by A's key, and A's name and key signed by B's) is linked one
# way only: no loop.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout xa.key -subj "/CN=Cross A" -days 20 \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" -out xa.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout xb.key -subj "/CN=Cross B" -out xb.csr 2>/dev/null
printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n' > xca.cnf
openssl x509 -req -in xb.csr -CA xa.pem -CAkey xa.key -days 20 -extfile xca.cnf -out xb.pem 2>/dev/null
openssl req -new -key xa.key -subj "/CN=Cross A" -out xa.csr 2>/dev/null
openssl x509 -req -in xa.csr -CA xb.pem -CAkey xb.key -days 20 -extfile xca.cnf -out xa-by-b.pem 2>/dev/null
api POST /api/v1/cas "$(jq -n --arg c "$(cat xb.pem)" '{name:"cross b", type:"import", certificate:$c}')"
xb=$(body .id)
api POST /api/v1/cas "$(jq -n --arg c "$(cat xa-by-b.pem)" '{name:"cross a by b", type:"import", certificate:$c}')"
check_eq "the cross-certificate takes B as parent" "201 $xb" "$status $(body .parent_id)"
api GET "/api/v1/cas/$xb"
check_eq "and B is not made its child in turn" null "$(body .parent_id)"

# A CSR made here, signed by certhub's own CA: the certificate takes the CSR's key and the CSR
# its certificate, once.
api POST /api/v1/csrs '{"name":"partner","subject":{"common_name":"partner.example"},"sans":["dns:partner.example"],"key_type":"p256"}'
pcsr=$(body .id)
api POST /api/v1/certificates "{\"csr_id\":\"$pcsr\",\"ca_id\":\"$issuer\"}"
check_eq "issued on a CSR made here: 201, holding its key" "201 true csr_signed" "$status $(body .has_private_key) $(body .method)"
pcert=$(body .id)
body .pem > partner.pem
check_contains "the CSR's SAN is the certificate's" "$(openssl x509 -in partner.pem -noout -ext subjectAltName)" "DNS:partner.example"
api GET "/api/v1/csrs/$pcsr"
check_eq "the CSR knows its certificate" "$pcert" "$(body .certificate_id)"
api GET "/api/v1/audit?limit=1000&order=desc"
check_contains "the issuance's audit entry names the CSR" \
    "$(body '[.items[] | select(.object_id == "'"$pcert"'" and .action == "certificate.issue") | .detail] | tostring')" "$pcsr"
api POST "/api/v1/certificates/$pcert/private-key"
cp "$T/body" partner.key
check_eq "the certificate's key is the CSR's" "$(openssl x509 -in partner.pem -noout -pubkey)" "$(openssl pkey -in partner.key -pubout)"
api POST /api/v1/certificates "{\"csr_id\":\"$pcsr\",\"ca_id\":\"$issuer\"}"
check_eq "a CSR signed already: 409 on csr_id" "409 csr_id" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"csr_id\":\"csr_missing\",\"ca_id\":\"$issuer\"}"
check_eq "an unknown CSR: 404 on csr_id" "404 csr_id" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"csr_id\":\"$pcsr\",\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "csr_id with key_type: 400" 400 "$status"
# Deleting a certificate issued on a CSR made here failed on the CSR's reference to it (a 409
# "already exists" naming a foreign key): now the CSR goes back to waiting, its key kept.
api DELETE "/api/v1/certificates/$pcert"
check_eq "a certificate issued on a CSR made here is deleted" 200 "$status"
api GET "/api/v1/csrs/$pcsr"
check_eq "its CSR waits again, with its key" "null true" "$(body .certificate_id) $(body .has_private_key)"
api POST /api/v1/certificates "{\"csr_id\":\"$pcsr\",\"ca_id\":\"$issuer\"}"
check_eq "and can be signed again, under the same key" "201 $(openssl x509 -in partner.pem -noout -pubkey | tr -d '\n')" \
    "$status $(body .pem | openssl x509 -noout -pubkey | tr -d '\n')"
pcert=$(body .id)
# A CSR is deleted with its key, unless the certificate it was signed for holds that key.
api DELETE "/api/v1/csrs/$pcsr"
check_eq "a signed CSR deleted" 200 "$status"
api POST "/api/v1/certificates/$pcert/private-key"
check_eq "its certificate keeps the key" "200 $(openssl pkey -in partner.key -pubout | tr -d '\n')" \
    "$status $(openssl pkey -in "$T/body" -pubout 2>/dev/null | tr -d '\n')"
api GET "/api/v1/csrs/$pcsr"
check_eq "the CSR is gone" 404 "$status"
api POST /api/v1/csrs '{"name":"abandoned","subject":{"common_name":"abandoned.example"}}'
acsr=$(body .id)
api DELETE "/api/v1/csrs/$acsr"
check_eq "a CSR never signed deleted, its key with it" 200 "$status"
api GET "/api/v1/audit?limit=1&order=desc"
check_eq "and audited" "csr.delete $acsr" "$(body '.items[0] | .action + " " + .object_id')"
api DELETE "/api/v1/csrs/$acsr"
check_eq "again: 404" 404 "$status"

# CSRs and keystores a page at a time.
for i in 1 2 3; do
    api POST /api/v1/csrs "{\"subject\":{\"common_name\":\"paged-$i\"},\"key_type\":\"p256\"}"
    [ "$status" = 201 ] || fail "CSR paged-$i: $status"
done
check_eq "an unnamed CSR is called by its common name" "paged-3" "$(body .name)"
api GET "/api/v1/csrs?limit=1000"
all=$(body '[.items[].id] | join(" ")')
check_eq "CSRs in pages of 2 give each once" "$all" "$(walk_pages /api/v1/csrs 2)"
check_eq "and there are more than two" "true" "$([ "$(echo "$all" | wc -w)" -gt 2 ] && echo true)"
api GET "/api/v1/keystores?limit=1000"
all=$(body '[.items[].id] | join(" ")')
check_eq "keystores in pages of 1 give each once" "$all" "$(walk_pages /api/v1/keystores 1)"
check_eq "and there are more than one" "true" "$([ "$(echo "$all" | wc -w)" -gt 1 ] && echo true)"


# Every list a page at a time: CAs, tokens and trusted certificates in the order they came
# (by id), tenants, console users and profiles by name.
for n in 1 2; do
    api POST /api/v1/tenants "{\"name\":\"paged-$n\"}"
    api POST /api/v1/tokens "{\"role\":\"viewer\",\"name\":\"paged-$n\"}"
    api POST /api/v1/users "{\"name\":\"paged-$n\",\"role\":\"viewer\",\"password\":\"correct horse $n\"}"
    [ "$status" = 201 ] || fail "user paged-$n: $status $(cat "$T/body")"
    api POST /api/v1/profiles "{\"name\":\"paged-$n\",\"key_usage\":[\"digital_signature\"]}"
    [ "$status" = 201 ] || fail "profile paged-$n: $status $(cat "$T/body")"
done
api GET "/api/v1/cas/$issuer/chain"
awk '/BEGIN/ { n++ } { print > ("chain-" n ".pem") }' "$T/body"
for f in chain-1.pem chain-2.pem; do
    api POST /api/v1/trusted-certificates "$(jq -n --rawfile c "$f" '{certificate: $c}')"
    [ "$status" = 201 ] || fail "trusting $f: $status $(cat "$T/body")"
done
for list in cas:id tokens:id trusted-certificates:id tenants:name users:name profiles:name; do
    path=/api/v1/${list%%:*} field=${list#*:}
    api GET "$path?limit=1000"
    all=$(body "[.items[].$field] | join(\" \")")
    check_eq "${list%%:*} in pages of 1 give each once" "$all" "$(walk_pages "$path" 1 "$field")"
    check_eq "${list%%:*}: more than one" "true" "$([ "$(echo "$all" | wc -w)" -gt 1 ] && echo true)"
    api GET "$path?limit=1&cursor=not-a-cursor"
    check_eq "${list%%:*}: a cursor not given by the server is refused" "400 cursor" "$status $(body .error.field)"
done
api GET /api/v1/tenants?limit=2
check_eq "tenants by name" "acme default" "$(body '[.items[].name] | join(" ")')"
# A page whose last profile goes before the next is read: the next starts after its name.
api GET "/api/v1/profiles?limit=1000"
before=$(body '[.items[].name | select(. != "paged-1")] | join(" ")')
at=$(body '[.items[].name] | index("paged-1") + 1')
api GET "/api/v1/profiles?limit=$at"
check_eq "a page ending at paged-1" "paged-1" "$(body '.items[-1].name')"
first=$(body '[.items[:-1][].name] | join(" ")')
cursor=$(body .next_cursor)
api DELETE /api/v1/profiles/paged-1
api GET "/api/v1/profiles?limit=1000&cursor=$cursor"
check_eq "after it went, the next page starts at the name after it" "$before" "$first $(body '[.items[].name] | join(" ")')"

# A query parameter a route does not take is refused by name, with what the route takes: a
# misspelt filter would otherwise list everything.
api GET "/api/v1/certificates?expires_before=30d"
check_eq "an unknown filter: 400 on its name" "400 expires_before" "$status $(body .error.field)"
check_contains "saying what the route takes" "$(body .error.message)" "takes limit, cursor, search, expiring_before"
api GET "/api/v1/certificates?limit"
check_eq "a parameter without its =: 400 saying what a query string is" "400 true" \
    "$status $(body '.error.message | contains("name=value pairs")')"
api GET "/api/v1/certificates?limit=1&limit=2"
check_eq "a parameter given twice: 400" "400 limit" "$status $(body .error.field)"
api GET "/api/v1/certificates?li%6Dit=1"
check_eq "a name %-encoded is the name decoded" "200 1" "$status $(body '.items | length')"
api GET "/api/v1/certificates?limit=1&li%6Dit=2"
check_eq "so it is the same parameter given twice" "400 limit" "$status $(body .error.field)"
api GET "/api/v1/settings?tenant=acme"
check_eq "?tenant where it is not taken: 400" "400 tenant" "$status $(body .error.field)"
check_contains "saying where it is" "$(body .error.message)" "reads another tenant's lists and objects"
api GET "/api/v1/cas/$issuer?verbose=1"
check_contains "a route with no parameters of its own names tenant" "$(body .error.message)" "takes tenant"
api DELETE "/api/v1/cas/$issuer?forse=true"
check_eq "a misspelt force deletes nothing" "400 forse" "$status $(body .error.field)"
api DELETE "/api/v1/cas/$issuer?force=yes"
check_eq "force is true or false" "400 force" "$status $(body .error.field)"
api GET "/api/v1/cas/$issuer"
check_eq "the CA is still there" 200 "$status"
api POST "/api/v1/certificates?name=x" '{"name":"q","profile":"tls-server","subject":{"common_name":"q.example"},"key_type":"p256"}'
check_eq "a JSON body takes no query" "400 name" "$status $(body .error.field)"
check_contains "and says so" "$(body .error.message)" "takes no query parameters"
TOKEN="" api GET "/api/v1/bundles/default?fromat=jks"
check_eq "the public bundle too" "400 fromat" "$status $(body .error.field)"

# Issued for a public key alone (the key stays with its owner), and with cap_validity ended
# with the CA rather than refused.
openssl genpkey -algorithm ed25519 -out pk.key 2>/dev/null
api POST /api/v1/certificates "$(jq -n --arg p "$(openssl pkey -in pk.key -pubout)" --arg i "$issuer" \
    '{name:"pk", public_key:$p, ca_id:$i, sans:["dns:pk.example"]}')"
check_eq "issued for a public key: method issued, no key held" "201 issued false" \
    "$status $(body .method) $(body .has_private_key)"
check_eq "and it certifies that key" "$(openssl pkey -in pk.key -pubout | tr -d '\n')" \
    "$(body .pem | openssl x509 -noout -pubkey | tr -d '\n')"
# An Ed25519 CA signs without a digest: one asked for is refused, not dropped without a word.
api POST /api/v1/cas '{"name":"ed root","type":"root","subject":{"common_name":"Ed Root"},"key_type":"ed25519","days":30}'
edca=$(body .id)
api POST /api/v1/certificates "{\"sans\":[\"dns:ed.example\"],\"ca_id\":\"$edca\",\"days\":5,\"digest\":\"sha512\"}"
check_eq "a digest for an Ed25519 CA's signature: 400" "400 digest" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"sans\":[\"dns:ed.example\"],\"ca_id\":\"$edca\",\"days\":5}"
check_eq "without one: issued, signed with Ed25519" "201 ED25519" "$status $(body .pem | openssl x509 -noout -text | sed -n 's/.*Signature Algorithm: //p' | head -1)"
api DELETE "/api/v1/cas/$edca?force=true"
api POST /api/v1/certificates "{\"name\":\"pk2\",\"public_key\":\"not a key\",\"ca_id\":\"$issuer\"}"
check_eq "a public key that is none: 400 on public_key" "400 public_key" "$status $(body .error.field)"
api GET "/api/v1/cas/$issuer"
ca_end=$(body .not_after)
api POST /api/v1/certificates "{\"name\":\"cv\",\"sans\":[\"dns:cv.example\"],\"days\":36000,\"ca_id\":\"$issuer\",\"cap_validity\":true}"
check_eq "beyond the CA's end with cap_validity: ends with the CA" "201 $ca_end" "$status $(body .not_after)"

# Renewing by hand: a new key, or with reuse_key the same; reuse_key is true or false (a
# string was read as false, a new key made where the same was asked for).
api POST /api/v1/certificates "{\"name\":\"rk\",\"sans\":[\"dns:rk.example\"],\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
rk=$(body .id)
key_of() { body .pem | openssl x509 -noout -pubkey | tr -d '\n'; }
first=$(key_of)
api POST "/api/v1/certificates/$rk/renew" '{"reuse_key":"yes"}'
check_eq "reuse_key as a word: 400" "400 reuse_key" "$status $(body .error.field)"
api POST "/api/v1/certificates/$rk/renew" '{"cap_validity":"true"}'
check_eq "a flag as the string \"true\" in JSON: 400" "400 cap_validity" "$status $(body .error.field)"
api POST "/api/v1/certificates/$rk/renew" '{"reuse_key":true}'
check_eq "renewed with reuse_key: the same key" "201 $first" "$status $(key_of)"
# It went out as a public key alone, and the renewed certificate held no key: no PKCS#12 of
# it, no key for the agent, and its next renewal kept that key for good.
check_eq "and certhub holds that key for the new certificate too" true "$(body .has_private_key)"
rk2=$(body .id)
api POST "/api/v1/certificates/$rk2/private-key"
check_eq "the key exported for it is the one it certifies" "200 $first" "$status $(openssl pkey -in "$T/body" -pubout 2>/dev/null | tr -d '\n')"
api POST "/api/v1/certificates/$rk2/renew" ""
check_eq "renewed without a body: a new key" "201 new" "$status $([ "$(key_of)" != "$first" ] && echo new)"
api DELETE "/api/v1/certificates/$rk"
api POST "/api/v1/certificates/$rk2/private-key"
check_eq "the first deleted, the key stays for the one renewed with it" "200 $first" \
    "$status $(openssl pkey -in "$T/body" -pubout 2>/dev/null | tr -d '\n')"

# One certificate renewed by six requests at once: one renewal; each of the others a 409 that
# says it was renewed already (a request that lost at the link said "linking a renewal: nothing
# to change (already done?)").
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"raced.example\"},\"sans\":[\"dns:raced.example\"],\"ca_id\":\"$(quickstart_issuer)\"}"
raced=$(body .id)
urls=()
for i in 1 2 3 4 5 6; do urls+=("https://localhost:$port/api/v1/certificates/$raced/renew"); done
curl -s --parallel --parallel-max 6 --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" --data '{}' -w '\n%{http_code}\n' "${urls[@]}" > "$T/raced"
check_eq "six renewals at once: one made, five refused" "1 5" \
    "$(grep -cx 201 "$T/raced" || true) $(grep -cx 409 "$T/raced" || true)"
check_eq "each refusal saying it was renewed already" 5 "$(grep -c 'was renewed already' "$T/raced" || true)"

done_testing
