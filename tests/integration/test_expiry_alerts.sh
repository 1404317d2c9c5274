#!/usr/bin/env bash
# Expiry alerts with a moved clock: a 40-day certificate crosses the 30, 14 and 7 day
# thresholds; a webhook receiver on loopback gets each crossing exactly once (across a restart
# of certhubd), with a valid HMAC-SHA256 signature of the body; a webhook that refuses does not
# make the others receive an alert again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

webhook_receiver
secret="a-webhook-secret-of-some-length"
fake_clock
start_daemon --job-interval 1
TOKEN=$(cat "$data/admin-token")
api PATCH /api/v1/settings '{"webhooks":[{"url":"ftp://x","secret":"short"}]}'
check_eq "a bad webhook is refused" "400 webhooks" "$status $(body .error.field)"
api PATCH /api/v1/settings '{"webhooks":[{"url":"https://hooks.example/a b\r\nX: y","secret":"0123456789abcdef"}]}'
check_eq "a URL with a space and a line break: 400 saying where" \
    "400 webhooks webhook 1's URL holds a space at byte 24: a URL is visible ASCII, others percent-encoded (RFC 3986)" \
    "$status $(body .error.field) $(body .error.message)"
api PATCH /api/v1/settings '{"webhooks":[{"url":"https:///h","secret":"0123456789abcdef"}]}'
check_eq "a URL without a host: 400" "400 true" "$status $(body '.error.message | contains("names no host")')"
api PATCH /api/v1/settings '{"webhooks":[{"url":"https://h.example/a","secret":"0123456789abcdef"},{"url":"https://h.example/a","secret":"0123456789abcdeg"}]}'
check_eq "one URL twice: 400" "400 webhook 2's URL is webhook 1's: each URL once" "$status $(body .error.message)"
api PATCH /api/v1/settings '{"alert_thresholds_days":[5,5]}'
check_eq "a threshold twice: 400" "400 the threshold of 5 days is given twice" "$status $(body .error.message)"
api GET /api/v1/settings
check_eq "(none of it stored)" "[] 30,14,7,1" "$(body '.webhooks | tostring') $(body '.alert_thresholds_days | map(tostring) | join(",")')"
api PATCH /api/v1/settings '{"webhooks":[{"url":"https://hooks.example/h","secret":"fifteen-chars-x"}]}'
check_eq "a secret too short: said so, with its length" "400 webhook 1's secret has 15 characters: a secret has 16 to 128" \
    "$status $(body .error.message)"
api PATCH /api/v1/settings "{\"alert_thresholds_days\":[30,14,7],\"webhooks\":[{\"url\":\"$hook\",\"secret\":\"$secret\"}]}"
check_eq "thresholds and a webhook set" "200 30,14,7 (set)" "$status $(body '(.alert_thresholds_days | map(tostring) | join(","))') $(body '.webhooks[0].secret')"
api POST /api/v1/tokens '{"role":"viewer","name":"reader"}'
viewer=$(body .token)
TOKEN=$viewer api GET "/api/v1/audit?action=settings.update&order=desc&limit=1"
check_eq "the change is in the audit log without the secret (viewers read it)" "200 (set) false" \
    "$status $(body '.items[0].detail.webhooks[0].secret') $(grep -q "$secret" "$T/body" && echo true || echo false)"
check_eq "nor its path (often the credential of a webhook): scheme and host" "http://127.0.0.1:$(cat hookport)/…" \
    "$(body '.items[0].detail.webhooks[0].url')"
TOKEN=$viewer api GET /api/v1/settings
check_eq "a viewer reads the webhook as scheme and host" "http://127.0.0.1:$(cat hookport)/…" "$(body '.webhooks[0].url')"
api GET /api/v1/settings
check_eq "an admin, whole (to send it back as read)" "$hook" "$(body '.webhooks[0].url')"
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"$hook\"},{\"url\":\"http://127.0.0.1:9/b\",\"secret\":\"another-secret-of-length\"}]}"
check_eq "a webhook given by its URL alone keeps its secret, beside a new one" "200 2" "$status $(body '.webhooks | length')"
api GET /api/v1/settings
api PATCH /api/v1/settings "$(cat "$T/body")"
check_eq "settings read and sent back as they are (secrets as (set)): nothing changes" "200 2" "$status $(body '.webhooks | length')"
api PATCH /api/v1/settings '{"webhooks":[{"url":"http://127.0.0.1:9/c"}]}'
check_eq "a new webhook without its secret: 400" "400 webhooks" "$status $(body .error.field)"
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"$hook\",\"secret\":\"$secret\"}]}"
check_eq "back to the one webhook, its secret kept (the signatures below are checked with it)" "200 1" \
    "$status $(body '.webhooks | length')"
