#!/usr/bin/env bash
# API tokens that expire, with a moved clock (libfaketime, certhubd's clock only): made with
# expires_in or expires_at, let in until then and refused after with a 401 that says when
# (unknown and revoked tokens told apart), listed with their expiry and status, also after a
# restart; bad expiries refused naming the field, making nothing; the first start's admin
# token never expires.  The CLI: token create --expires, token list's status and expiry, exit 1
# on a bad expiry and on an expired token.  A tenant's max_token_days bounds what tokens are made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

fake_clock
start_daemon
TOKEN=$(cat "$data/admin-token")
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# count: the tokens of the default tenant.
count() { api GET "/api/v1/tokens?limit=1000"; body '.items | length'; }

# ---- bad expiries: 400 naming the field, and no token made
before=$(count)
refused() { # WHAT FIELD JSON-MEMBERS [MESSAGE]
    api POST /api/v1/tokens "{\"role\":\"viewer\",$3}"
    check_eq "$1: 400 naming $2" "400 invalid_input $2" "$status $(body .error.code) $(body .error.field)"
    [ -z "${4:-}" ] || check_contains "$1: said so" "$(body .error.message)" "$4"
}
refused "expires_in 0d" expires_in '"expires_in":"0d"' 'expires_in must be from 1h to 3650d, not 0d'
refused "expires_in 0h" expires_in '"expires_in":"0h"'
refused "a negative expires_in" expires_in '"expires_in":"-1d"'
refused "expires_in without a unit" expires_in '"expires_in":"30"'
refused "expires_in under the token's hour, though a certificate may live 30 minutes" expires_in \
    '"expires_in":"30m"' 'expires_in must be from 1h to 3650d, not 30m'
refused "expires_in of garbage" expires_in '"expires_in":"soon"' \
    'expires_in must be a whole number and a unit (s, m, h or d), or several from the largest, such as 30m, 72h, 90d or 1d12h, not "soon"'
refused "expires_in past ten years" expires_in '"expires_in":"3651d"'
refused "expires_in of too many hours" expires_in '"expires_in":"87601h"'
refused "expires_in past ten years, though a certificate may live 36600 days" expires_in '"expires_in":"36600d"' \
    'expires_in must be from 1h to 3650d, not 36600d'
refused "an expires_in too long to be a number" expires_in "\"expires_in\":\"$(printf '9%.0s' $(seq 1 60))d\""
refused "expires_in as a number" expires_in '"expires_in":30' 'a string, a whole number and a unit, such as "30d", "12h" or "90m"'
refused "expires_at of garbage" expires_at '"expires_at":"next tuesday"' "not an RFC 3339 time"
refused "expires_at in the past" expires_at '"expires_at":"2020-01-01T00:00:00Z"' "is not in the future"
refused "expires_at at the epoch (not read as never)" expires_at '"expires_at":"1970-01-01T00:00:00Z"'
refused "expires_at more than ten years ahead" expires_at "\"expires_at\":\"$(iso $(($(date +%s) + 3651 * 86400)))\"" \
    "more than 3650 days ahead; leave it out for a token that never expires"
refused "expires_at as a number" expires_at '"expires_at":1900000000'
refused "both" expires_at '"expires_in":"1d","expires_at":"2099-01-01T00:00:00Z"' "give expires_in or expires_at, not both"
check_eq "none of them made a token" "$before" "$(count)"

# ---- made, used, listed
# A lifetime from now is checked against the clock read before and after the request (whole
# seconds, as expires_at is written): exact however long a loaded machine took to answer, where
# a minute allowed after the first reading is a guess.
now=$(date +%s)
api POST /api/v1/tokens '{"role":"viewer","name":"ci job","expires_in":"12h"}'
after=$(date +%s)
check_eq "a token made for 12 hours" 201 "$status"
short=$(body .token)
short_id=$(body .id)
short_at=$(body .expires_at)
at=$(date -u -d "$short_at" +%s)
[ "$at" -ge $((now + 12 * 3600)) ] && [ "$at" -le $((after + 12 * 3600)) ] ||
    fail "its expires_at is 12 hours from now: $short_at (made from $(iso "$now") to $(iso "$after"))"
