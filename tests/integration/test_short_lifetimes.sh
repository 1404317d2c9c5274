#!/usr/bin/env bash
# Certificates shorter than a day, as step-ca and Vault PKI users issue them ("ttl": "1h",
# "30m"): what openssl reads of them is the lifetime asked (from the moment of issuing, the
# start a minute earlier); bad lifetimes are 400s naming ttl, one past the CA's end a 422
# saying what fits; and, with certhubd's clock moved (libfaketime), an hour-long certificate
# with auto_renew is renewed at half its life for the same hour, again and again.  A renewal by
# hand may take another lifetime (days or ttl), checked as at issuance.  A renewal past its
# CA's end is cut there, and has its whole lifetime again once the CA is rotated.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
[ -n "$lib" ] || fail "libfaketime is missing (scripts/deps.sh installs faketime)"
echo "+0" > clock
DAEMON_ENV="LD_PRELOAD=$lib FAKETIME_TIMESTAMP_FILE=$T/clock FAKETIME_NO_CACHE=1"
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)

# seconds PEM_FILE: not_after - not_before as openssl reads them
seconds() {
    echo $(($(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s) -
        $(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)))
}
# ends_in PEM_FILE FROM TO: not_after within [FROM + LIFE, TO + LIFE] of the clock (LIFE seconds)
ends_in() {
    local na
    na=$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
    [ "$na" -ge $(($2 + $4)) ] && [ "$na" -le $(($3 + $4)) ] ||
        fail "$1 ends at $na, not $4 s after it was issued ($2 to $3)"
}

# An hour with a key made by the server, 30 minutes for a CSR.
t0=$(date +%s)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"hour.example\"},\"ttl\":\"1h\",\"ca_id\":\"$issuer\"}"
t1=$(date +%s)
check_eq "an hour-long certificate with a server key" 201 "$status"
body .pem > hour.pem
check_eq "openssl reads an hour and the minute it starts early" 3660 "$(seconds hour.pem)"
ends_in hour.pem "$t0" "$t1" 3600
ok "and it ends an hour after it was issued"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout half.key -subj /CN=half.example \
    -out half.csr 2>/dev/null
t0=$(date +%s)
api POST /api/v1/certificates "$(jq -n --arg c "$(cat half.csr)" --arg ca "$issuer" '{csr:$c, ttl:"30m", ca_id:$ca}')"
t1=$(date +%s)
check_eq "30 minutes for a CSR" 201 "$status"
body .pem > half.pem
check_eq "openssl reads 30 minutes and a minute" 1860 "$(seconds half.pem)"
ends_in half.pem "$t0" "$t1" 1800
ok "ending 30 minutes after it was issued"
api POST "/api/v1/certificates/$(body .id)/renew" '{"reuse_key":true}'
check_eq "renewed by hand" 201 "$status"
body .pem > half2.pem
check_eq "for 30 minutes again, not a day" 1860 "$(seconds half2.pem)"

# A renewal by hand for another lifetime: days or ttl, as at issuance; the next one keeps it.
api POST "/api/v1/certificates/$(body .id)/renew" '{"reuse_key":true,"ttl":"2h"}'
body .pem > half3.pem
check_eq "renewed for a ttl of 2h" "201 7260" "$status $(seconds half3.pem)"
api POST "/api/v1/certificates/$(body .id)/renew" '{}'
body .pem > half4.pem
check_eq "and its renewal without a lifetime keeps the two hours" "201 7260" "$status $(seconds half4.pem)"
relife=$(body .id)
api POST "/api/v1/certificates/$relife/renew" '{"days":"1"}'
check_eq "days as a string: 400 naming days" "400 days" "$status $(body .error.field)"
for bad in '"4m"' '"10x"' '""' 3600; do
    api POST "/api/v1/certificates/$relife/renew" "{\"ttl\":$bad}"
    check_eq "renew with ttl $bad: 400 naming ttl" "400 ttl" "$status $(body .error.field)"
done
api POST "/api/v1/certificates/$relife/renew" '{"days":1,"ttl":"1h"}'
check_eq "renew with days and ttl both: 400" "400 ttl give days or ttl, not both" \
    "$status $(body .error.field) $(body .error.message)"
