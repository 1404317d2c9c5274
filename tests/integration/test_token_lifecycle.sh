#!/usr/bin/env bash
# API tokens near and past their end, with a moved clock (libfaketime, certhubd's clock only):
# GET /session says the calling token's expires_at and the tenant's max_token_days; answers to a
# token within 7 days of its end carry Certhub-Token-Expires, and the CLI warns of it once on
# stderr (stdout untouched); the webhooks have a token.expiring event once, token_alert_days
# before the end (audited; not for a token made to live less than that, nor a revoked one);
# tokens revoked or expired more than 90 days ago are removed by the scheduler, their audit
# entries kept.  Bad token_alert_days: 400 naming it (CLI exit 1), nothing changed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

webhook_receiver
secret="a-webhook-secret-of-some-length"
fake_clock
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
ADMIN=$TOKEN
remote_with() { # TOKEN ARGS...: the CLI with that token
    local t=$1
    shift
    CERTHUB_TOKEN=$t "$CERTHUB" --server "https://localhost:$port" --ca-file "$data/ca.pem" "$@"
}
header() { tr -d '\r' < "$T/headers" | sed -n 's/^Certhub-Token-Expires: //Ip'; }

# ---- GET /session: the calling token's expiry and the tenant's bound
api GET /api/v1/session
check_eq "the first start's admin token: expires_at null, no max_token_days" "200 null null" \
    "$status $(body .expires_at) $(body .max_token_days)"
api POST /api/v1/tokens '{"role":"operator","name":"month","expires_in":"30d"}'
month=$(body .token); month_id=$(body .id); month_at=$(body .expires_at)
api POST /api/v1/tokens '{"role":"viewer","name":"ten days","expires_in":"10d"}'
ten=$(body .token); ten_id=$(body .id); ten_at=$(body .expires_at)
api POST /api/v1/tokens '{"role":"viewer","name":"three days","expires_in":"3d"}'
three_id=$(body .id)
api POST /api/v1/tokens '{"role":"viewer","name":"revoked soon","expires_in":"9d"}'
gone_id=$(body .id)
api DELETE "/api/v1/tokens/$gone_id"
check_eq "one revoked at once" 200 "$status"
TOKEN=$month api GET /api/v1/session "" -D "$T/headers"
check_eq "a 30-day token's session: its own expires_at" "200 $month_at" "$status $(body .expires_at)"
check_eq "30 days from its end: no Certhub-Token-Expires" "" "$(header)"
api PATCH /api/v1/settings '{"max_token_days":60}'
TOKEN=$month api GET /api/v1/session
check_eq "the tenant's max_token_days, said to any role (what a client offers before it makes a token)" 60 \
    "$(body .max_token_days)"
api PATCH /api/v1/settings '{"max_token_days":null}'
remote_with "$month" --output json cert list > list.json 2> warn.txt
check_eq "the CLI with a token far from its end: no warning" "" "$(cat warn.txt)"

# ---- token_alert_days: checked, set, read
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"$hook\",\"secret\":\"$secret\"}]}"
check_eq "a webhook set; token_alert_days by default 7" "200 7" "$status $(body .token_alert_days)"
for bad in 0 3651 '"7d"' 1.5 '[7]'; do
    api PATCH /api/v1/settings "{\"token_alert_days\":$bad,\"public_bundle\":false}"
    check_eq "token_alert_days $bad: 400 naming it, what it takes said" \
        "400 token_alert_days token_alert_days is a number of days from 1 to 3650 before a token's end, or null for no token alerts" \
        "$status $(body .error.field) $(body .error.message)"
done
api GET /api/v1/settings
check_eq "nothing changed by them (public_bundle beside them neither)" "7 true" "$(body .token_alert_days) $(body .public_bundle)"
expect_error "settings set --token-alert-days 0: exit 1" "--token-alert-days must be a whole number from 1 to 3650" -- \
    remote_with "$ADMIN" settings set --token-alert-days 0
expect_exit 0 "settings set --token-alert-days 5" -- remote_with "$ADMIN" settings set --token-alert-days 5
check_eq "settings get says it" 5 "$(remote_with "$ADMIN" settings get | awk '$1 == "token_alert_days" {print $2}')"
expect_exit 0 "and back to 7" -- remote_with "$ADMIN" settings set --token-alert-days 7
wait_rounds 2
check_eq "nothing alerted yet: the nearest token with more than 7 days left is the 9-day one, revoked" 0 \
    "$(grep -c token.expiring hooks || true)"

# ---- four days on: the 10-day token is within 7 days of its end
echo "+4d" > clock
token_alerts() { grep '"event":"token.expiring"' hooks | grep -c "\"id\":\"$1\"" || true; }
for i in $(seq 1 300); do [ "$(token_alerts "$ten_id")" -ge 1 ] && break; sleep 0.1; done
check_eq "6 days before its end, the 10-day token is alerted" 1 "$(token_alerts "$ten_id")"
event=$(grep '"event":"token.expiring"' hooks | grep "\"id\":\"$ten_id\"" | cut -f2)
check_eq "the event names the tenant, the token, its end and the threshold" \
    "default ten days viewer $ten_at 7" \
    "$(jq -r '"\(.tenant) \(.token.name) \(.token.role) \(.token.expires_at) \(.threshold_days)"' <<<"$event")"