ok "its answer says when it expires: 12 hours from now"
two_days=$(iso $((now + 2 * 86400)))
api POST /api/v1/tokens "{\"role\":\"operator\",\"name\":\"contractor\",\"expires_at\":\"$two_days\"}"
check_eq "a token made to expire at a given time" "201 $two_days" "$status $(body .expires_at)"
long=$(body .token)
now=$(date +%s)
api POST /api/v1/tokens '{"role":"viewer","name":"ninety minutes","expires_in":"90m"}'
after=$(date +%s)
at=$(date -u -d "$(body .expires_at)" +%s)
[ "$status" = 201 ] && [ "$at" -ge $((now + 5400)) ] && [ "$at" -le $((after + 5400)) ] ||
    fail "a token for 90m expires 90 minutes from now: $status $(body .expires_at) (made from $(iso "$now") to $(iso "$after"))"
ok "expires_in 90m, as a certificate's ttl is written: 90 minutes from now"
api POST /api/v1/tokens '{"role":"viewer","name":"dashboards"}'
check_eq "one without an expiry: expires_at null" "201 null" "$status $(body .expires_at)"
forever=$(body .token)
TOKEN=$short api GET "/api/v1/certificates?limit=1"
check_eq "the 12-hour token works before its expiry" 200 "$status"
api GET "/api/v1/tokens/$short_id"
check_eq "it is listed with its expiry, active" "$short_at active null" \
    "$(body .expires_at) $(body .status) $(body .revoked_at)"
api GET "/api/v1/tokens?limit=1000"
check_eq "the first start's admin token never expires" "null active" \
    "$(body '.items[] | select(.name == "bootstrap admin") | "\(.expires_at) \(.status)"')"
api GET "/api/v1/audit?action=token.create&object_id=$short_id"
check_eq "its audit entry says until when" "$short_at" "$(body '.items[0].detail.expires_at')"

# ---- 11 hours later, then 13
echo "+$((11 * 3600))" > clock
TOKEN=$short api GET "/api/v1/certificates?limit=1"
check_eq "11 hours on, the 12-hour token still works" 200 "$status"
echo "+$((13 * 3600))" > clock
TOKEN=$short api GET "/api/v1/certificates?limit=1"
check_eq "13 hours on, the 12-hour token is refused: 401, reason token_expired" "401 unauthorized token_expired" \
    "$status $(body .error.code) $(body .error.reason)"
check_eq "its message says which token and when it expired" \
    "the API token $short_id expired at $short_at; an admin makes a new one (certhub token create)" "$(body .error.message)"
TOKEN=$short api GET "/api/v1/certificates?limit=1" "" -D "$T/headers"
check_contains "with WWW-Authenticate: Bearer error=\"invalid_token\", as any refused token (RFC 6750 3.1)" \
    "$(tr -d '\r' < "$T/headers")" 'WWW-Authenticate: Bearer error="invalid_token"'
TOKEN="" api GET "/api/v1/certificates?limit=1" "" -D "$T/headers"
check_eq "no token at all: WWW-Authenticate: Bearer, no error (a client that sent none is not told its token is bad)" \
    'WWW-Authenticate: Bearer' "$(tr -d '\r' < "$T/headers" | grep -i '^WWW-Authenticate')"
TOKEN=cht_$(printf '0%.0s' $(seq 1 64)) api GET "/api/v1/certificates?limit=1"
check_eq "an unknown token is told apart: no reason, its own message" "401 null unknown API token" \
    "$status $(body .error.reason) $(body .error.message)"
TOKEN=$long api GET "/api/v1/certificates?limit=1"
check_eq "the one expiring in two days still works" 200 "$status"
TOKEN=$forever api GET "/api/v1/certificates?limit=1"
check_eq "so does the one without an expiry" 200 "$status"
api GET "/api/v1/tokens?limit=1000"
check_eq "the first start's admin token lists them: the one past its expiry is said to be expired" \
    "200 ci job:expired contractor:active ninety minutes:expired dashboards:active" \
    "$status $(body '[.items[] | select(.name != "bootstrap admin") | .name + ":" + .status] | join(" ")')"

# ---- across a restart, and three days on
stop_daemon
echo "+$((3 * 86400))" > clock
start_daemon
TOKEN=$long api GET "/api/v1/certificates?limit=1"
check_eq "after a restart, three days on, the two-day token is refused too" "401 token_expired" \
    "$status $(body .error.reason)"