check_eq "the store keeps the secret sealed: it is in none of its files" 0 "$(cat "$data"/certhub.db* | grep -ac "$secret" || true)"
issuer=$(quickstart_issuer)
api POST /api/v1/certificates "{\"name\":\"billing-api\",\"subject\":{\"common_name\":\"billing.example\"},\"days\":40,\"ca_id\":\"$issuer\"}"
cid=$(body .id)

# A renewal that cannot happen (its profile no longer allows its name) is alerted too.
api POST /api/v1/profiles '{"name":"narrow","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["orphan.example"]}'
api POST /api/v1/certificates "{\"name\":\"orphan\",\"profile\":\"narrow\",\"subject\":{\"common_name\":\"orphan.example\"},\"days\":1,\"ca_id\":\"$issuer\",\"auto_renew\":true}"
orphan=$(body .id)
api PUT /api/v1/profiles/narrow '{"key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["other.example"]}'
check_eq "its profile narrowed" 200 "$status"

alerts_for() { grep "\"threshold_days\":$1" hooks | grep -c '"name":"billing-api"' || true; }
wait_alert() { for i in $(seq 1 300); do [ "$(alerts_for "$1")" -ge 1 ] && return 0; sleep 0.1; done; return 1; }
wait_rounds 2
check_eq "40 days left: nothing sent" 0 "$(grep -c "$cid" hooks 2>/dev/null || true)"
echo "+11d" > clock
wait_alert 30 || fail "no alert at 29 days left"
ok "29 days left: the 30-day alert"
wait_rounds 2
check_eq "sent once" 1 "$(alerts_for 30)"
stop_daemon
# A store written by an earlier certhub holds the secret in clear: sealed at the next start,
# and the alerts go on, signed with it.
sqlite3 "$data/certhub.db" "UPDATE tenants SET settings = json_set(settings, '\$.webhooks', \
    json('[{\"url\":\"$hook\",\"secret\":\"$secret\"}]')) WHERE name = 'default'"
check_eq "(an earlier store: the secret in clear)" 1 "$(sqlite3 "$data/certhub.db" "SELECT settings FROM tenants WHERE name = 'default'" | grep -c "$secret")"
echo "+27d" > clock
start_daemon --job-interval 1
check_eq "sealed at the start" 0 "$(sqlite3 "$data/certhub.db" "SELECT settings FROM tenants WHERE name = 'default'" | grep -c "$secret" || true)"
wait_alert 14 || fail "no alert at 13 days left"
ok "13 days left, after a restart: the 14-day alert"
wait_rounds 2
check_eq "the 30-day one not again after the restart" 1 "$(alerts_for 30)"
echo "+34d" > clock
wait_alert 7 || fail "no alert at 6 days left"
wait_rounds 2 # (the round that sent it audits it after the receiver has it)
check_eq "each threshold exactly once" "1 1 1" "$(alerts_for 30) $(alerts_for 14) $(alerts_for 7)"
check_contains "each event says when it was made, within what is signed" \
    "$(grep '"name":"billing-api"' hooks | head -1)" '"at":"20'
check_contains "(the failed renewal's too)" "$(grep renewal_failed hooks | head -1)" '"at":"20'
check_contains "the failed renewal was alerted" "$(grep renewal_failed hooks | head -1)" "\"id\":\"$orphan\""
check_contains "naming its tenant, as an expiry alert does" "$(grep renewal_failed hooks | head -1)" '"tenant":"default"'
while IFS=$'\t' read -r sig body; do
    want="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/.*= //')"
    [ "$sig" = "$want" ] || fail "a bad signature: $sig"
done < hooks
check_eq "the expiry alerts name the certificate" 3 "$(grep '"event":"certificate.expiring"' hooks | grep -c '"name":"billing-api"')"
ok "every alert carries a valid HMAC-SHA256 signature"
api GET "/api/v1/audit?limit=1000"
check_eq "each expiry alert is in the audit log" 3 "$(body '[.items[] | select(.action == "alert.sent" and .object_id == "'"$cid"'")] | length')"

