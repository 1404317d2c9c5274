#!/usr/bin/env bash
# Removing certificates that ended long ago (Vault's tidy), with certhubd's clock moved two days
# on by libfaketime: a dry run changes nothing and names what would go; the run removes exactly
# those (their keys with them, their line of renewals closed over them) and keeps a CA's
# certificate, a keystore entry's, a trusted certificate, one that ended lately, and the first
# of a line of renewals still in force; each removal is audited; bad input is refused naming
# expired_days; with the setting on, the scheduler tidies by itself.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
issue() { # NAME TTL: the new certificate's id
    api POST /api/v1/certificates "{\"name\":\"$1\",\"subject\":{\"common_name\":\"$1.example\"},\"ttl\":\"$2\",\"ca_id\":\"$issuer\"}"
    [ "$status" = 201 ] || fail "issuing $1: $status $(cat "$T/body")"
    body .id
}
exists() { api GET "/api/v1/certificates/$1"; echo "$status"; }
db() { sqlite3 "$data/certhub.db" "$1"; }

fake_clock
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)

gone=$(issue gone 5m)
gone_key=$(db "SELECT key_id FROM certificates WHERE id = '$gone'")
[ -n "$gone_key" ] || fail "no key held for $gone"
recent=$(issue recent 1d12h)       # ended 12 hours ago at the moved clock: kept at 1 day
held=$(issue held 5m)
api POST /api/v1/keystores "{\"format\":\"jks\",\"certificate_id\":\"$held\",\"alias\":\"held\"}"
check_eq "an ending certificate in a keystore" 201 "$status"
# A line of renewals: first -> middle (both ending) -> newest (in force): the middle one goes,
# the first stays (what the line is known by), and the links close over the gap.
first=$(issue first 5m)
api POST "/api/v1/certificates/$first/renew" '{"ttl":"5m"}'
middle=$(body .id)
api POST "/api/v1/certificates/$middle/renew" '{"ttl":"30d"}'
newest=$(body .id)
check_eq "a line of three" "$middle $first" "$(body .renews) $(jq -r .renews <<<"$(curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" "https://localhost:$port/api/v1/certificates/$middle")")"
# A CA of an hour (its certificate ends too) and an outside CA, trusted for devices and in the
# inventory, ending in a day.
api POST /api/v1/cas '{"name":"short root","type":"root","subject":{"common_name":"Short Root"},"ttl":"1h"}'
check_eq "a CA of an hour" 201 "$status"
ca_cert=$(body .certificate_id)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev-ca.key -subj "/CN=Device CA" -days 1 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out dev-ca.pem 2>/dev/null
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat dev-ca.pem)" '{name:"device ca",certificate:$c}')"
check_eq "a trusted certificate" 201 "$status"
trusted=$(body .id)
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat dev-ca.pem)" '{certificate:$c}')"
check_eq "and in the inventory" 201 "$status"
dev_cert=$(body .id)

# Bad input: refused naming expired_days, nothing removed.
api POST /api/v1/tidy '{}'
check_eq "no expired_days and no setting: 400 naming it" "400 expired_days" "$status $(body .error.field)"
check_contains "saying what is taken" "$(body .error.message)" "tidy_expired_days"
api POST /api/v1/tidy '{"expired_days":0}'
check_eq "0 days: 400 naming expired_days" "400 expired_days" "$status $(body .error.field)"
api POST /api/v1/tidy '{"expired_days":"1"}'
check_eq "a string: 400 naming expired_days" "400 expired_days" "$status $(body .error.field)"
api POST /api/v1/tidy '{"expired_days":1,"dry":true}'
check_eq "an unknown field: 400 naming it" "400 dry" "$status $(body .error.field)"
api POST /api/v1/tokens '{"role":"operator","name":"op"}'
op=$(body .token)
TOKEN=$op api POST /api/v1/tidy '{"expired_days":1}'
check_eq "an operator may not tidy" 403 "$status"
expect_error "certhub tidy without --expired-days or the setting: one line" "give expired_days" -- remote tidy

# Two days on.
echo "+2d" > clock
api POST /api/v1/tidy '{"expired_days":1,"dry_run":true}'
check_eq "dry run: the two that ended more than a day ago, and only those" "200 true 2 $(printf '%s\n' "$gone" "$middle" | sort | tr '\n' ' ')" \
    "$status $(body .dry_run) $(body .count) $(body '.ids[]' | sort | tr '\n' ' ')"