api POST "/api/v1/certificates/$relife/renew" '{"ttl":"50000h"}'
check_eq "renew with a ttl past the issuing CA's end: 422 naming ttl" "422 ttl" "$status $(body .error.field)"
check_contains "saying the longest that fits" "$(body .error.message)" ": give a ttl of at most 18"
api POST "/api/v1/certificates/$relife/renew" '{"days":36000}'
check_eq "in days: 422 naming days" "422 days" "$status $(body .error.field)"
check_contains "saying the days that fit" "$(body .error.message)" "choose fewer days (at most 18"
api GET "/api/v1/certificates/$relife"
check_eq "none of them renewed it" null "$(body .renewed_by)"
api POST "/api/v1/certificates/$relife/renew" '{"days":1}'
body .pem > half5.pem
check_eq "renewed for a day" "201 86460" "$status $(seconds half5.pem)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"days.example\"},\"ttl\":\"90d\",\"ca_id\":\"$issuer\"}"
body .pem > days.pem
check_eq "a ttl in days, as Vault writes it" "201 $((90 * 86400 + 60))" "$status $(seconds days.pem)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"days.example\"},\"ttl\":\"1d12h\",\"ca_id\":\"$issuer\"}"
body .pem > compound.pem
check_eq "a ttl of several units, largest first, as Go writes a duration" "201 $((36 * 3600 + 60))" "$status $(seconds compound.pem)"
# Its end itself, as Vault's not_after and step-ca's notAfter take it.
end=$(date -u -d '+40 days' +%Y-%m-%dT00:00:00Z)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"dated.example\"},\"not_after\":\"$end\",\"ca_id\":\"$issuer\"}"
check_eq "not_after: the certificate ends then" "201 $end" "$status $(body .not_after)"
body .pem > dated.pem
check_eq "(as openssl reads it)" "$(date -u -d "$end" '+%b %e %H:%M:%S %Y GMT' | tr -s ' ')" \
    "$(openssl x509 -in dated.pem -noout -enddate | cut -d= -f2 | tr -s ' ')"
for bad in "\"days\":30" "\"ttl\":\"30d\""; do
    api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"dated.example\"},\"not_after\":\"$end\",$bad,\"ca_id\":\"$issuer\"}"
    check_eq "not_after with $bad: 400 naming not_after" "400 not_after" "$status $(body .error.field)"
done
for bad in '"2020-01-01T00:00:00Z"' '"tomorrow"' '"1970-01-01T00:00:00Z"' 20270101; do
    api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"dated.example\"},\"not_after\":$bad,\"ca_id\":\"$issuer\"}"
    check_eq "not_after $bad: 400 naming not_after" "400 not_after" "$status $(body .error.field)"
done
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"dated.example\"},\"not_after\":\"2099-01-01T00:00:00Z\",\"ca_id\":\"$issuer\"}"
check_eq "past the CA's end: refused as a lifetime is, naming not_after" "422 not_after" "$status $(body .error.field)"
check_contains "saying what to give (not a ttl it did not use)" "$(body .error.message)" \
    "not_after is after the issuing CA's end"
out=$("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" \
    --output json cert issue --ca-id "$issuer" --subject CN=cli-dated.example --not-after "$end")
check_eq "certhub cert issue --not-after" "$end" "$(jq -r .not_after <<<"$out")"
expect_usage "--not-after with --days: a usage error" "give --not-after or --days" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" \
    cert issue --subject CN=x --not-after "$end" --days 3

# Bad lifetimes: 400 naming ttl (and nothing issued).
api GET "/api/v1/certificates?limit=1"
before=$(jq -r '.items[0].id' "$T/body")
for bad in '"0"' '"0h"' '"-5m"' '"10x"' '"1.5h"' '"30m1h"' '"4m"' '"36601d"' '""' 3600 true; do
    api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"bad.example\"},\"ttl\":$bad,\"ca_id\":\"$issuer\"}"
    check_eq "ttl $bad: 400 naming ttl" "400 ttl" "$status $(body .error.field)"
done
check_contains "saying what is accepted" "$(body .error.message)" '"30m", "72h", "90d"'
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"bad.example\"},\"ttl\":\"10x\",\"ca_id\":\"$issuer\"}"
check_eq "a ttl without a known unit: said so" \
    'ttl must be a whole number and a unit (s, m, h or d), or several from the largest, such as 30m, 72h, 90d or 1d12h, not "10x"' "$(body .error.message)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"bad.example\"},\"ttl\":\"4m\",\"ca_id\":\"$issuer\"}"
