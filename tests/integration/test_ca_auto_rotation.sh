#!/usr/bin/env bash
# CAs rotating on their own, with a moved clock.  First the CAs whose setting auto_rotate says
# so (given at their creation, or switched on later with PATCH /cas/{id} or certhub ca update),
# and not the others; the setting is refused on CAs certhub cannot rotate.  Then the quickstart
# CAs, which have it from the start: the issuing CA at two thirds of its five years; six and a
# half years on, the root and the issuing CA come due within the same hour, and the issuing CA
# waits 30 days before it is signed under the new root, so that clients fetch the bundle holding
# the new root first (a certificate issued meanwhile still verifies with the bundle they had).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

fake_clock
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
db="$data/certhub.db"
cert_of() { sqlite3 "$db" ".timeout 5000" "SELECT cert_id FROM cas WHERE name = 'certhub Quickstart $1 - Not for Production'"; }
wait_change() { # WHICH OLD: waits for the CA's certificate to be another than OLD
    for i in $(seq 1 600); do [ "$(cert_of "$1")" != "$2" ] && return 0; sleep 0.1; done
    return 1
}
pem_of() { # CERT_ID: its certificate in PEM
    sqlite3 "$db" ".timeout 5000" "SELECT writefile('$T/der', der) FROM certificates WHERE id = '$1'" >/dev/null
    openssl x509 -inform DER -in "$T/der"
}
at() { echo $(($(date +%s) + $1 * 86400 + 120)); } # DAYS: the daemon's clock, for openssl verify -attime
root0=$(cert_of "Root CA")
issuer0=$(cert_of "Issuing CA")
pem_of "$root0" > root0.pem

# Which CAs rotate by themselves, said by each CA and set on any CA certhub can rotate.
C=("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem")
ca_cert() { sqlite3 "$db" ".timeout 5000" "SELECT cert_id FROM cas WHERE id = '$1'"; }
qs_issuer=$(quickstart_issuer)
check_eq "the quickstart CAs say they rotate by themselves" "true true" \
    "$(body '[.items[] | select(.name | startswith("certhub Quickstart")) | .auto_rotate | tostring] | join(" ")')"
api POST /api/v1/cas '{"name":"auto-at-creation","subject":{"common_name":"Auto Root"},"days":90,"auto_rotate":true}'
check_eq "a root CA created with auto_rotate" "201 true" "$status $(body .auto_rotate)"
made_auto=$(body .id)
api POST /api/v1/cas '{"name":"left-alone","subject":{"common_name":"Manual Root"},"days":90}'
check_eq "one created without it does not rotate by itself" "201 false" "$status $(body .auto_rotate)"
left_alone=$(body .id)
switched_on=$("${C[@]}" ca create --name switched-on --subject "CN=Later Root" --days 90)
check_contains "certhub ca get shows the setting" "$("${C[@]}" ca get "$switched_on")" "auto_rotate"
check_eq "certhub ca update --auto-rotate on" "$switched_on  switched-on  auto_rotate=on" \
    "$("${C[@]}" ca update "$switched_on" --auto-rotate on)"
switched_off=$("${C[@]}" ca create --name switched-off --subject "CN=Undone Root" --days 90 --auto-rotate)
api GET "/api/v1/cas/$switched_off"
check_eq "certhub ca create --auto-rotate" true "$(body .auto_rotate)"
api PATCH "/api/v1/cas/$switched_off" '{"auto_rotate":false,"name":"switched-off, renamed"}'
check_eq "PATCH /cas/{id}: switched off and renamed at once" "200 false switched-off, renamed" \
    "$status $(body .auto_rotate) $(body .name)"
api GET "/api/v1/audit?action=ca.update&object_id=$switched_off"
check_eq "the change audited (ca.update), saying what changed" \
    '{"auto_rotate":false,"name":"switched-off, renamed","old_name":"switched-off"}' "$(body '.items[0].detail' | jq -cS .)"
api PATCH "/api/v1/cas/$switched_off" '{"auto_rotate":false,"name":"switched-off, renamed"}'
check_eq "a PATCH that changes nothing answers the CA" "200 false" "$status $(body .auto_rotate)"
api GET "/api/v1/audit?action=ca.update&object_id=$switched_off"
check_eq "and audits nothing" 1 "$(body '.items | length')"