sig=$(grep "\"id\":\"$ten_id\"" hooks | cut -f1)
check_eq "signed as the certificate alerts are" \
    "sha256=$(printf '%s' "$event" | openssl dgst -sha256 -hmac "$secret" | sed 's/.*= //')" "$sig"
check_eq "not the 3-day token, made to live less than the threshold (its maker knows its end)" 0 "$(token_alerts "$three_id")"
check_eq "nor the revoked one, nor the 30-day one" "0 0" "$(token_alerts "$gone_id") $(token_alerts "$month_id")"
api GET "/api/v1/audit?action=alert.sent&object_id=$ten_id"
check_eq "audited as alert.sent, the event as its detail" "1 token system:alerts token.expiring" \
    "$(body '.items | length') $(body '.items[0].object_type') $(body '.items[0].actor') $(body '.items[0].detail.event')"
TOKEN=$ten api GET "/api/v1/certificates?limit=1" "" -D "$T/headers"
check_eq "its answers carry Certhub-Token-Expires: its end" "200 $ten_at" "$status $(header)"
TOKEN=$ADMIN api GET "/api/v1/certificates?limit=1" "" -D "$T/headers"
check_eq "a token that never expires: none" "" "$(header)"
remote_with "$ten" --output json cert list > list.json 2> warn.txt
check_eq "the CLI: stdout is the answer alone (JSON)" true "$(jq 'has("items")' list.json)"
check_eq "and one warning on stderr, saying when and how to make a new one" \
    "certhub: warning: the API token in use expires at $ten_at; make a new one before then (an admin's certhub token create --role ROLE --expires 30d) and use it instead" \
    "$(cat warn.txt)"
remote_with "$ten" cert list --all > /dev/null 2> warn.txt
remote_with "$ten" token list > /dev/null 2> warn2.txt || true
check_eq "once a run, whatever the command asks" "1 1" "$(wc -l < warn.txt) $(grep -c 'warning: the API token' warn2.txt)"
wait_rounds 3
check_eq "the alert is sent once, not at every round" 1 "$(token_alerts "$ten_id")"

# ---- switched off, then 24 days on: the 30-day token within 7 days, not alerted
api PATCH /api/v1/settings '{"token_alert_days":null}'
check_eq "token_alert_days null: no token alerts" "200 null" "$status $(body .token_alert_days)"
echo "+24d" > clock
wait_rounds 3
check_eq "the 30-day token, 6 days before its end, not alerted while they are off" 0 "$(token_alerts "$month_id")"
api PATCH /api/v1/settings '{"token_alert_days":7}'
for i in $(seq 1 300); do [ "$(token_alerts "$month_id")" -ge 1 ] && break; sleep 0.1; done
check_eq "on again: alerted" 1 "$(token_alerts "$month_id")"
TOKEN=$month api GET /api/v1/session "" -D "$T/headers"
check_eq "its session says its end, and so does the header" "$month_at $month_at" "$(body .expires_at) $(header)"

# ---- purge: 90 days after a token ended its row goes, its audit entries stay
api POST /api/v1/tokens '{"role":"viewer","name":"revoked at 24d"}'
late_id=$(body .id)
api DELETE "/api/v1/tokens/$late_id"
# certhubd renews its own server certificate on its moved clock, which curl's real clock finds
# not yet valid: from here on curl takes it unchecked (-k), which is all this part needs.
ids() { api GET "/api/v1/tokens?limit=1000" "" -k; body '[.items[].name] | join(",")'; }
check_eq "before: every token listed, ended or not" \
    "bootstrap admin,month,ten days,three days,revoked soon,revoked at 24d" "$(ids)"
echo "+92d" > clock # the revoked one ended 92 days ago, the 3-day one 89, the 10-day one 82
for i in $(seq 1 300); do grep -q "removed (the audit log keeps them)" "$log" && break; sleep 0.1; done
check_contains "the scheduler says so in its log" "$(cat "$log")" \
    "certhubd: 1 API token ended more than 90 days ago removed (the audit log keeps them)"
check_eq "92 days on: the token revoked at once is gone, the others kept" \
    "bootstrap admin,month,ten days,three days,revoked at 24d" "$(ids)"
api GET "/api/v1/tokens/$gone_id" "" -k
check_eq "it is not found" 404 "$status"
api GET "/api/v1/audit?object_id=$gone_id&order=asc&limit=100" "" -k
check_eq "its audit entries stay, and say its removal" "token.create,token.revoke,token.purge" \
    "$(body '[.items[].action] | join(",")')"
check_eq "by the scheduler, saying how it ended" "system:purge revoked" \
    "$(body '.items[-1].actor') $(body '.items[-1].detail.ended')"
echo "+121d" > clock # the 3-day, 10-day and 30-day tokens expired 118, 111 and 91 days ago, the late one was revoked 97
for i in $(seq 1 300); do [ "$(ids)" = "bootstrap admin" ] && break; sleep 0.1; done
check_eq "121 days on: every ended token gone; the one that never expires stays" "bootstrap admin" "$(ids)"
api GET "/api/v1/audit?action=token.purge&limit=100" "" -k
check_eq "each removal audited once" 5 "$(body '.items | length')"
api GET "/api/v1/audit?object_id=$ten_id&action=alert.sent" "" -k
check_eq "an expired token's alert stays in the audit log" 1 "$(body '.items | length')"
check_eq "the first start's token still lets the admin in" 200 "$(TOKEN=$ADMIN api GET /api/v1/session "" -k; echo "$status")"

stop_daemon
done_testing