check_eq "too short: the range said" "ttl must be from 5m to 36600d, not 4m" "$(body .error.message)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"bad.example\"},\"days\":1,\"ttl\":\"1h\",\"ca_id\":\"$issuer\"}"
check_eq "days and ttl both: 400 naming both" "400 ttl give days or ttl, not both" \
    "$status $(body .error.field) $(body .error.message)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"bad.example\"},\"ttl\":\"50000h\",\"ca_id\":\"$issuer\"}"
check_eq "past the issuing CA's end (five years): 422 naming ttl" "422 ttl" "$status $(body .error.field)"
check_contains "saying the longest that fits" "$(body .error.message)" "validity ends after the issuing CA's"
check_contains "as a ttl" "$(body .error.message)" ": give a ttl of at most 18"
api GET "/api/v1/certificates?limit=1"
check_eq "none of them issued" "$before" "$(jq -r '.items[0].id' "$T/body")"

# CAs: a ttl too, held to the parent's end; a certificate to the CA's.
api POST /api/v1/cas '{"name":"vault-style root","subject":{"common_name":"Vault-style Root"},"ttl":"87600h"}'
check_eq "a root of 87600 hours" 201 "$status"
root=$(body .id)
api GET "/api/v1/certificates/$(body .certificate_id)"
body .pem > root.pem
check_eq "ten years and a minute" $((87600 * 3600 + 60)) "$(seconds root.pem)"
api POST /api/v1/cas "{\"type\":\"intermediate\",\"name\":\"two-hour issuer\",\"parent_id\":\"$root\",\"subject\":{\"common_name\":\"Two-hour Issuer\"},\"ttl\":\"2h\"}"
check_eq "an intermediate of two hours" 201 "$status"
short_ca=$(body .id)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"long.example\"},\"ttl\":\"3h\",\"ca_id\":\"$short_ca\"}"
check_eq "three hours under it: 422" "422 ttl" "$status $(body .error.field)"
check_contains "the longest that fits, in minutes" "$(body .error.message)" "give a ttl of at most 1"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"long.example\"},\"days\":1,\"ca_id\":\"$short_ca\"}"
check_eq "a day under it: 422 naming days" "422 days" "$status $(body .error.field)"
check_contains "saying a ttl would fit" "$(body .error.message)" "less than a day away: give a ttl of at most 1"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"capped.example\"},\"ttl\":\"3h\",\"ca_id\":\"$short_ca\",\"cap_validity\":true}"
check_eq "or capped at its end" 201 "$status"
api POST /api/v1/cas "{\"type\":\"import\",\"name\":\"x\",\"certificate\":\"x\",\"ttl\":\"1h\"}"
check_eq "an imported CA takes no ttl (its lifetime is its certificate's)" "400 ttl" "$status $(body .error.field)"
api POST /api/v1/cas '{"name":"both","subject":{"common_name":"Both"},"days":10,"ttl":"240h"}'
check_eq "nor days and ttl both" "400 ttl" "$status $(body .error.field)"

# A profile of short-lived certificates: a day by default, a week at most, as a Vault role's
# ttl and max_ttl; GET shows them in the form given (a ttl in its largest whole unit: 24h is
# 1d), and PUT takes that back.
api POST /api/v1/profiles '{"name":"short-lived","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"default_ttl":"24h","max_ttl":"7d"}'
check_eq "a profile with default_ttl and max_ttl" "201 1d 7d null" \
    "$status $(body .default_ttl) $(body .max_ttl) $(body .default_days)"
jq 'del(.name, .custom, .is_ca)' "$T/body" > profile.json
api PUT /api/v1/profiles/short-lived "$(cat profile.json)"
check_eq "what GET shows, PUT takes back" "200 1d" "$status $(body .default_ttl)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"daily.example\"},\"profile\":\"short-lived\",\"ca_id\":\"$issuer\"}"
body .pem > daily.pem
check_eq "issued for its default, a day" "201 86460" "$status $(seconds daily.pem)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"weekly.example\"},\"profile\":\"short-lived\",\"ttl\":\"8d\",\"ca_id\":\"$issuer\"}"
check_eq "past its max_ttl: 422 naming ttl" "422 ttl profile short-lived allows at most 7 days" \
    "$status $(body .error.field) $(body .error.message)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"weekly.example\"},\"profile\":\"short-lived\",\"days\":8,\"ca_id\":\"$issuer\"}"