# Refused, and nothing changed: an unknown field, a wrong type, a taken name, a viewer.
api PATCH "/api/v1/cas/$left_alone" '{"auto_rotate":true,"rotate_at":"2030-01-01"}'
check_eq "an unknown field is refused" "400 rotate_at" "$status $(body .error.field)"
api PATCH "/api/v1/cas/$left_alone" '{"auto_rotate":"yes"}'
check_eq "auto_rotate that is not true or false" "400 auto_rotate" "$status $(body .error.field)"
api PATCH "/api/v1/cas/$left_alone" '{"auto_rotate":true,"name":"switched-on"}'
check_eq "a name another CA has" "409 name" "$status $(body .error.field)"
api POST /api/v1/tokens '{"role":"viewer","name":"reader"}'
viewer=$(body .token)
TOKEN=$viewer api PATCH "/api/v1/cas/$left_alone" '{"auto_rotate":true}'
check_eq "a viewer may not change a CA" 403 "$status"
api PATCH /api/v1/cas/ca_nosuch '{"auto_rotate":true}'
check_eq "a CA that is not there" 404 "$status"
api GET "/api/v1/cas/$left_alone"
check_eq "after those, the CA is as it was" "false left-alone" "$(body .auto_rotate) $(body .name)"
expect_usage "certhub ca update without a change to make" "give --name, --auto-rotate, --crl-urls, --ocsp-urls, --ca-issuers-urls or several" -- \
    "${C[@]}" ca update "$left_alone"
expect_error "--auto-rotate takes on or off" "--auto-rotate takes on or off" -- "${C[@]}" ca update "$left_alone" --auto-rotate maybe
"${C[@]}" ca update "$left_alone" --auto-rotate On >/dev/null
api GET "/api/v1/cas/$left_alone"
check_eq "--auto-rotate On (any case) switches it on" true "$(body .auto_rotate)"
"${C[@]}" ca update "$left_alone" --auto-rotate 0 >/dev/null
api GET "/api/v1/cas/$left_alone"
check_eq "--auto-rotate 0 off again" false "$(body .auto_rotate)"
api POST /api/v1/cas '{"name":"imp","type":"import","certificate":"x","auto_rotate":true}'
check_eq "an import does not take auto_rotate (its issuer may be elsewhere: PATCH it after)" "400 auto_rotate" \
    "$status $(body .error.field)"

# CAs certhub cannot rotate: its key elsewhere, or its issuer outside.
outside_ca
outside=$("${C[@]}" ca import corp-issuing.pem --key corp-issuing.key --name corp-issuing)
api PATCH "/api/v1/cas/$outside" '{"auto_rotate":true}'
check_eq "an issuing CA signed by an outside root (not here) cannot rotate here" "422 auto_rotate" \
    "$status $(body .error.field)"
check_contains "saying to renew it at that issuer" "$(body .error.message)" "renew it at that issuer"
keyless=$("${C[@]}" ca import corp-root.pem --name corp-root)
api PATCH "/api/v1/cas/$keyless" '{"auto_rotate":true}'
check_eq "a CA held without its key" "422 auto_rotate" "$status $(body .error.field)"
api GET "/api/v1/cas/$outside"
check_eq "the outside issuer's CA is linked to its root now, and still cannot rotate" "$keyless" "$(body .parent_id)"
api PATCH "/api/v1/cas/$outside" '{"auto_rotate":true}'
check_eq "(its parent holds no key here)" "422 auto_rotate" "$status $(body .error.field)"

# An intermediate that rotates under a root that does not, whose end comes before the
# intermediate's lifetime from then: rotated all the same, cut at the root's end (refused, it
# went on to its own end unrotated, its rotation "on").
api POST /api/v1/cas '{"name":"short-parent","subject":{"common_name":"Short Parent"},"days":100}'
short_parent=$(body .id) parent_end=$(body .not_after)
api POST /api/v1/cas "{\"name\":\"under-short\",\"type\":\"intermediate\",\"parent_id\":\"$short_parent\",\"subject\":{\"common_name\":\"Under Short\"},\"days\":90,\"auto_rotate\":true}"
under_short=$(body .id)
[ "$status" = 201 ] || fail "an intermediate under short-parent: $status $(cat "$T/body")"
before_under=$(ca_cert "$under_short")
before_auto=$(ca_cert "$made_auto") before_on=$(ca_cert "$switched_on")
before_left=$(ca_cert "$left_alone") before_off=$(ca_cert "$switched_off")
echo "+$((70 * 86400))" > clock # past two thirds of the 90 days of those CAs
for i in $(seq 1 600); do
    [ "$(ca_cert "$made_auto")" != "$before_auto" ] && [ "$(ca_cert "$switched_on")" != "$before_on" ] && break
    sleep 0.1
done
check_eq "the CA created with auto_rotate rotated at two thirds of its life" changed \
    "$([ "$(ca_cert "$made_auto")" != "$before_auto" ] && echo changed || echo same)"
check_eq "the CA switched on later too" changed \
    "$([ "$(ca_cert "$switched_on")" != "$before_on" ] && echo changed || echo same)"