# A webhook that refuses: certhubd's log names its scheme and host, never its path or userinfo
# (a Slack or Teams webhook's path is its credential).
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"$hook\"},{\"url\":\"http://ops:pw-in-url@127.0.0.1:$(cat hookport)/refuse/T0PATHSECRET\",\"secret\":\"$secret\"}]}"
api POST /api/v1/certificates "{\"name\":\"short\",\"subject\":{\"common_name\":\"short.example\"},\"days\":3,\"ca_id\":\"$issuer\"}"
for i in $(seq 1 300); do grep -q "answered HTTP 403" "$log" && break; sleep 0.1; done
check_contains "the refusal is logged by scheme and host" "$(cat "$log")" \
    "certhubd: webhook http://127.0.0.1:$(cat hookport): answered HTTP 403; tried again at the next round"
check_eq "without its path or userinfo" "0 0" "$(grep -c T0PATHSECRET "$log" || true) $(grep -c pw-in-url "$log" || true)"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z certhubd: webhook ' "$log" ||
    fail "the webhook's line carries no time: $(grep 'certhubd: webhook' "$log" | head -1)"
ok "and carries its time (outside journald, which stamps lines itself)"
# Meanwhile the webhook that took it has it once, not again at every round the other refuses;
# and once only for the most urgent threshold the certificate is within (3 days left: the
# 7-day alert, not the 30- and 14-day ones with it).
wait_rounds 3
check_eq "the working webhook has the alert once, for the 7-day threshold alone" "1 7" \
    "$(grep -c '"name":"short"' hooks) $(grep '"name":"short"' hooks | sed -n 's/.*"threshold_days":\([0-9]*\).*/\1/p' | paste -sd,)"

# A short-lived certificate that certhubd renews is born within every threshold: it is not
# alerted while its renewals succeed (a day-long one was alerted at each renewal, an hour-long
# one every half hour), and is once its renewal fails.
api POST /api/v1/certificates "{\"name\":\"daily\",\"subject\":{\"common_name\":\"daily.example\"},\"ttl\":\"24h\",\"ca_id\":\"$issuer\",\"auto_renew\":true}"
daily=$(body .id)
api POST /api/v1/profiles '{"name":"doomed","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["doomed.example"]}'
api POST /api/v1/certificates "{\"name\":\"daily-doomed\",\"profile\":\"doomed\",\"subject\":{\"common_name\":\"doomed.example\"},\"ttl\":\"24h\",\"ca_id\":\"$issuer\",\"auto_renew\":true}"
api PUT /api/v1/profiles/doomed '{"key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["other.example"]}'
wait_rounds 3
check_eq "day-long certificates renewed automatically: no alert at their start" 0 "$(grep -c '"name":"daily' hooks || true)"
echo "+$((34 * 86400 + 13 * 3600))" > clock # past half their lives
# (counted, not grep -q: one leaving at its match makes the grep before it, still writing, fail)
for i in $(seq 1 300); do
    [ "$(grep '"event":"certificate.expiring"' hooks | grep -c '"name":"daily-doomed"' || true)" -ge 1 ] && break
    sleep 0.1
done
wait_rounds 2
check_eq "the one whose renewal failed: alerted, once, for the most urgent threshold" "1 7" \
    "$(grep '"event":"certificate.expiring"' hooks | grep -c '"name":"daily-doomed"') $(grep '"event":"certificate.expiring"' hooks | grep '"name":"daily-doomed"' | sed -n 's/.*"threshold_days":\([0-9]*\).*/\1/p')"
api GET "/api/v1/certificates/$daily"
check_eq "the other renewed, and neither it nor its renewal alerted" "true 0" \
    "$(body '.renewed_by != null') $(grep -c '"name":"daily"' hooks || true)"

# Where a webhook may lead: never to a link-local address (the cloud's metadata service), and
# to the host itself only for the default tenant (the installation's).  Written as an address,
# refused when set; reached another way (a name, an address in a short form curl reads), at
# each sending.
api PATCH /api/v1/settings '{"webhooks":[{"url":"http://169.254.169.254/latest/meta-data","secret":"a-webhook-secret-of-some-length"}]}'
check_eq "a webhook to a link-local address: 400 when set" \
    "400 webhooks webhook 1 leads to a link-local address, where webhooks may not go" \
    "$status $(body .error.field) $(body .error.message)"