check_eq "in days too: 422 naming days" "422 days" "$status $(body .error.field)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"weekly.example\"},\"profile\":\"short-lived\",\"ttl\":\"168h\",\"ca_id\":\"$issuer\"}"
check_eq "up to it: issued" 201 "$status"
api PUT /api/v1/profiles/short-lived '{"key_usage":["digital_signature"],"default_ttl":"48h","max_ttl":"24h"}'
check_eq "a default past the maximum: 400 naming both" "400 default_ttl default_ttl (48h) is more than max_ttl (24h)" \
    "$status $(body .error.field) $(body .error.message)"
api PUT /api/v1/profiles/short-lived '{"key_usage":["digital_signature"],"max_days":7,"max_ttl":"7d"}'
check_eq "max_days and max_ttl both: 400" "400 max_ttl" "$status $(body .error.field)"
api PUT /api/v1/profiles/short-lived '{"key_usage":["digital_signature"],"max_ttl":"12h"}'
check_eq "a maximum alone is the default too" "200 12h 12h" "$status $(body .default_ttl) $(body .max_ttl)"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"twelve.example\"},\"profile\":\"short-lived\",\"ttl\":\"1h\",\"ca_id\":\"$issuer\"}"
twelve=$(body .id)
api POST "/api/v1/certificates/$twelve/renew" '{"ttl":"13h"}'
check_eq "a renewal past the profile's max_ttl: 422 naming ttl" "422 ttl profile short-lived allows at most 12 hours" \
    "$status $(body .error.field) $(body .error.message)"
api POST "/api/v1/certificates/$twelve/renew" '{"days":1}'
check_eq "in days too: 422 naming days" "422 days" "$status $(body .error.field)"
api POST "/api/v1/certificates/$twelve/renew" '{"ttl":"12h"}'
body .pem > twelve.pem
check_eq "up to it: renewed" "201 43260" "$status $(seconds twelve.pem)"

remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
expect_exit 0 "profile create --max-ttl" -- remote profile create cli-short --key-usage digital_signature --max-ttl 36h
remote --output json profile get cli-short > p.json
check_eq "its default is its maximum" "36h 36h" "$(jq -r '.default_ttl + " " + .max_ttl' p.json)"
expect_exit 0 "profile update --max-days: the ttl replaced" -- remote profile update cli-short --max-days 30
remote --output json profile get cli-short > p.json
check_eq "the default kept as it was" "36h 30 null" "$(jq -r '"\(.default_ttl) \(.max_days) \(.max_ttl)"' p.json)"
check_eq "profile list shows each lifetime as it is given" "36h 30d" \
    "$(remote profile list --limit 1000 | awk '$1 == "cli-short" {print $4, $5}')"
check_eq "and days for the built-in ones" "365d -" "$(remote profile list | awk '$1 == "tls-server" {print $4, $5}')"
expect_error "profile update --default-ttl too short: the server's 400" "default_ttl must be from 5m to 36600d" -- \
    remote profile update cli-short --default-ttl 2m

# The CLI: --ttl beside --days, on the server and offline.
t0=$(date +%s)
remote cert issue --subject CN=cli-hour.example --ca-id "$issuer" --ttl 1h --out cli-hour.pem >/dev/null
t1=$(date +%s)
check_eq "cert issue --ttl 1h" 3660 "$(seconds cli-hour.pem)"
ends_in cli-hour.pem "$t0" "$t1" 3600
ok "ending an hour after it was issued"
remote cert issue --csr half.csr --ca-id "$issuer" --ttl 30m --out cli-half.pem >/dev/null
check_eq "cert issue --csr --ttl 30m" 1860 "$(seconds cli-half.pem)"
for bad in 0 -5m 10x 1.5h 4m; do
    expect_error "cert issue --ttl $bad: the server's 400" "ttl must be" -- \
        remote cert issue --subject CN=bad.example --ca-id "$issuer" --ttl "$bad"