check_eq "changing nothing" "200 200 $gone_key" "$(exists "$gone") $(exists "$middle") $(db "SELECT id FROM keys WHERE id = '$gone_key'")"
line=$(remote tidy --expired-days 1 --dry-run)
check_contains "certhub tidy --dry-run says so" "$line" "would remove 2 certificates"
seq_before=$(db "SELECT max(n) FROM audit_log WHERE tenant_id = (SELECT tenant_id FROM certificates WHERE id = '$gone')")

api POST /api/v1/tidy '{"expired_days":1}'
check_eq "tidy: the same two removed" "200 false 2 $(printf '%s\n' "$gone" "$middle" | sort | tr '\n' ' ')" \
    "$status $(body .dry_run) $(body .count) $(body '.ids[]' | sort | tr '\n' ' ')"
check_eq "gone, with its sealed key" "404 404 0" "$(exists "$gone") $(exists "$middle") $(db "SELECT count(*) FROM keys WHERE id = '$gone_key'")"
check_eq "kept: the CA's certificate, the keystore's, the trusted one's, the recent one, the line's first and newest" \
    "200 200 200 200 200 200" "$(exists "$ca_cert") $(exists "$held") $(exists "$dev_cert") $(exists "$recent") $(exists "$first") $(exists "$newest")"
api GET "/api/v1/trusted-certificates/$trusted"
check_eq "and the trusted certificate itself" 200 "$status"
api GET "/api/v1/certificates/$first"
check_eq "the line closed over the gap: first renewed by newest, no link to what went" "$newest $newest" \
    "$(body .renewed_by) $(body .newest_renewal)"
api GET "/api/v1/certificates/$newest"
check_eq "and newest renews first" "$first" "$(body .renews)"
check_eq "nothing refers to what went" 0 \
    "$(db "SELECT count(*) FROM certificates WHERE renews IN ('$gone','$middle') OR renewed_by IN ('$gone','$middle')")"
api GET "/api/v1/audit?action=certificate.delete&object_id=$gone"
check_eq "audited: one certificate.delete for it, saying tidy and the days" "1 true 1" \
    "$(body '.items | length') $(body '.items[0].detail.tidy') $(body '.items[0].detail.expired_days')"
check_eq "one audit entry for each removed" 2 \
    "$(db "SELECT count(*) FROM audit_log WHERE n > $seq_before AND action = 'certificate.delete'")"
api POST /api/v1/tidy '{"expired_days":1}'
check_eq "a second run finds nothing" "200 0" "$status $(body .count)"

# The setting: certhubd tidies by itself (hourly, and at its first round after the clock moves).
expect_error "settings set --tidy-expired-days 0: one line" "--tidy-expired-days must be a whole number from 1 to 3650" -- \
    remote settings set --tidy-expired-days 0
api PATCH /api/v1/settings '{"tidy_expired_days":4000}'
check_eq "the setting past 3650 days: 400 naming it" "400 tidy_expired_days" "$status $(body .error.field)"
check_contains "settings set --tidy-expired-days 1" "$(remote settings set --tidy-expired-days 1)" "tidy_expired_days"
api GET /api/v1/settings
check_eq "shown in the settings" 1 "$(body .tidy_expired_days)"
api POST /api/v1/tidy '{"dry_run":true}'
check_eq "POST /tidy without expired_days takes the setting" "200 1" "$status $(body .expired_days)"
later=$(issue later 5m)
echo "+4d" > clock
for i in $(seq 1 300); do
    [ "$(exists "$later")" = 404 ] && break
    sleep 0.1
done
check_eq "the scheduler removed it" 404 "$(exists "$later")"
api GET "/api/v1/audit?action=certificate.delete&object_id=$later"
check_eq "audited as the scheduler's" "system:tidy true" "$(body '.items[0].actor') $(body '.items[0].detail.tidy')"
check_eq "and kept what it must" "200 200 200" "$(exists "$held") $(exists "$first") $(exists "$ca_cert")"
remote settings set --tidy-expired-days none >/dev/null
api GET /api/v1/settings
check_eq "switched off" null "$(body .tidy_expired_days)"

done_testing
