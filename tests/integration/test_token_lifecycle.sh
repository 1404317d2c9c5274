#!/usr/bin/env bash
# API tokens near and past their end, with a moved clock (libfaketime, certhubd's clock only):
# GET /session says the calling token's expires_at and the tenant's max_token_days; answers to a
# token within 7 days of its end carry Certhub-Token-Expires, and the CLI warns of it once on
# stderr (stdout untouched); the webhooks have a token.expiring event once, token_alert_days
# before the end (audited; not for a token made to live less than that, nor a revoked one);
# tokens revoked or expired more than 90 days ago are removed by the scheduler, their audit
# entries kept.  Bad token_alert_days: 400 naming it (CLI exit 1), nothing changed.  A token
# revoked with cascade takes the tokens made from it (by it, by those, ...) in its tenant, each
# audited; without cascade they keep working, and a bad cascade value is 400 with nothing revoked.
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

# ---- cascade: a token revoked with the tokens made from it (DELETE /tokens/{id}?cascade=true),
# in its tenant only; without it, they keep working and the answer says how many.  A fresh
# installation on the real clock, so that the CLI can check the server's certificate again.
stop_daemon
DAEMON_ENV=""
data="$T/data-cascade"
start_daemon
ADMIN=$(cat "$data/admin-token")
TOKEN=$ADMIN
uses() { # TOKEN...: the status of a read with each
    local t out=""
    for t in "$@"; do
        TOKEN=$t api GET "/api/v1/certificates?limit=1"
        out="$out${out:+ }$status"
    done
    echo "$out"
}
made_by() { # TOKEN BODY: a token made with TOKEN, "TOKEN ID" printed
    TOKEN=$1 api POST /api/v1/tokens "$2"
    [ "$status" = 201 ] || fail "making a token with $2: $status $(cat "$T/body")"
    body '"\(.token) \(.id)"'
}
api POST /api/v1/tenants '{"name":"beta"}'
check_eq "a second tenant, beta" 201 "$status"
read -r beta beta_id <<<"$(made_by "$ADMIN" '{"tenant":"beta","role":"admin","name":"beta admin"}')"
# A console user makes A (and D, a token of its own beside it); A makes B, B makes C, and B, an
# installation admin's token, makes E in beta.
api POST /api/v1/users '{"name":"dora","role":"admin","password":"dora-password-1"}'
check_eq "dora, an admin user" 201 "$status"
dora_csrf=$(curl -s -c dora.jar --cacert "$data/ca.pem" -H "Content-Type: application/json" \
    --data '{"username":"dora","password":"dora-password-1"}' "https://localhost:$port/api/v1/session" | jq -r .csrf_token)
dora_token() { # ROLE NAME
    local code
    code=$(curl -s -o dora.json -w '%{http_code}' -b dora.jar -H "X-CSRF-Token: $dora_csrf" \
        -H "Content-Type: application/json" --cacert "$data/ca.pem" --data "{\"role\":\"$1\",\"name\":\"$2\"}" \
        "https://localhost:$port/api/v1/tokens")
    [ "$code" = 201 ] || fail "dora making the $1 token $2: $code $(cat dora.json)"
    jq -r '"\(.token) \(.id)"' dora.json
}
read -r tok_a a_id <<<"$(dora_token admin leaked)"
# A token sent beside a session's cookie: the answer is the token's, without the session's
# CSRF token (it carried dora's beside beta's identity).
check_eq "GET /session with a token and a cookie: the token's identity, no CSRF token" "beta \"\"" \
    "$(curl -s -b dora.jar -H "Authorization: Bearer $beta" --cacert "$data/ca.pem" \
        "https://localhost:$port/api/v1/session" | jq -r '.tenant + " " + (.csrf_token | tojson)')"