done
expect_usage "cert issue --days and --ttl both: a usage error, said before anything is sent" \
    "give --days or --ttl, not both" -- \
    remote cert issue --subject CN=bad.example --ca-id "$issuer" --days 1 --ttl 1h
expect_error "cert issue --ttl past the CA's end" "give a ttl of at most 18" -- \
    remote cert issue --subject CN=bad.example --ca-id "$issuer" --ttl 50000h
expect_error "cert issue --ttl past the profile's max_ttl" "profile short-lived allows at most 12 hours" -- \
    remote cert issue --subject CN=bad.example --ca-id "$issuer" --profile short-lived --ttl 13h
remote cert issue --subject CN=cli-profile.example --ca-id "$issuer" --profile short-lived --out cli-profile.pem >/dev/null
check_eq "cert issue from it without a lifetime: its default" 43260 "$(seconds cli-profile.pem)"
id=$(remote --output json cert issue --subject CN=cli-renew.example --ca-id "$issuer" --ttl 1h | jq -r .id)
remote cert renew "$id" --ttl 90m --out cli-renew.pem >/dev/null
check_eq "cert renew --ttl 90m" 5460 "$(seconds cli-renew.pem)"
id=$(remote --output json cert issue --subject CN=cli-renew2.example --ca-id "$issuer" --ttl 1h | jq -r .id)
remote cert renew "$id" --days 2 --out cli-renew2.pem >/dev/null
check_eq "cert renew --days 2" $((2 * 86400 + 60)) "$(seconds cli-renew2.pem)"
id=$(remote --output json cert issue --subject CN=cli-renew3.example --ca-id "$issuer" --ttl 1h | jq -r .id)
expect_error "cert renew --ttl 4m: the server's 400" "ttl must be from 5m to 36600d, not 4m" -- \
    remote cert renew "$id" --ttl 4m
expect_usage "cert renew --days and --ttl both" "give --days or --ttl, not both" -- remote cert renew "$id" --days 1 --ttl 1h
expect_error "cert renew --ttl past the CA's end" "give a ttl of at most 18" -- remote cert renew "$id" --ttl 50000h
expect_error "cert renew --days 0: out of range" "days" -- remote cert renew "$id" --days 0
check_eq "none of them renewed it" null "$(remote --output json cert get "$id" | jq -r .renewed_by)"
cli_ca=$(remote ca create --name "cli hours" --subject "CN=CLI Hours" --ttl 48h)
check_contains "ca create --ttl" "$cli_ca" "ca_"
expect_usage "ca create --days and --ttl both" "give --days or --ttl, not both" -- \
    remote ca create --name "cli both" --subject "CN=CLI Both" --days 2 --ttl 48h
[ -z "$(remote --output json ca list | jq -r '.items[] | select(.name == "cli both") | .id')" ] || fail "ca create --days --ttl made a CA"
ok "and made no CA"
expect_error "a certificate of 3 days under it" "choose fewer days (at most " -- \
    remote cert issue --subject CN=bad.example --ca-id "$cli_ca" --days 3
# Offline, through the same issuing.
"$CERTHUB" cert create --profile root-ca --subject CN=Offline --key-type p256 --key-out off.key --ttl 2h --out off.pem
check_eq "cert create --ttl 2h (a root)" 7260 "$(seconds off.pem)"
"$CERTHUB" cert create --profile tls-server --subject CN=off.example --key-type p256 --key-out leaf.key \
    --ca off.pem --ca-key off.key --ttl 30m --out off-leaf.pem
check_eq "cert create --ttl 30m under it" 1860 "$(seconds off-leaf.pem)"
for bad in 0 -5m 10x 1.5h 4m; do
    expect_error "cert create --ttl $bad" "--ttl must be" -- \
        "$CERTHUB" cert create --profile tls-server --subject CN=x --key-type p256 --key-out x.key --ca off.pem \
        --ca-key off.key --ttl "$bad" --out x.pem
done
expect_usage "cert create --days and --ttl both" "give --days or --ttl, not both" -- \
    "$CERTHUB" cert create --profile tls-server --subject CN=x --key-type p256 --key-out x.key --ca off.pem \
    --ca-key off.key --days 1 --ttl 1h --out x.pem
expect_error "cert create --ttl past the CA's two hours" "give a ttl of at most 1" -- \
    "$CERTHUB" cert create --profile tls-server --subject CN=x --key-type p256 --key-out x.key --ca off.pem \
    --ca-key off.key --ttl 3h --out x.pem
