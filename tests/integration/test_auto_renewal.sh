#!/usr/bin/env bash
# Automatic renewal with a moved clock (libfaketime, certhubd's clock only): a one-day
# certificate with auto_renew is renewed once, before its 12-hour threshold, across a
# restart of certhubd in the middle; the new one keeps subject, SANs and profile, has a new
# key, and is linked to the old one; a keystore made of it holds the new one (keytool reads
# it).  Uploaded certificates cannot be renewed automatically.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/keytool.sh"

fake_clock
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)

api POST /api/v1/certificates "{\"name\":\"edge-gw\",\"profile\":\"tls-server\",\"subject\":{\"common_name\":\"gw.example\"},\"sans\":[\"dns:gw.example\",\"ip:10.1.2.3\"],\"key_type\":\"p256\",\"days\":1,\"ca_id\":\"$issuer\",\"auto_renew\":true}"
check_eq "a one-day certificate with automatic renewal" "201 true" "$status $(body .auto_renew)"
old=$(body .id)
nb=$(date -d "$(body .not_before)" +%s); ra=$(date -d "$(body .renew_at)" +%s); na=$(date -d "$(body .not_after)" +%s)
[ $((na - ra)) -ge 43200 ] && [ $((na - ra)) -le 43300 ] || fail "renew_at is $((na - ra)) s before the end, not 12 hours"
ok "renewed 12 hours before its end (half of its life, backdating included)"
[ "$ra" -gt "$nb" ] || fail "renew_at before not_before"
ok "not before it was made"
# Stored as a keystore too (the console's wizard offers both together): the keystore follows.
api POST /api/v1/keystores "{\"format\":\"jks\",\"certificate_id\":\"$old\",\"alias\":\"edge\"}"
check_eq "a JKS keystore of it" 201 "$status"
ks=$(body .id)
api GET /api/v1/settings
check_eq "the default renewal point reads as a person writes 2/3" 0.666666666666667 "$(jq -c .renewal_point "$T/body")"
api PATCH /api/v1/settings '{"renewal_point":0.95}'
check_eq "a renewal point past 0.9 is refused" "400 renewal_point" "$status $(body .error.field)"
api PATCH /api/v1/settings '{"renewal_point":0.5}'
api POST /api/v1/certificates "{\"name\":\"half\",\"subject\":{\"common_name\":\"half.example\"},\"days\":300,\"ca_id\":\"$issuer\",\"auto_renew\":true}"
hnb=$(date -d "$(body .not_before)" +%s); hra=$(date -d "$(body .renew_at)" +%s); hna=$(date -d "$(body .not_after)" +%s)
[ $(( (hra - hnb) * 100 / (hna - hnb) )) -eq 50 ] || fail "renew_at is not at half of the life"
ok "the renewal point is configurable per tenant (half of a 300-day life)"
# Switched on afterwards, the same point (it took the default 2/3 there), and audited.
api POST /api/v1/certificates "{\"name\":\"later\",\"subject\":{\"common_name\":\"later.example\"},\"days\":300,\"ca_id\":\"$issuer\"}"
later=$(body .id)
api PATCH "/api/v1/certificates/$later" '{"auto_renew":true}'
lnb=$(date -d "$(body .not_before)" +%s); lra=$(date -d "$(body .renew_at)" +%s); lna=$(date -d "$(body .not_after)" +%s)
check_eq "switched on later: due at the tenant's point too" "200 50" "$status $(( (lra - lnb) * 100 / (lna - lnb) ))"
api GET "/api/v1/audit?order=desc&limit=1"
check_eq "and the switch is in the audit log" "certificate.auto_renew $later true" \
    "$(body '.items[0] | .action + " " + .object_id + " " + (.detail.auto_renew | tostring)')"
api PATCH /api/v1/settings '{"renewal_point":0.6667}'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout up.key -subj /CN=up.example -days 1 -out up.pem 2>/dev/null
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat up.pem)" '{certificate:$c}')"
up=$(body .id)
api PATCH "/api/v1/certificates/$up" '{"auto_renew":true}'
check_eq "an uploaded certificate cannot be renewed automatically" "422 auto_renew" "$status $(body .error.field)"
check_contains "and says why" "$(body .error.message)" "uploaded certificates cannot be renewed automatically"
api PATCH "/api/v1/certificates/$up" '{"name":"renamed with it","auto_renew":true}'
check_eq "a rename that comes with a refused auto_renew: 422" 422 "$status"
api GET "/api/v1/certificates/$up"
check_eq "and the name is not changed either (a 4xx changes nothing)" "up.example" "$(body .name)"
# A CA's own certificate is renewed by rotating the CA; renewing it as a certificate made a
# request for a CA profile that issuing refuses, and said only that.
api GET "/api/v1/cas/$issuer"
ca_cert=$(body .certificate_id)
api PATCH "/api/v1/certificates/$ca_cert" '{"auto_renew":true}'
check_eq "a CA's certificate: no automatic renewal, 422 saying to rotate the CA" "422 auto_renew true" \
    "$status $(body .error.field) $(body '.error.message | contains("rotating its CA")')"