# An address in a short form a resolver reads (169.254.43518, 127.1, 0x7f000001, 2130706433,
# 0177.0.0.1, 0) is that address when set too (each was taken, and refused only at sending).
for short in 169.254.43518 0xa9fea9fe 2852039166; do
    api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"http://$short/latest/meta-data\",\"secret\":\"a-webhook-secret-of-some-length\"}]}"
    check_eq "$short, link-local in a short form: 400 when set" "400 true" \
        "$status $(body '.error.message | contains("link-local")')"
done
api POST /api/v1/tenants '{"name":"guest"}'
api POST /api/v1/tokens '{"tenant":"guest","role":"admin"}'
GUEST=$(body .token)
TOKEN=$GUEST api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"$hook\",\"secret\":\"$secret\"}]}"
check_eq "another tenant's webhook to the host itself: 400 when set" \
    "400 webhook 1 leads to the host itself (loopback), where webhooks of tenants other than the default one may not go" \
    "$status $(body .error.message)"
TOKEN=$GUEST api PATCH /api/v1/settings '{"webhooks":[{"url":"http://localhost/x","secret":"a-webhook-secret-of-some-length"}]}'
check_eq "localhost too" 400 "$status"
for short in 127.1 0x7f000001 2130706433 0177.0.0.1 0 localhost.; do
    TOKEN=$GUEST api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"${hook/127.0.0.1/$short}\",\"secret\":\"$secret\"}]}"
    check_eq "$short for another tenant: 400 when set" 400 "$status"
done
# A name that resolves to the host itself is taken when set, and refused at each sending,
# where every address it resolves to is checked: this machine's own name, which resolves to
# loopback here (/etc/hosts).
self=$(hostname)
getent ahostsv4 "$self" | awk '{print $1}' | grep -q '^127\.' ||
    fail "this machine's name ($self) does not resolve to a loopback address, which this check needs"
TOKEN=$GUEST api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"${hook/127.0.0.1/$self}\",\"secret\":\"$secret\"}]}"
check_eq "(a name is taken, and checked when sent)" 200 "$status"
TOKEN=$GUEST api POST /api/v1/cas '{"name":"guest root","type":"root","subject":{"common_name":"Guest Root"}}'
TOKEN=$GUEST api POST /api/v1/certificates "{\"name\":\"guest-short\",\"subject\":{\"common_name\":\"g.example\"},\"days\":3,\"ca_id\":\"$(body .id)\"}"
for i in $(seq 1 300); do grep -q "leads to the host itself" "$log" && break; sleep 0.1; done
check_contains "another tenant's webhook to the host itself is not sent" "$(cat "$log")" \
    "not sent: it leads to the host itself (loopback), where webhooks of tenants other than the default one may not go"
check_eq "and the receiver has nothing of it" 0 "$(grep -c guest-short hooks || true)"

# A webhook that hangs (no answer until curl's timeout) is tried once a round, not once for each
# alert due: the scheduler's round (renewals, rotations, other webhooks) is held for one timeout,
# and the working webhook beside it has all three alerts within that round.
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"http://127.0.0.1:$(cat hookport)/hang/x\",\"secret\":\"$secret\"},{\"url\":\"$hook\",\"secret\":\"$secret\"}]}"
check_eq "a hanging webhook beside the working one" 200 "$status"
for n in hang-a hang-b hang-c; do
    api POST /api/v1/certificates "{\"name\":\"$n\",\"subject\":{\"common_name\":\"$n.example\"},\"days\":3,\"ca_id\":\"$issuer\"}"