TOKEN=$forever api GET "/api/v1/certificates?limit=1"
check_eq "the one without an expiry is not" 200 "$status"
api DELETE "/api/v1/tokens/$short_id"
check_eq "an expired token can still be revoked" 200 "$status"
TOKEN=$short api GET "/api/v1/certificates?limit=1"
check_eq "and is then said to be revoked" "401 the API token was revoked" "$status $(body .error.message)"
api GET "/api/v1/tokens/$short_id"
check_eq "listed as revoked, its expiry kept" "revoked $short_at" "$(body .status) $(body .expires_at)"
api GET "/api/v1/certificates?limit=1"
check_eq "the admin token of the first start still works" 200 "$status"

# ---- the CLI: token create --expires, token list, an expired token's refusal
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
now=$(($(date +%s) + 3 * 86400)) # certhubd's clock, before and after each token is made
cli_short=$(remote token create --role viewer --name cli-week --expires 7d)
week_to=$(($(date +%s) + 3 * 86400))
week_from=$now
CERTHUB_TOKEN=$cli_short expect_exit 0 "token create --expires 7d: a token that works" -- \
    "$CERTHUB" --server "https://localhost:$port" --ca-file "$data/ca.pem" cert list
now=$(($(date +%s) + 3 * 86400))
remote --output json token create --role viewer --name cli-90m --expires 90m > m90.json
after=$(($(date +%s) + 3 * 86400))
at=$(date -u -d "$(jq -r .expires_at m90.json)" +%s)
[ "$at" -ge $((now + 5400)) ] && [ "$at" -le $((after + 5400)) ] ||
    fail "--expires 90m is 90 minutes from certhubd's now: $(iso "$at") (made from $(iso "$now") to $(iso "$after"))"
ok "--expires 90m: ninety minutes from certhubd's clock"
# (a day two years on, not a fixed one: the test is run after any fixed day has passed)
dated=$(date -u -d '+2 years' +%Y-%m-%d)
remote --output json token create --role viewer --name cli-dated --expires "$dated" > dated.json
check_eq "--expires with a date: expires_at, its midnight UTC" "${dated}T00:00:00Z" "$(jq -r .expires_at dated.json)"
remote --output json token list --all > list.json
at=$(date -u -d "$(jq -r '.items[] | select(.name == "cli-week") | .expires_at' list.json)" +%s)
[ "$at" -ge $((week_from + 7 * 86400)) ] && [ "$at" -le $((week_to + 7 * 86400)) ] ||
    fail "--expires 7d is seven days from certhubd's now: $(iso "$at") (made from $(iso "$week_from") to $(iso "$week_to"))"
ok "--expires 7d: seven days from certhubd's clock"
remote token list > list.txt
check_eq "token list: the status, expires_at and made_by columns" "id name role status created_at expires_at made_by" \
    "$(head -1 list.txt | awk '{$1 = $1; print}')"
check_eq "an expired token's row says so, with its expiry" "expired $two_days" \
    "$(awk '$2 == "contractor" {print $4, $6}' list.txt)"
# (no expiry: its made_by, the token that made it, comes sixth and last)
check_eq "a token without an expiry: active, no expiry" "active 6 tok_" \
    "$(awk '$2 == "dashboards" {print $4, NF, substr($6, 1, 4)}' list.txt)"
CERTHUB_TOKEN=$long expect_error "the CLI with an expired token: exit 1 saying when it expired" \
    "expired at $two_days; an admin makes a new one (certhub token create) (HTTP 401)" -- \
    "$CERTHUB" --server "https://localhost:$port" --ca-file "$data/ca.pem" cert list
before=$(count)
expect_error "--expires 0d: exit 1 saying what it takes" \
    'expires_in must be from 1h to 3650d, not 0d (HTTP 400); --expires also takes a time' -- \
    remote token create --expires 0d
expect_error "--expires of garbage" 'expires_in must be a whole number and a unit (s, m, h or d)' -- \
    remote token create --expires soon
expect_error "--expires 30m (under an hour)" 'expires_in must be from 1h to 3650d, not 30m' -- \
    remote token create --expires 30m