api POST "/api/v1/certificates/$ca_cert/renew"
check_eq "nor renewed by hand, the same said" "422 true" "$status $(body '.error.message | contains("rotating its CA")')"
api GET /api/v1/cas
root_cert=$(body 'first(.items[] | select(.parent_id == null) | .certificate_id)')
api PATCH "/api/v1/certificates/$root_cert" '{"auto_renew":true}'
check_eq "a root's certificate (made here, no issuer of its own): the same" "422 true" \
    "$status $(body '.error.message | contains("rotating its CA")')"

wait_rounds 2
api GET "/api/v1/certificates/$old"
check_eq "not renewed while it is young" "null" "$(body .renewed_by)"

# Restart in the middle: stopped, the clock moves 13 hours on, started again.
stop_daemon
echo "+13h" > clock
start_daemon --job-interval 1
for i in $(seq 1 150); do
    api GET "/api/v1/certificates/$old"
    [ "$(body .renewed_by)" != "null" ] && break
    sleep 0.2
done
new=$(body .renewed_by)
check_contains "renewed after the restart, past its renewal point" "$new" "crt_"
wait_rounds 3 # more scheduler rounds: nothing more happens
api GET "/api/v1/certificates?limit=1000&search=gw.example"
check_eq "renewed exactly once" 2 "$(body '.items | length')"
api GET "/api/v1/certificates/$new"
check_eq "the new one renews the old one, keeps auto_renew and the profile" "$old true tls-server" "$(body '.renews + " " + (.auto_renew|tostring) + " " + .profile')"
body .pem > new.pem
api GET "/api/v1/certificates/$old"
body .pem > old.pem
check_eq "the old one reads not renewing (its renewal is): auto_renew false, no renew_at" "false null" \
    "$(body '(.auto_renew|tostring) + " " + (.renew_at|tostring)')"
check_eq "and replaced: status renewed" renewed "$(body .status)"
body .pem > old.pem
api GET "/api/v1/certificates?status=renewed&limit=1000"
check_eq "status=renewed lists it" "$old" "$(body '[.items[] | select(.name == "edge-gw") | .id] | join(",")')"
api GET "/api/v1/certificates?status=active&limit=1000"
check_eq "status=active lists the renewal alone" "$new" "$(body '[.items[] | select(.name == "edge-gw") | .id] | join(",")')"
check_eq "the same subject" "$(openssl x509 -in old.pem -noout -subject)" "$(openssl x509 -in new.pem -noout -subject)"
check_eq "the same SANs" "$(openssl x509 -in old.pem -noout -ext subjectAltName | tail -1)" "$(openssl x509 -in new.pem -noout -ext subjectAltName | tail -1)"
[ "$(openssl x509 -in old.pem -noout -pubkey)" != "$(openssl x509 -in new.pem -noout -pubkey)" ] || fail "the key was reused"
ok "a new key"
nb2=$(date -d "$(openssl x509 -in new.pem -noout -startdate | cut -d= -f2)" +%s)
[ "$nb2" -gt $((nb + 12 * 3600)) ] || fail "the new certificate does not start at the daemon's time"
ok "issued at the daemon's (moved) time, for the same lifetime"
# The keystore made of it holds the renewal now: keytool reads it in the JKS exported, under
# the alias given, with the renewal's key (the new one).
api POST "/api/v1/keystores/$ks/export" '{"format":"jks","password":"changeit"}'
cp "$T/body" renewed.jks
kt -list -v -keystore renewed.jks -storepass changeit -alias edge > renewed.list
check_eq "keytool reads the renewal in the keystore's JKS, a key entry under its alias" \
    "PrivateKeyEntry $(openssl x509 -in new.pem -noout -fingerprint -sha256 | cut -d= -f2)" \
    "$(sed -n 's/^Entry type: //p' renewed.list) $(sed -n 's/^[[:space:]]*SHA256: //p' renewed.list | head -1)"
api POST "/api/v1/keystores/$ks/export" '{"format":"p12","password":"changeit"}'
cp "$T/body" renewed.p12
check_eq "with the renewal's key" "$(openssl x509 -in new.pem -noout -pubkey)" \
    "$(openssl pkcs12 -in renewed.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