read -r tok_d d_id <<<"$(dora_token viewer dora-own)"
read -r tok_b b_id <<<"$(made_by "$tok_a" '{"role":"admin","name":"minted"}')"
read -r tok_c c_id <<<"$(made_by "$tok_b" '{"role":"viewer","name":"minted twice"}')"
read -r tok_e e_id <<<"$(made_by "$tok_b" '{"tenant":"beta","role":"viewer","name":"minted in beta"}')"
api GET "/api/v1/tokens/$c_id"
check_eq "C names B as its maker" "$b_id" "$(body .created_by)"
check_eq "each of them works" "200 200 200 200 200 200" "$(uses "$tok_a" "$tok_b" "$tok_c" "$tok_d" "$tok_e" "$beta")"

for bad in yes 1 TRUE; do
    api DELETE "/api/v1/tokens/$a_id?cascade=$bad"
    check_eq "cascade=$bad: 400 naming it, what it takes said" \
        "400 cascade cascade must be true (the tokens it made are revoked with it) or false" \
        "$status $(body .error.field) $(body .error.message)"
done
api DELETE "/api/v1/tokens/$a_id?cascade="
check_eq "cascade=: 400 saying it is empty" \
    "400 cascade the query parameter \"cascade\" is empty: give it a value, or leave it out" \
    "$status $(body .error.field) $(body .error.message)"
TOKEN=$beta api DELETE "/api/v1/tokens/$a_id?cascade=true"
check_eq "another tenant's admin: not found" 404 "$status"
check_eq "nothing revoked by them" "200 200 200" "$(uses "$tok_a" "$tok_b" "$tok_c")"

api DELETE "/api/v1/tokens/$a_id?cascade=true"
check_eq "A revoked with cascade: B and C named and counted" "200 true 2 $(printf '%s\n' "$b_id" "$c_id" | sort | paste -sd,)" \
    "$status $(body .revoked) $(body .tokens_revoked) $(body '.tokens_revoked_ids | sort | join(",")')"
check_eq "A, B and C refused" "401 401 401" "$(uses "$tok_a" "$tok_b" "$tok_c")"
check_eq "dora's own token, E (beta's, made by B) and beta's admin token work" "200 200 200" \
    "$(uses "$tok_d" "$tok_e" "$beta")"
api GET "/api/v1/audit?action=token.revoke&object_id=$a_id"
check_eq "A's revocation audited, saying how many went with it" "1 2" \
    "$(body '.items | length') $(body '.items[0].detail.tokens_revoked')"
api GET "/api/v1/audit?action=token.revoke&object_id=$c_id"
detail_actor=$(body '.items[0] | "\(.detail.reason) \(.detail.token_id) \(.detail.created_by) \(.actor)"')
api GET /api/v1/session
check_eq "C's too, by the same actor, saying why: A's revocation, B its maker" \
    "token_revoked $a_id $b_id $(body .user)" "$detail_actor"
api GET "/api/v1/audit?action=token.revoke&object_id=$b_id"
check_eq "and B's" "token_revoked $a_id" "$(body '.items[0].detail | "\(.reason) \(.token_id)"')"
api GET "/api/v1/audit?tenant=beta&action=token.revoke"
check_eq "nothing revoked in beta" 0 "$(body '.items | length')"

# An installation admin takes another tenant's token with what it made there.
read -r beta_child beta_child_id <<<"$(made_by "$beta" '{"role":"viewer","name":"beta child"}')"
read -r beta_two beta_two_id <<<"$(made_by "$ADMIN" '{"tenant":"beta","role":"admin","name":"beta second"}')"
read -r beta_three beta_three_id <<<"$(made_by "$beta_two" '{"role":"viewer","name":"beta third"}')"
api DELETE "/api/v1/tokens/$beta_two_id?cascade=true"
check_eq "the installation's admin revokes a beta token with cascade" "200 $beta_three_id" \
    "$status $(body '.tokens_revoked_ids | join(",")')"
check_eq "those two refused; beta's other tokens work" "401 401 200 200" \
    "$(uses "$beta_two" "$beta_three" "$beta" "$beta_child")"
api GET "/api/v1/audit?tenant=beta&action=token.revoke&object_id=$beta_three_id"
check_eq "the one made from it audited in beta, where it was made" "token_revoked $beta_two_id" \
    "$(body '.items[0].detail | "\(.reason) \(.token_id)"')"