[ ! -e x.pem ] && [ ! -e x.key ] || fail "a refused cert create wrote a file"
ok "and none of them wrote a file"

# Automatic renewal: due at half an hour, renewed for an hour, and its renewal in turn.
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"renewed.example\"},\"ttl\":\"1h\",\"ca_id\":\"$issuer\",\"auto_renew\":true}"
check_eq "an hour-long certificate with automatic renewal" "201 true" "$status $(body .auto_renew)"
first=$(body .id)
nb=$(date -d "$(body .not_before)" +%s); ra=$(date -d "$(body .renew_at)" +%s); na=$(date -d "$(body .not_after)" +%s)
check_eq "due at half its life (not 12 hours before its end, before it began)" $(((na - nb) / 2)) $((ra - nb))
wait_rounds 2
api GET "/api/v1/certificates/$first"
check_eq "not renewed while it is young" null "$(body .renewed_by)"
renewed_after() { # ID: the certificate that renewed ID, once the scheduler made it
    for i in $(seq 1 300); do
        api GET "/api/v1/certificates/$1"
        [ "$(body .renewed_by)" != null ] && { body .renewed_by; return 0; }
        sleep 0.1
    done
    fail "certificate $1 was not renewed"
}
echo "+$((31 * 60))" > clock
second=$(renewed_after "$first")
ok "renewed past half its life, before its end"
api GET "/api/v1/certificates/$second"
body .pem > second.pem
check_eq "for an hour again, renewed automatically in turn" "3660 true" "$(seconds second.pem) $(body .auto_renew)"
nb2=$(date -d "$(body .not_before)" +%s); ra2=$(date -d "$(body .renew_at)" +%s); na2=$(date -d "$(body .not_after)" +%s)
[ "$nb2" -ge $((nb + 30 * 60)) ] || fail "the renewal does not start at the daemon's moved time"
check_eq "due at half of its hour" $((3660 / 2)) $((ra2 - nb2))
wait_rounds 3 # more scheduler rounds: nothing more happens before its point
api GET "/api/v1/certificates?limit=100&search=renewed.example"
check_eq "renewed once, not at every round" 2 "$(body '.items | length')"
echo "+$((62 * 60))" > clock
third=$(renewed_after "$second")
api GET "/api/v1/certificates/$third"
body .pem > third.pem
check_eq "and its renewal renewed at its own half hour, for an hour" 3660 "$(seconds third.pem)"
nb3=$(date -d "$(body .not_before)" +%s)
[ "$nb3" -lt "$na2" ] || fail "the third certificate begins after the second ended"
ok "before the one it renews ended"

# A renewal that would go past its CA's end is cut there (not refused: automatic renewals
# failed there while the CA still had time), says so in the audit, and once the CA is rotated
# the renewal after has the whole lifetime asked again, not the cut one.  A lifetime asked by
# hand is refused past the CA's end unless cap_validity.
api POST /api/v1/cas "{\"type\":\"intermediate\",\"name\":\"cut issuer\",\"parent_id\":\"$root\",\"subject\":{\"common_name\":\"Cut Issuer\"},\"ttl\":\"2h\"}"
cut_ca=$(body .id)
api GET "/api/v1/certificates/$(body .certificate_id)"
cut_ca_end=$(body .not_after)
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"cut.example\"},\"ttl\":\"1h\",\"ca_id\":\"$cut_ca\"}"
check_eq "an hour under a CA of two hours" 201 "$status"
cut1=$(body .id)
echo "+$((62 * 60 + 90 * 60))" > clock # the CA has half an hour left
api POST "/api/v1/certificates/$cut1/renew" '{}'
check_eq "renewed with half an hour of its CA left: not refused" 201 "$status"
cut2=$(body .id)
check_eq "ending with the CA" "$cut_ca_end" "$(body .not_after)"
api GET "/api/v1/audit?limit=1000&action=certificate.issue"
check_eq "the audit says it was cut, and the lifetime asked" "true 3600" \
    "$(body '.items[] | select(.object_id == "'"$cut2"'") | "\(.detail.capped_at_ca_end) \(.detail.lifetime_asked)"')"