expect_error "--expires with a date past: exit 1, the relative form named" \
    "expires_at 2020-01-01T00:00:00Z is not in the future (HTTP 400); --expires also takes a lifetime from now: 30d, 12h, 90m" -- \
    remote token create --expires 2020-01-01
expect_error "--expires more than ten years" 'expires_in must be from 1h to 3650d, not 4000d' -- remote token create --expires 4000d
check_eq "none of them made a token" "$before" "$(count)"

# ---- a tenant's max_token_days: each token made has an expiry within it
api PATCH /api/v1/settings '{"max_token_days":0}'
check_eq "max_token_days 0: 400 naming it" "400 max_token_days" "$status $(body .error.field)"
api PATCH /api/v1/settings '{"max_token_days":"30d"}'
check_eq "max_token_days as a string: 400 naming it" "400 max_token_days" "$status $(body .error.field)"
api PATCH /api/v1/settings '{"max_token_days":30}'
check_eq "max_token_days 30" "200 30" "$status $(body .max_token_days)"
before=$(count)
refused "with max_token_days, a token without an expiry" expires_in '"name":"forever"' \
    "the tenant's max_token_days is 30: a token is given expires_in or expires_at within 30 days"
refused "expires_in past max_token_days, naming expires_in" expires_in '"expires_in":"31d"' \
    "the tenant's max_token_days is 30: a token expires within 30 days"
refused "expires_at past it" expires_at "\"expires_at\":\"$(iso $((now + 31 * 86400)))\"" "max_token_days is 30"
check_eq "none of them made a token" "$before" "$(count)"
api POST /api/v1/tokens '{"role":"viewer","name":"within","expires_in":"720h"}'
check_eq "a token within it" 201 "$status"
expect_error "token create without --expires: exit 1 naming the setting" "max_token_days is 30" -- \
    remote token create --role viewer
check_contains "and the option that gives it" "$(cat "$T/stderr")" "; give --expires: a lifetime from now (30d, 12h)"
check_eq "settings get shows it" "30" "$(remote settings get | awk '$1 == "max_token_days" {print $2}')"
expect_exit 0 "settings set --max-token-days none" -- remote settings set --max-token-days none
api POST /api/v1/tokens '{"role":"viewer","name":"forever again"}'
check_eq "without it, a token that never expires again" "201 null" "$status $(body .expires_at)"

# ---- every token that lets anyone in expired: the next start makes the admin token again, as it
# does once all are revoked (the way back in for whoever holds the data directory)
api POST /api/v1/tokens '{"role":"admin","name":"last admin","expires_in":"1d"}'
check_eq "an admin token for a day" 201 "$status"
last=$(body .token)
first=$(cat "$data/admin-token")
api PATCH /api/v1/settings '{"public_bundle":false}'
check_eq "the default tenant's trust bundle made private" "200 false" "$status $(body .public_bundle)"
TOKEN=$last api GET "/api/v1/tokens?limit=1000"
for id in $(body '.items[] | select(.status == "active" and .name != "last admin") | .id'); do
    TOKEN=$last api DELETE "/api/v1/tokens/$id"
    [ "$status" = 200 ] || fail "revoking $id: $status $(cat "$T/body")"
done
TOKEN=$last api GET "/api/v1/tokens?limit=1000"
check_eq "the day's admin token is the only one left that lets anyone in" "last admin" \
    "$(body '[.items[] | select(.status == "active") | .name] | join(",")')"
stop_daemon
echo "+$((5 * 86400))" > clock
start_daemon
check_eq "two days after it expired, the next start made a new admin token" "yes" \
    "$([ -s "$data/admin-token" ] && [ "$(cat "$data/admin-token")" != "$first" ] && echo yes)"
TOKEN=$(cat "$data/admin-token") api GET "/api/v1/certificates?limit=1"
check_eq "and it lets the admin in" 200 "$status"
check_eq "said as such, not as a first start" "0 1" \
    "$(grep -c 'first start in' "$log" || true) $(grep -c 'no API token of the default tenant lets anyone in any more' "$log" || true)"
TOKEN=$(cat "$data/admin-token") api GET /api/v1/settings
check_eq "the bundle stays private: only the first start makes it public" false "$(body .public_bundle)"
stop_daemon
start_daemon
check_eq "a start with a token that lets one in makes none" 0 "$(grep -c 'admin API token' "$log" || true)"

stop_daemon
done_testing