api GET "/api/v1/audit?tenant=beta&action=token.revoke&object_id=$beta_two_id"
check_eq "and the one asked in beta too, by the installation's admin as default/NAME" "1 1" \
    "$(body '.items | length') $(body '[.items[].actor | select(startswith("default/"))] | length')"
# Without cascade, the same: beta's log says its token was ended, and by whom.
read -r beta_four beta_four_id <<<"$(made_by "$ADMIN" '{"tenant":"beta","role":"viewer","name":"beta fourth"}')"
api DELETE "/api/v1/tokens/$beta_four_id"
check_eq "the installation's admin revokes a beta token alone" 200 "$status"
api GET "/api/v1/audit?tenant=beta&action=token.revoke&object_id=$beta_four_id"
check_eq "audited in beta, by default/NAME" "1 1" \
    "$(body '.items | length') $(body '[.items[].actor | select(startswith("default/"))] | length')"

# Without cascade the token goes alone (a CI token rotated keeps what it made working), and the
# answer says how many it leaves; asked afterwards with cascade, they go.
read -r tok_p p_id <<<"$(made_by "$ADMIN" '{"role":"admin","name":"ci"}')"
read -r tok_q q_id <<<"$(made_by "$tok_p" '{"role":"admin","name":"ci deploy"}')"
read -r tok_r r_id <<<"$(made_by "$tok_q" '{"role":"viewer","name":"ci read"}')"
api DELETE "/api/v1/tokens/$p_id?cascade=false"
check_eq "P revoked alone: 2 tokens made from it left active, none said revoked" "200 true 2 false" \
    "$status $(body .revoked) $(body .tokens_made_active) $(body 'has("tokens_revoked")')"
check_eq "P refused; Q and R work" "401 200 200" "$(uses "$tok_p" "$tok_q" "$tok_r")"
api DELETE "/api/v1/tokens/$p_id"
check_eq "P again without cascade: not found, said revoked already" "404 token_revoked" \
    "$status $(body .error.reason)"
check_contains "(with when)" "$(body .error.message)" "was revoked already, at "
remote_with "$ADMIN" token revoke "$p_id" --cascade > out.txt
check_eq "certhub token revoke --cascade on P, revoked before: Q and R, named one a line" \
    "$p_id revoked, and 2 API tokens made from it: $(printf '%s\n' "$q_id" "$r_id" | sort | paste -sd' ')" \
    "$(head -1 out.txt) $(tail -n +2 out.txt | sort | paste -sd' ')"
check_eq "Q and R refused" "401 401" "$(uses "$tok_q" "$tok_r")"
expect_error "certhub token revoke --cascade of no token: exit 1" "no such token" -- \
    remote_with "$ADMIN" token revoke tok_none --cascade

read -r tok_s s_id <<<"$(made_by "$ADMIN" '{"role":"admin","name":"rotated"}')"
read -r tok_t t_id <<<"$(made_by "$tok_s" '{"role":"viewer","name":"made by rotated"}')"
remote_with "$ADMIN" token revoke "$s_id" > out.txt 2> note.txt
check_eq "certhub token revoke without --cascade: the id, as before" "$s_id" "$(cat out.txt)"
check_eq "and a note on stderr that a token made from it keeps working" \
    "certhub: token revoke: note: 1 active API token made from it keeps working (--cascade revokes them too)" \
    "$(cat note.txt)"
check_eq "T works" 200 "$(uses "$tok_t")"
remote_with "$ADMIN" --output json token revoke "$s_id" --cascade > out.json
check_eq "--output json: the answer, T in it" "$s_id 1 $t_id" \
    "$(jq -r '"\(.id) \(.tokens_revoked) \(.tokens_revoked_ids | join(","))"' out.json)"
remote_with "$ADMIN" token revoke "$s_id" --cascade > out.txt
check_eq "asked once more: nothing left to revoke, said" "$s_id revoked; no active API token was made from it" \
    "$(cat out.txt)"
check_eq "T refused; the first start's token works" "401 200" "$(uses "$tok_t" "$ADMIN")"

stop_daemon
done_testing