api POST "/api/v1/certificates/$cut2/renew" '{"ttl":"1h"}'
check_eq "a lifetime asked past the CA's end: still 422" "422 ttl" "$status $(body .error.field)"
expect_exit 0 "cert renew --ttl 1h --cap-validity: cut at the CA's end" -- \
    remote cert renew "$cut2" --ttl 1h --cap-validity --out cut3.pem
cut3=$(remote --output json cert get "$cut2" | jq -r .renewed_by)
check_eq "ending with the CA" "$cut_ca_end" "$(remote --output json cert get "$cut3" | jq -r .not_after)"
api POST "/api/v1/cas/$cut_ca/rotate" '{}'
check_eq "the CA rotated" 200 "$status"
api POST "/api/v1/certificates/$cut3/renew" '{}'
body .pem > cut4.pem
check_eq "the renewal after has the hour asked again, not the half hour it was cut to" "201 3660" \
    "$status $(seconds cut4.pem)"

# Rounds an hour apart: a certificate of ten minutes is renewed at its five, not at the next
# round.  (The scheduler waits for the real seconds the fake clock showed when it began to wait:
# a certificate issued once the clock moved tells it the round is late.)
stop_daemon
start_daemon --job-interval 3600
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"ten.example\"},\"ttl\":\"10m\",\"ca_id\":\"$issuer\",\"auto_renew\":true}"
ten=$(body .id)
echo "+$((62 * 60 + 90 * 60 + 6 * 60))" > clock
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"later.example\"},\"ttl\":\"10m\",\"ca_id\":\"$issuer\",\"auto_renew\":true}"
renewed_after "$ten" >/dev/null
ok "a ten-minute certificate renewed at its half, with rounds an hour apart"

# The agent, its interval an hour, looks again when its certificate is renewed: a few seconds
# after the certificate's renew_at (here some seconds away), and writes the renewal then.
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"agent.example\"},\"ttl\":\"10m\",\"ca_id\":\"$issuer\",\"auto_renew\":true}"
watched=$(body .id)
stop_daemon
# (due at half its life counted from its start, a minute before it was issued: 4.5 minutes on)
echo "+$((62 * 60 + 90 * 60 + 6 * 60 + 270 - 15))" > clock # 15 seconds before it is due
start_daemon --job-interval 1
cat > agent.conf <<CONF
server = https://localhost:$port
token_file = $data/admin-token
ca_file = $data/ca.pem
interval = 3600
state = $T/agent.state

[target short]
certificate = $watched
cert_path = $T/agent-cert.pem
CONF
env $DAEMON_ENV "$CERTHUB" agent --config agent.conf > agent.out 2>&1 &
agent_pid=$!
trap 'rc=$?; kill "$agent_pid" 2>/dev/null || true; on_exit $rc' EXIT
for i in $(seq 300); do grep -q "next pass" agent.out && break; sleep 0.1; done
check_contains "the agent says its next pass comes when the certificate is renewed" "$(cat agent.out)" \
    "when the certificate of short is renewed"
# (awk alone: a head leaving a grep still writing makes a SIGPIPE, which pipefail makes the
# assignment's failure, and errexit a silent end of the test)
wait_s=$(awk 'match($0, /next pass in [0-9]+ s/) {split(substr($0, RSTART, RLENGTH), w, " "); print w[4]; exit}' agent.out)
[ "$wait_s" -ge 5 ] && [ "$wait_s" -le 20 ] || fail "the agent waits $wait_s s, not the seconds to the renewal"
ok "in the seconds left to it, not the hour"
renewal=$(renewed_after "$watched")
api GET "/api/v1/certificates/$renewal"
body .pem > renewal.pem
for i in $(seq 300); do cmp -s <(openssl x509 -in agent-cert.pem -noout -serial 2>/dev/null) \
    <(openssl x509 -in renewal.pem -noout -serial) && break; sleep 0.1; done
check_eq "and writes the renewal then" "$(openssl x509 -in renewal.pem -noout -serial)" \
    "$(openssl x509 -in agent-cert.pem -noout -serial)"
# (the agent runs until it is stopped: one gone by itself fails the test, saying so, rather than
# a failing kill ending it unsaid under errexit)
kill "$agent_pid" 2>/dev/null || fail "the agent had stopped by itself: $(cat agent.out)"
wait "$agent_pid" 2>/dev/null || true

done_testing