api GET "/api/v1/audit?action=keystore.entry_renew&object_id=$ks"
check_eq "moved by the scheduler's renewal, audited" "1 system:renewal edge $new" \
    "$(body '.items | length') $(body '.items[0] | .actor + " " + .detail.alias + " " + .detail.certificate_id')"
api POST "/api/v1/certificates/$old/renew"
check_eq "renewing it again by hand: 409" 409 "$status"
api POST "/api/v1/certificates/$up/renew"
check_eq "renewing an uploaded one by hand: 422" 422 "$status"
api GET "/api/v1/audit?limit=1000"
check_contains "the renewal is audited" "$(body '[.items[] | select(.object_id == "'"$new"'") | .actor] | join(",")')" "system:renewal"

# The default issuer rotates by itself once a third of its life is left (1825 days: about
# 1217 days on), and the bundle holds old and new.
# Started again 1800 days on (a long stop): the quickstart issuing CA (five years) has less life
# left than certhubd's own certificate takes; it is rotated before that certificate is issued
# from it (certhubd refused to start: "validity ends after the issuing CA's").
stop_daemon
echo "+1800d" > clock
start_daemon --job-interval 1
for i in $(seq 1 150); do
    # certhubd's clock runs 1800 days ahead, so is its server certificate: curl cannot verify it.
    api GET "/api/v1/certificates?limit=1000&kind=ca" "" -k
    [ "$(body '[.items[] | select(.name | startswith("certhub Quickstart Issuing"))] | length')" -ge 2 ] && break
    sleep 0.2
done
check_eq "the quickstart issuing CA rotated by policy (once), the old one kept" "active rotated" \
    "$(body '[.items[] | select(.name | startswith("certhub Quickstart Issuing")) | .status] | join(" ")')"
api GET "/api/v1/audit?limit=1000" "" -k
check_contains "by the scheduler" "$(body '[.items[] | select(.action == "ca.rotate") | .actor] | join(",")')" "system:rotation"

# A certificate whose CA is gone is renewed by the CA a request naming none goes to (the
# tenant's one issuing CA here), as cert-manager renews from the issuer configured now: its
# renewals stopped at "no CA with id".  One its profile no longer allows is not renewed by
# trying again: its automatic renewal stops, said once in the audit log (it was tried, and
# alerted, every hour for years).
api POST /api/v1/cas '{"type":"root","name":"short-lived root","subject":{"common_name":"short-lived root"}}' -k
check_eq "a root to delete" 201 "$status"
gone_ca=$(body .id)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"orphan.example\"},\"days\":1,\"ca_id\":\"$gone_ca\",\"auto_renew\":true}" -k
orphan=$(body .id)
api DELETE "/api/v1/cas/$gone_ca?force=true" "" -k
check_eq "its CA deleted (forced)" 200 "$status"
api POST /api/v1/profiles '{"name":"narrow","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["stop.example"]}' -k
qs_issuer=$(quickstart_issuer -k)
api POST /api/v1/certificates "{\"profile\":\"narrow\",\"subject\":{\"common_name\":\"stop.example\"},\"days\":1,\"ca_id\":\"$qs_issuer\",\"auto_renew\":true}" -k
check_eq "one of a profile that allows its name" 201 "$status"
stopped=$(body .id)
api PUT /api/v1/profiles/narrow '{"key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["other.example"]}' -k
check_eq "the profile narrowed" 200 "$status"
echo "+155571840" > clock # 1800.6 days on: past their renewal point, before their end
# The failure is written in three steps (the switch off, the reason, the audit entry): checked
# once the last is there, not as soon as the switch reads false.
for i in $(seq 1 300); do
    api GET "/api/v1/audit?action=certificate.renew_failed&object_id=$stopped&limit=100" "" -k
    [ "$(body '.items | length')" -ge 1 ] && break
    sleep 0.1
done
api GET "/api/v1/certificates/$stopped" "" -k
check_eq "its automatic renewal stopped, the reason kept" "false true" \
    "$(body .auto_renew) $(body '.renew_error | contains("automatic renewal stopped")')"
wait_rounds 2 -k # rounds in which it would be tried again
api GET "/api/v1/audit?action=certificate.renew_failed&object_id=$stopped&limit=100" "" -k
check_eq "tried and said once" "1 true" "$(body '.items | length') $(body '.items[0].detail | if type == "string" then fromjson else . end | .stopped')"
api GET "/api/v1/certificates/$orphan" "" -k
renewal=$(body .renewed_by)
api GET "/api/v1/certificates/$renewal" "" -k
check_eq "the one whose CA is gone: renewed by the tenant's issuing CA, renewing on" "$qs_issuer true" \
    "$(body .ca_id) $(body .auto_renew)"

done_testing