wait_rounds 3 -k
check_eq "the one created without it did not" "$before_left" "$(ca_cert "$left_alone")"
check_eq "nor the one switched off" "$before_off" "$(ca_cert "$switched_off")"
api GET "/api/v1/cas/$under_short" "" -k
check_eq "an intermediate due under a root ending sooner: rotated, cut at the root's end" "changed $parent_end" \
    "$([ "$(body .certificate_id)" != "$before_under" ] && echo changed || echo same) $(body .not_after)"
api GET "/api/v1/audit?action=ca.rotate&object_id=$made_auto" "" -k
check_eq "the rotation is audited, by the scheduler" "system:rotation" "$(body '.items[0].actor')"
check_contains "and said in certhubd's log, with the new certificate" "$(cat "$log")" \
    "CA auto-at-creation ($made_auto) rotated: its new certificate $(ca_cert "$made_auto") ends"
check_eq "and the quickstart issuing CA, years from due, did not rotate" "$issuer0" "$(cert_of "Issuing CA")"

# Due again (a third of its 30 days left), under the root that still ends when it does: a new
# certificate would end then too, so it is not rotated (a key made and a certificate added to
# the bundle at each round, the end never moving), and that is said: log, audit, webhooks.
after_under=$(ca_cert "$under_short")
echo "+$((92 * 86400))" > clock
for i in $(seq 1 600); do grep -q "CA under-short ($under_short) is due for rotation and could not be rotated" "$log" && break; sleep 0.1; done
check_contains "an intermediate whose parent ends first: not rotated, said why" "$(cat "$log")" \
    "CA under-short ($under_short) is due for rotation and could not be rotated: its parent CA short-parent ends first"
wait_rounds 3 -k
check_eq "(its certificate as it was)" "$after_under" "$(ca_cert "$under_short")"
check_eq "said once (a day), not at each round" 1 "$(grep -c "CA under-short ($under_short) is due for rotation" "$log")"
api GET "/api/v1/audit?action=ca.rotate_failed&object_id=$under_short" "" -k
check_eq "and audited" "1 system:rotation" "$(body '.items | length') $(body '.items[0].actor')"
check_contains "with the reason" "$(body '.items[0].detail.error')" "rotate short-parent"
# Found as certhubd starts (its rotations run before it can send anything): sent to the
# webhooks at its first round (it was dropped, and not said again for a day).
webhook_receiver
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"$hook\",\"secret\":\"a-webhook-secret-of-some-length\"}]}" -k
check_eq "a webhook set" 200 "$status"
stop_daemon
start_daemon --job-interval 1
for i in $(seq 1 300); do grep -q '"event":"ca.rotation_failed"' hooks && break; sleep 0.1; done
check_contains "the rotation that could not be, found at the start, reaches the webhook" \
    "$(grep '"event":"ca.rotation_failed"' hooks | head -1)" "\"name\":\"under-short\""

echo "+$((1220 * 86400))" > clock # past two thirds of the issuing CA's five years
wait_change "Issuing CA" "$issuer0" || fail "the issuing CA did not rotate at two thirds of its life"
issuer1=$(cert_of "Issuing CA")
check_eq "the issuing CA rotated on its own, the root not (it has years left)" "$root0" "$(cert_of "Root CA")"

echo "+$((2440 * 86400))" > clock # the root and the second issuing certificate both due
wait_change "Root CA" "$root0" || fail "the root did not rotate at two thirds of its life"
root1=$(cert_of "Root CA")
wait_rounds 3 -k # three scheduler rounds (its clock ahead: curl cannot verify its certificate)
check_eq "the issuing CA, due too, waits: not signed under a root rotated moments ago" "$issuer1" "$(cert_of "Issuing CA")"
pem_of "$issuer1" > issuer1.pem
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"meanwhile.example\"},\"sans\":[\"dns:meanwhile.example\"],\"ca_id\":\"$qs_issuer\"}" -k
check_eq "a certificate issued meanwhile" 201 "$status"
body .pem > meanwhile.pem
check_contains "verifies with the old root alone (the bundle clients had)" \
    "$(openssl verify -attime "$(at 2440)" -CAfile root0.pem -untrusted issuer1.pem meanwhile.pem 2>&1)" "meanwhile.pem: OK"

echo "+$((2472 * 86400))" > clock # 32 days after the root's rotation
wait_change "Issuing CA" "$issuer1" || fail "the issuing CA did not rotate once the 30 days had passed"
pem_of "$(cert_of "Issuing CA")" > issuer2.pem
pem_of "$root1" > root1.pem
check_contains "then it is, under the new root" "$(openssl verify -attime "$(at 2472)" -CAfile root1.pem issuer2.pem 2>&1)" "issuer2.pem: OK"
done_testing
