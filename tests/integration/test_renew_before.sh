#!/usr/bin/env bash
# A certificate's own lead time for its automatic renewal (renew_before, cert-manager's
# renewBefore), with certhubd's clock moved by libfaketime: renew_at follows it when issued and
# when changed (PATCH, cert update), bad values are refused naming the field and change
# nothing, the renewal happens at that moment and not before, and the renewal keeps it (the CLI
# renew can give another).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
secs() { date -d "$1" +%s; }

fake_clock
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)

# A 15-minute certificate renewed 6 minutes before its end (the tenant's point would be 2/3).
api POST /api/v1/certificates "{\"name\":\"lead\",\"subject\":{\"common_name\":\"lead.example\"},\"ttl\":\"15m\",\"ca_id\":\"$issuer\",\"auto_renew\":true,\"renew_before\":\"6m\"}"
check_eq "issued with renew_before" "201 6m" "$status $(body .renew_before)"
old=$(body .id)
na=$(secs "$(body .not_after)"); ra=$(secs "$(body .renew_at)")
check_eq "renew_at is renew_before before the end" 360 $((na - ra))
api GET "/api/v1/certificates/$old"
check_eq "and so it reads back" "6m $(date -u -d "@$ra" +%Y-%m-%dT%H:%M:%SZ)" "$(body .renew_before) $(body .renew_at)"

# Bad values: a 400 naming renew_before that says what is taken; nothing issued.
api GET "/api/v1/certificates?search=lead-bad&limit=10"
before=$(body '.items | length')
api POST /api/v1/certificates "{\"name\":\"lead-bad\",\"subject\":{\"common_name\":\"lead-bad.example\"},\"ttl\":\"15m\",\"ca_id\":\"$issuer\",\"renew_before\":\"15m\"}"
check_eq "not shorter than the lifetime: 400 naming renew_before" "400 renew_before" "$status $(body .error.field)"
check_contains "and says so, with the lifetime and the longest it takes" "$(body .error.message)" "must leave the certificate (15m) a tenth of its lifetime, and a minute at least, before it is renewed: at most 810s"
api POST /api/v1/certificates "{\"name\":\"lead-bad\",\"subject\":{\"common_name\":\"lead-bad.example\"},\"ttl\":\"15m\",\"ca_id\":\"$issuer\",\"renew_before\":\"3 days\"}"
check_eq "malformed: 400 naming renew_before" "400 renew_before" "$status $(body .error.field)"
check_contains "saying what is taken" "$(body .error.message)" "a whole number and a unit"
api POST /api/v1/certificates "{\"name\":\"lead-bad\",\"subject\":{\"common_name\":\"lead-bad.example\"},\"ttl\":\"15m\",\"ca_id\":\"$issuer\",\"renew_before\":180}"
check_eq "a number: 400 naming renew_before" "400 renew_before" "$status $(body .error.field)"
api GET "/api/v1/certificates?search=lead-bad&limit=10"
check_eq "none of them issued" "$before" "$(body '.items | length')"

# Where certhub renews nothing (a CA's own certificate): refused, naming renew_before.
api GET "/api/v1/cas/$issuer"
api PATCH "/api/v1/certificates/$(body .certificate_id)" '{"renew_before":"30d"}'
check_eq "a CA's certificate given a lead time: 400 or 422 naming renew_before" "renew_before" "$(body .error.field)"
check_contains "saying a CA is rotated" "$(body .error.message)" "renewed by rotating its CA"

# Changed on the certificate: renew_at follows, audited; a bad one changes nothing.
api PATCH "/api/v1/certificates/$old" '{"renew_before":"7m"}'
check_eq "PATCH renew_before" "200 7m 420" "$status $(body .renew_before) $((na - $(secs "$(body .renew_at)")))"
api GET "/api/v1/audit?order=desc&limit=1"
check_eq "audited" "certificate.renew_before $old 7m" "$(body '.items[0] | .action + " " + .object_id + " " + .detail.renew_before')"
api PATCH "/api/v1/certificates/$old" '{"name":"lead renamed","renew_before":"1h"}'
check_eq "PATCH with one longer than its life: 400 naming renew_before" "400 renew_before" "$status $(body .error.field)"
api GET "/api/v1/certificates/$old"
check_eq "and nothing changed (name, lead time, renew_at)" "lead 7m 420" "$(body .name) $(body .renew_before) $((na - $(secs "$(body .renew_at)")))"
api PATCH "/api/v1/certificates/$old" '{"renew_before":null}'
nb=$(secs "$(body .not_before)")
check_eq "null: back to the tenant's renewal point (at most half of a short life)" "200 null 50" \
    "$status $(body .renew_before) $(( ($(secs "$(body .renew_at)") - nb) * 100 / (na - nb) ))"
line=$(remote cert update "$old" --renew-before 6m)
check_contains "cert update --renew-before" "$line" "renew_before=6m"
api GET "/api/v1/certificates/$old"
check_eq "renew_at follows it again" 360 $((na - $(secs "$(body .renew_at)")))
expect_error "cert update with a malformed one: one line naming it" "renew_before must be a whole number and a unit" -- \
    remote cert update "$old" --renew-before soon
api GET "/api/v1/certificates/$old"
check_eq "and it is kept" 6m "$(body .renew_before)"

# Not renewed a minute before that moment; renewed once it has come.
t0=$(date +%s)
echo "+$((ra - t0 - 60))" > clock
wait_rounds 2
api GET "/api/v1/certificates/$old"
check_eq "not renewed a minute before renew_at" null "$(body .renewed_by)"
echo "+$((ra - t0 + 5))" > clock
for i in $(seq 1 300); do
    api GET "/api/v1/certificates/$old"
    [ "$(body .renewed_by)" != null ] && break
    sleep 0.1
done
new=$(body .renewed_by)
[ "$new" != null ] || fail "not renewed after renew_at"
ok "renewed once renew_at has come"
api GET "/api/v1/certificates/$new"
nnb=$(secs "$(body .not_before)"); nna=$(secs "$(body .not_after)")
[ $((nnb + 60)) -ge "$ra" ] || fail "the renewal was made $((ra - nnb - 60)) s before renew_at"
ok "and not before it"
check_eq "the renewal keeps renew_before, and is due by it" "6m 360 true" \
    "$(body .renew_before) $((nna - $(secs "$(body .renew_at)"))) $(body .auto_renew)"

# A renewal asked by hand with another lead time (the CLI): the new one carries it.
remote cert renew "$new" --renew-before 5m --output json > renewed.json
check_eq "cert renew --renew-before" "5m 300" \
    "$(jq -r .renew_before renewed.json) $(( $(secs "$(jq -r .not_after renewed.json)") - $(secs "$(jq -r .renew_at renewed.json)") ))"
expect_error "cert renew with one not shorter than the lifetime: one line" "renew_before (20m) must leave the certificate" -- \
    remote cert renew "$(jq -r .id renewed.json)" --renew-before 20m
api GET "/api/v1/certificates/$(jq -r .id renewed.json)"
check_eq "and nothing renewed" null "$(body .renewed_by)"
# Issued through the CLI too.
remote cert issue --ca-id "$issuer" --subject CN=cli-lead.example --ttl 1h --auto-renew --renew-before 15m --output json > cli.json
check_eq "cert issue --renew-before" "15m 900" \
    "$(jq -r .renew_before cli.json) $(( $(secs "$(jq -r .not_after cli.json)") - $(secs "$(jq -r .renew_at cli.json)") ))"

done_testing