done
# (a round or two held for the hanging webhook's 10 s each)
for i in $(seq 1 600); do [ "$(grep -c '"name":"hang-' hooks || true)" -ge 3 ] && break; sleep 0.1; done
check_eq "the working webhook has the three alerts" 3 "$(grep -c '"name":"hang-' hooks || true)"
check_eq "the hanging one was asked about one certificate only, whatever came first" 1 \
    "$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' hooks.hung | sort -u | wc -l)"

# An event sent once (a renewal that failed for good) that its webhook did not take in its round
# waits for the next rounds, and so does the one after it in the same round (the webhook was
# down for the rest of that round): the receiver has both, once each.
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"http://127.0.0.1:$(cat hookport)/flaky/x\",\"secret\":\"$secret\"}]}"
check_eq "a webhook that is down for a moment" 200 "$status"
api POST /api/v1/profiles '{"name":"doomed-ab","key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["doomed-a.example","doomed-b.example"]}'
for n in doomed-a doomed-b; do
    api POST /api/v1/certificates "{\"name\":\"$n\",\"profile\":\"doomed-ab\",\"subject\":{\"common_name\":\"$n.example\"},\"days\":1,\"ca_id\":\"$issuer\",\"auto_renew\":true}"
done
api PUT /api/v1/profiles/doomed-ab '{"key_usage":["digital_signature"],"ext_key_usage":["server_auth"],"allowed_domains":["other.example"]}'
echo "+$((35 * 86400 + 9 * 3600))" > clock   # 20 hours on: their renewals due, their names refused
failed() { grep '"event":"certificate.renewal_failed"' hooks | grep -c "\"name\":\"$1\"" || true; }
for i in $(seq 1 600); do [ "$(failed doomed-a)" -ge 1 ] && [ "$(failed doomed-b)" -ge 1 ] && break; sleep 0.1; done
wait_rounds 2
check_eq "both renewals' failures reached the webhook, once each, the first after a 503" "1 1" \
    "$(failed doomed-a) $(failed doomed-b)"

# A certificate renewed automatically before it ends is not alerted while its renewal is ahead
# (a 10-day one had the 7-day alert at each renewal, renewed at 3 days left); nor the
# certificate of a CA rotated automatically at a third of its life left, while that is ahead.
api PATCH /api/v1/settings "{\"webhooks\":[{\"url\":\"$hook\",\"secret\":\"$secret\"}]}"
api POST /api/v1/certificates "{\"name\":\"tenday\",\"subject\":{\"common_name\":\"tenday.example\"},\"days\":10,\"ca_id\":\"$issuer\",\"auto_renew\":true}"
tenday=$(body .id)
api POST /api/v1/cas '{"name":"fortnight","type":"root","subject":{"common_name":"Fortnight Root"},"key_type":"p256","days":15,"auto_rotate":true}'
check_eq "a 15-day root rotated automatically" "201 true" "$status $(body .auto_rotate)"
fortnight_cert=$(body .certificate_id)
# (guest's own: renewed automatically, until its tenant is revoked)
TOKEN=$GUEST api GET /api/v1/cas
guest_ca=$(body '.items[] | select(.name == "guest root") | .id')
TOKEN=$GUEST api POST /api/v1/certificates "{\"name\":\"guest-daily\",\"subject\":{\"common_name\":\"gd.example\"},\"ttl\":\"24h\",\"ca_id\":\"$guest_ca\",\"auto_renew\":true}"
check_eq "a day-long certificate of tenant guest, renewed automatically" 201 "$status"
guest_daily=$(body .id)
api DELETE /api/v1/tenants/guest
check_eq "tenant guest revoked" "200 revoked" "$status $(body .status)"
echo "+$((35 * 86400 + 9 * 3600 + 84 * 3600))" > clock # 3.5 days on: 6.5 days left, 11.5 for the CA
wait_rounds 3
check_eq "6.5 days left, its renewal at 3.3 days left ahead: no 7-day alert" 0 "$(grep -c '"name":"tenday"' hooks || true)"
api GET "/api/v1/certificates/$tenday"
check_eq "(not renewed yet)" "null" "$(body .renewed_by)"
echo "+$((35 * 86400 + 9 * 3600 + 204 * 3600))" > clock # 8.5 days on: 1.5 days left, 6.5 for the CA
api GET "/api/v1/certificates/$tenday"
for i in $(seq 1 300); do
    api GET "/api/v1/certificates/$tenday"
    [ "$(body .renewed_by)" != null ] && break
    sleep 0.1
done
wait_rounds 2
check_eq "renewed at its point, and still never alerted" "true 0" \
    "$(body '.renewed_by != null') $(grep -c '"name":"tenday"' hooks || true)"
check_eq "the auto-rotating CA's certificate, 6.5 days left and its rotation at 5 ahead: no alert" 0 \
    "$(grep -c "\"id\":\"$fortnight_cert\"" hooks || true)"
api GET "/api/v1/certificates/$guest_daily?tenant=guest"
check_eq "a revoked tenant's certificate is not renewed (its CA signed on after the revocation)" "200 null" \
    "$status $(body .renewed_by)"

done_testing
