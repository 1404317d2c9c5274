#!/usr/bin/env bash
# The device authentication decision over HTTP (POST /api/v1/device-auth), with real chains
# made by openssl: auto registration, known devices recognised again, a CA never added, auto
# registration off, a registered device kept after auto registration is turned off, disabled
# and deleted trusted certificates, blocked devices, a CN with '#', another tenant's user name;
# devices listed, decisions counted in /metrics and logged (filtered, each tenant its own, those
# naming no tenant for the installation's admins).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")

ca() { # NAME: a root CA (with the key usage a careful CA writes)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "/CN=$1" -days 30 \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem" 2>/dev/null
}
sub_ca() { # NAME PARENT
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 20 -extfile ca.ext -out "$1.pem" 2>/dev/null
}
device() { # FILE CN ISSUER [EXTENSION]: a client certificate and its chain (leaf then issuer) in FILE
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n%s\n' "${4:-}" > leaf.ext
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 10 -extfile leaf.ext -out "$1.leaf" 2>/dev/null
    cat "$1.leaf" "$3.pem" > "$1.pem"
}
decide() { # CHAIN_FILE [USERNAME]: the result and reason
    api POST /api/v1/device-auth "$(jq -n --arg c "$(cat "$1")" --arg u "${2:-}" '{chain:$c} + (if $u == "" then {} else {username:$u} end)')"
    echo "$(body .result) $(body .reason)"
}
trust() { # FILE AUTO_REGISTRATION: prints the id
    api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat "$1")" --argjson a "$2" '{certificate:$c, auto_registration:$a}')"
    [ "$status" = 201 ] || fail "trusting $1: $status $(cat "$T/body")"
    body .id
}

ca fleet; sub_ca fleet-issuing fleet
ca manual; ca stranger
fleet_id=$(trust fleet.pem true)
manual_id=$(trust manual.pem false)
device d1 sensor-1 fleet-issuing
device d2 sensor-2 manual
device d3 sensor-3 stranger
device d4 'sensor#4' fleet-issuing
device d5 sensor-5 fleet-issuing

check_eq "trusted, enabled, auto registration: a new device is let in" "allow auto_registered" "$(decide d1.pem default/sensor-1)"
api GET /api/v1/devices
check_eq "and appears in the devices" "sensor-1 active $fleet_id" \
    "$(body '.items[0] | .device_id + " " + .status + " " + .trusted_certificate_id')"
check_eq "seen again: recognised" "allow known_device" "$(decide d1.pem default/sensor-1)"
check_eq "recognised without a user name" "allow known_device" "$(decide d1.pem)"
check_eq "a CA never added: refused" "deny untrusted" "$(decide d3.pem default/sensor-3)"
check_eq "auto registration off, unknown device: refused" "deny unknown_device" "$(decide d2.pem default/sensor-2)"
check_eq "a CN with '#': refused" "deny bad_device_id" "$(decide d4.pem default/sensor#4)"
check_eq "a user name whose device is not the CN: refused" "deny username_mismatch" "$(decide d5.pem default/someone-else)"
check_eq "an unknown tenant: refused" "deny unknown_tenant" "$(decide d5.pem nowhere/sensor-5)"
check_eq "a leaf without its intermediate: refused" "deny untrusted" "$(decide d5.leaf default/sensor-5)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout loose.key -subj "/CN=loose" -days 30 \
    -out loose.pem 2>/dev/null
loose_id=$(trust loose.pem false)
device d6 sensor-6 loose
# (what `openssl req -x509` makes: no Key Usage, which RFC 5280 6.1.4 (n) checks only when there;
# refused as a device not registered, the chain verified, as its trusted certificate registers none)
check_eq "a CA without key usage, as openssl req -x509 makes one: its device's chain verifies" "deny unknown_device" \
    "$(decide d6.pem default/sensor-6)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout nosign.key -subj "/CN=nosign" -days 30 \
    -addext "keyUsage=critical,digitalSignature" -out nosign.pem 2>/dev/null
trust nosign.pem false >/dev/null
device nosign-device sensor-nosign nosign
check_eq "a CA whose key usage leaves out keyCertSign does not authenticate" "deny untrusted" \
    "$(decide nosign-device.pem default/sensor-nosign)"
check_contains "and the reason says why" "$(body .message)" "issuer is not a CA (certificate \"CN=nosign\" at depth 1)"
# (of the CA without auto registration: verified, then refused as unknown, so no device more)
device noaki sensor-noaki manual authorityKeyIdentifier=none
# (a here-string: grep -q leaving at a match would make openssl's later writes a SIGPIPE, and
# the pipeline, failing under pipefail, would let the certificate that has one pass)
grep -q 'Authority Key Identifier' <<<"$(openssl x509 -in noaki.leaf -noout -text)" && fail "noaki has an Authority Key Identifier"
check_eq "a device certificate without an Authority Key Identifier: its issuer found by name" \
    "deny unknown_device" "$(decide noaki.pem default/sensor-noaki)"

api PATCH "/api/v1/trusted-certificates/$fleet_id" '{"auto_registration":false}'
check_eq "auto registration turned off later: a registered device still gets in" "allow known_device" "$(decide d1.pem default/sensor-1)"
check_eq "but a new one does not" "deny unknown_device" "$(decide d5.pem default/sensor-5)"

# Another tenant, with its own admin, trusting nothing: tenant A's device is refused there.
"$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" tenant create other >/dev/null
check_eq "tenant A's device under tenant B's user name: refused" "deny untrusted" "$(decide d1.pem other/sensor-1)"
other=$("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" token create --tenant other --role operator)
check_eq "a tenant's token decides within its tenant only" "deny untrusted" "$(TOKEN=$other decide d1.pem sensor-1)"
TOKEN=$other api POST /api/v1/device-auth "$(jq -n --arg c "$(cat d1.pem)" '{chain:$c, username:"default/sensor-1"}')"
check_eq "and may not name another tenant" 403 "$status"
TOKEN=$other api GET /api/v1/devices
check_eq "tenant B sees none of A's devices" 0 "$(body '.items | length')"

# Devices listed by the trusted certificate they registered through, by status, a page at a time.
ca second
second_id=$(trust second.pem true)
device d7 sensor-7 second
check_eq "a device of a second trusted certificate" "allow auto_registered" "$(decide d7.pem default/sensor-7)"
api GET "/api/v1/devices?trusted_id=$fleet_id"
check_eq "devices of one trusted certificate" "sensor-1" "$(body '[.items[].device_id] | join(",")')"
api GET "/api/v1/devices?trusted_id=$second_id"
check_eq "and of the other" "sensor-7" "$(body '[.items[].device_id] | join(",")')"
api GET "/api/v1/devices?limit=1"
cursor=$(body .next_cursor)
check_eq "a page of one device, then the next" "sensor-1" "$(body '.items[0].device_id')"
api GET "/api/v1/devices?limit=1&cursor=$cursor"
check_eq "the second page" "sensor-7 null" "$(body '.items[0].device_id + " " + (.next_cursor | tostring)')"
api GET "/api/v1/devices?status=asleep"
check_eq "an unknown status: 400 naming the accepted ones" "400 status must be active or blocked" "$status $(body .error.message)"

dev_id=$(api GET /api/v1/devices >/dev/null; body '.items[0].id')
api PATCH "/api/v1/devices/$dev_id" '{"status":"blocked"}'
check_eq "a device is blocked" "200 blocked" "$status $(body .status)"
api GET "/api/v1/devices?status=blocked"
check_eq "blocked devices listed apart" "sensor-1" "$(body '[.items[].device_id] | join(",")')"
check_eq "a blocked device is refused" "deny device_blocked" "$(decide d1.pem default/sensor-1)"
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
check_contains "the CLI lists devices" "$(remote device list)" "sensor-1"
check_eq "the CLI lists the blocked ones" "sensor-1" "$(remote device list --status blocked | awk 'NR > 1 {print $2}')"
check_eq "and those of one trusted certificate" "sensor-7" "$(remote device list --trusted-id "$second_id" | awk 'NR > 1 {print $2}')"
check_contains "device get shows it blocked" "$(remote device get "$dev_id")" "blocked"
check_contains "and unblocks one" "$(remote device unblock "$dev_id")" "active"
check_eq "let in again once unblocked" "allow known_device" "$(decide d1.pem default/sensor-1)"
remote device block "$dev_id" >/dev/null
check_eq "blocked from the CLI" "deny device_blocked" "$(decide d1.pem default/sensor-1)"
remote device unblock "$dev_id" >/dev/null

# A tenant that asks for proofs of possession: unverified trusted certificates stop counting.
api PATCH /api/v1/settings '{"unverified_trusted_certificates_authenticate":false}'
check_eq "the tenant asks for proofs of possession" "200 false" "$status $(body .unverified_trusted_certificates_authenticate)"
check_eq "a known device under an unverified trusted certificate: refused" "deny anchor_unverified" "$(decide d1.pem default/sensor-1)"
api PATCH /api/v1/settings '{"colour":true}'
check_eq "an unknown setting: 400" "400 colour" "$status $(body .error.field)"
api PATCH /api/v1/settings '{"unverified_trusted_certificates_authenticate":true}'
check_eq "back to the default: let in" "allow known_device" "$(decide d1.pem default/sensor-1)"

api PATCH "/api/v1/trusted-certificates/$fleet_id" '{"status":"disabled"}'
check_eq "its trusted certificate disabled: refused" "deny anchor_disabled" "$(decide d1.pem default/sensor-1)"
check_eq "a new device under a disabled one: refused" "deny anchor_disabled" "$(decide d5.pem default/sensor-5)"
api PATCH "/api/v1/trusted-certificates/$fleet_id" '{"status":"enabled"}'
check_eq "enabled again: let in" "allow known_device" "$(decide d1.pem default/sensor-1)"
api DELETE "/api/v1/trusted-certificates/$fleet_id"
check_eq "its trusted certificate deleted: refused" "deny anchor_deleted" "$(decide d1.pem default/sensor-1)"

api GET /metrics
check_contains "decisions are counted in /metrics" "$(cat "$T/body")" 'certhub_device_decisions_total{reason="auto_registered",result="allow"} 2'
api GET /api/v1/device-decisions
check_eq "and logged, newest first" "deny anchor_deleted sensor-1" "$(body '.items[0] | .result + " " + .reason + " " + .device_id')"
# A page at a time like every list, each page going on where the one before ended even when
# decisions came between (the cursor is a place in the log, not a count).
api GET "/api/v1/device-decisions?limit=1000"
all=$(body '[.items[].device_id] | join(" ")')
third=$(body '.items[2] | .reason + ":" + .device_id')
check_eq "every decision in one page of 1000" "true null" "$(body '.items | length > 5') $(body .next_cursor)"
# (words compared: a decision without a device id is an empty word in both)
check_eq "in pages of 2, each once and in order" "$(echo $all)" "$(walk_pages /api/v1/device-decisions 2 device_id)"
api GET "/api/v1/device-decisions?limit=2"
cursor=$(body .next_cursor)
decide d2.pem default/sensor-2 >/dev/null
api GET "/api/v1/device-decisions?limit=1&cursor=$cursor"
check_eq "a decision made meanwhile does not shift the next page" "$third" "$(body '.items[0] | .reason + ":" + .device_id')"
for cursor in 17 d-5 d+5 d; do
    api GET "/api/v1/device-decisions?cursor=$cursor"
    check_eq "a cursor not made here ($cursor): 400" "400 cursor" "$status $(body .error.field)"
done
out=$(remote device decisions --limit 2)
check_eq "certhub device decisions: a heading and the newest two" "at result reason device_id message|2" \
    "$(echo "$out" | head -1 | tr -s ' ' | sed 's/ $//')|$(echo "$out" | tail -n +2 | wc -l)"
api GET "/api/v1/device-decisions?limit=1"
check_eq "newest first, with the result and reason" "$(body '.items[0] | .result + " " + .reason')" \
    "$(echo "$out" | sed -n 2p | awk '{ print $2, $3 }')"
check_eq "--all: every one" "$(api GET "/api/v1/device-decisions?limit=1000"; body '.items | length')" \
    "$(remote device decisions --all --output json | jq '.items | length')"
api GET "/api/v1/device-decisions?device_id=sensor-2&limit=1000"
check_eq "device_id: that device's decisions only" "sensor-2" "$(body '[.items[].device_id] | unique | join(" ")')"
api GET "/api/v1/device-decisions?result=allow&limit=1000"
check_eq "result=allow: those let in only" "allow" "$(body '[.items[].result] | unique | join(" ")')"
api GET "/api/v1/device-decisions?result=deny&device_id=sensor-1&limit=1"
check_eq "both: sensor-1's newest refusal" "deny anchor_deleted sensor-1" "$(body '.items[0] | .result + " " + .reason + " " + .device_id')"
# Those that named no tenant (a tenant not there) are kept apart, for the installation's admins.
check_eq "a decision naming no tenant is not in the tenant's log" 0 \
    "$(api GET "/api/v1/device-decisions?limit=1000"; body '[.items[] | select(.reason == "unknown_tenant")] | length')"
api GET "/api/v1/device-decisions?unattributed=true&limit=1000"
check_eq "but in the installation's, with unattributed=true" "200 deny unknown_tenant sensor-5" \
    "$status $(body '.items[0] | .result + " " + .reason + " " + .device_id')"
check_eq "and nothing of a tenant there" 0 "$(body '[.items[] | select(.reason != "unknown_tenant")] | length')"
TOKEN=$other api GET "/api/v1/device-decisions?unattributed=true"
check_eq "another tenant's token may not read them: 403" "403 unattributed" "$status $(body .error.field)"
api GET "/api/v1/device-decisions?unattributed=yes"
check_eq "unattributed other than true or false: 400" "400 unattributed" "$status $(body .error.field)"
api GET "/api/v1/device-decisions?unattributed=true&tenant=default"
check_eq "unattributed=true with a tenant: 400 (one would be dropped)" "400 unattributed" "$status $(body .error.field)"
check_eq "certhub device decisions --unattributed" "deny unknown_tenant" \
    "$(remote device decisions --unattributed | awk 'NR == 2 {print $2, $3}')"
expect_usage "--unattributed with --tenant: a usage error" "not both" -- \
    remote device decisions --unattributed --tenant other
api GET "/api/v1/device-decisions?result=maybe"
check_eq "a result other than allow or deny: 400" "400 result" "$status $(body .error.field)"
check_eq "certhub device decisions --device --result" "deny sensor-2" \
    "$(remote device decisions --device sensor-2 --result deny --output json | jq -r '[.items[] | .result + " " + .device_id] | unique | join(",")')"
api POST /api/v1/device-auth '{"chain":"not a certificate"}'
check_eq "a chain that is not a certificate: a refusal, not an error" "200 deny bad_certificate" "$status $(body .result) $(body .reason)"
openssl x509 -in d1.pem -out d1-alone.pem
for i in $(seq 1 17); do cat d1-alone.pem; done > long-chain.pem
decide long-chain.pem default/sensor-1 >/dev/null
check_eq "a chain longer than 16: refused, saying so" \
    "deny bad_certificate the client certificate chain holds 17 certificates, more than the 16 a chain may hold here" \
    "$(body '.result + " " + .reason + " " + .message')"
api POST /api/v1/device-auth '{"username":"x"}'
check_eq "no chain: 400" "400 chain" "$status $(body .error.field)"
api POST /api/v1/device-auth "$(jq -n --arg c "$(cat d1.pem)" '{chain:$c, certificate:"not read"}')"
check_eq "chain and certificate (another name for it) both: 400" "400 certificate" "$status $(body .error.field)"

# A revoked tenant lets no device in, named or known by its certificate alone; restored, it does.
api POST /api/v1/tenants '{"name":"lab"}'
api POST /api/v1/tokens '{"tenant":"lab","role":"admin"}'
lab=$(body .token)
ca labca
device l1 lab-1 labca
TOKEN=$lab trust labca.pem true >/dev/null
check_eq "a device of tenant lab is let in" "allow auto_registered" "$(decide l1.pem lab/lab-1)"
api DELETE /api/v1/tenants/lab
check_eq "tenant lab revoked" 200 "$status"
check_eq "the answer is the tenant, by its id" "ten_ lab revoked" "$(body '(.id | .[0:4]) + " " + .name + " " + .status')"
check_eq "revoked: its device is refused by name, the tenant said to be revoked" "deny tenant_revoked" "$(decide l1.pem lab/lab-1)"
check_eq "and by its certificate alone" "deny tenant_revoked" "$(decide l1.pem)"
api PATCH /api/v1/tenants/lab '{"status":"active"}'
check_eq "tenant lab restored" "200 lab active" "$status $(body '.name + " " + .status')"
check_eq "restored: its device is let in again" "allow known_device" "$(decide l1.pem lab/lab-1)"

# Each tenant reads its own decisions, kept apart: a tenant whose devices ask often pushes out
# only its own, and its places in the log (the cursor) count its own decisions only.
api GET "/api/v1/device-decisions?limit=1000"
default_log=$(body '[.items[] | .at + .device_id + .reason] | join(" ")')
api POST /api/v1/tokens '{"tenant":"lab","role":"viewer"}' # (its tokens went with the revocation)
lab=$(body .token)
TOKEN=$lab api GET "/api/v1/device-decisions?limit=1000"
check_eq "tenant lab reads its own decisions only" "lab-1 lab-1 lab-1" "$(body '[.items[].device_id] | join(" ")')"
# (refused by name while revoked, the device was known to no tenant: counted, not logged)
check_eq "newest first: restored, refused while revoked, registered" "known_device tenant_revoked auto_registered" \
    "$(body '[.items[].reason] | join(" ")')"
TOKEN=$lab api GET "/api/v1/device-decisions?limit=1"
check_eq "its places count its own decisions" "d3" "$(body .next_cursor)"
# 1030 refusals for tenant lab on one connection (curl sends the body to each URL).
lab_chain=$(jq -n --arg c "$(cat d3.pem)" '{chain:$c, username:"lab/sensor-3"}')
api POST /api/v1/tokens '{"tenant":"lab","role":"operator"}' # (a broker's: a decision registers devices)
lab_broker=$(body .token)
urls=()
for i in $(seq 1030); do urls+=("https://localhost:$port/api/v1/device-auth"); done
curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $lab_broker" -H "Content-Type: application/json" \
    --data "$lab_chain" "${urls[@]}" > "$T/flood"
check_eq "1030 decisions for lab" 1030 "$(grep -o '"result"' "$T/flood" | wc -l)"
TOKEN=$lab api GET "/api/v1/device-decisions?limit=1000"
check_eq "lab keeps its last 1024" "1000 sensor-3" "$(body '.items | length') $(body '.items[0].device_id')"
TOKEN=$lab api GET "/api/v1/device-decisions?limit=1000&cursor=$(body .next_cursor)"
check_eq "the rest of lab's 1024 on the next page" "24 null" "$(body '.items | length') $(body .next_cursor)"
api GET "/api/v1/device-decisions?limit=1000"
check_eq "the default tenant's decisions are all still there" "$default_log" "$(body '[.items[] | .at + .device_id + .reason] | join(" ")')"

# A new device connecting many times at once (a reconnect storm): each connection let in, the
# device registered once (a registration that lost the race was refused with the store's
# words about a unique constraint).
ca storm
trust storm.pem true >/dev/null
urls=()
for i in $(seq 30); do urls+=("https://localhost:$port/api/v1/device-auth"); done
for k in 1 2 3 4 5; do
    device "s$k" "storm-$k" storm
    jq -n --arg c "$(cat "s$k.pem")" --arg u "default/storm-$k" '{chain:$c, username:$u}' > "s$k.json"
done
storms=()
for k in 1 2 3 4 5; do
    curl -s --parallel --parallel-max 30 --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" \
        -H "Content-Type: application/json" --data "@s$k.json" "${urls[@]}" > "$T/storm$k" &
    storms+=($!)
done
wait "${storms[@]}"
check_eq "5 new devices connecting 30 times each at once: all let in" "150 0" \
    "$(cat "$T"/storm? | grep -o '"result":"allow"' | wc -l) $(cat "$T"/storm? | grep -c 'UNIQUE' || true)"
api GET "/api/v1/devices?limit=1000"
check_eq "and each registered once" 5 "$(body '[.items[] | select(.device_id | startswith("storm-"))] | length')"

# The devices a page at a time.
ca pool
pool_id=$(trust pool.pem true)
for i in 1 2 3 4 5 6 7; do
    device "p$i" "pooled-$i" pool
    [ "$(decide "p$i.pem" "default/pooled-$i")" = "allow auto_registered" ] || fail "pooled-$i not registered"
done
api GET "/api/v1/devices?limit=1000"
all=$(body '[.items[].id] | join(" ")')
check_eq "devices: every one in a single page when it fits" "null" "$(body .next_cursor)"
check_eq "devices in pages of 3 (cursor after cursor): each once, in the same order" "$all" "$(walk_pages /api/v1/devices 3)"
api GET /api/v1/devices?limit=2
check_eq "a page of 2 says there is more" "2 true" "$(body '.items | length') $(body '.next_cursor != null')"
api GET "/api/v1/devices?limit=0"
check_eq "limit 0: 400" "400 limit" "$status $(body .error.field)"
api GET "/api/v1/devices?limit=ten"
check_eq "limit not a number: 400" "400 limit" "$status $(body .error.field)"
api GET "/api/v1/devices?cursor=nonsense"
check_eq "a cursor that is not one: 400" "400 cursor" "$status $(body .error.field)"

# The trusted certificate a device registered with, deleted and added again: the device is
# verified again against it, not locked out for good.
check_eq "sensor-1's trusted certificate is gone: refused" "deny anchor_deleted" "$(decide d1.pem default/sensor-1)"
fleet_again=$(trust fleet.pem true)
check_eq "added again: sensor-1 is verified again and let in" "allow known_device" "$(decide d1.pem default/sensor-1)"
api GET "/api/v1/devices?limit=1000"
check_eq "under the trusted certificate there now" "$fleet_again" \
    "$(body '.items[] | select(.device_id == "sensor-1") | .trusted_certificate_id')"
check_eq "recognised by its certificate alone after that" "allow known_device" "$(decide d1.pem)"
# A user name holding the device alone (no tenant of that name): the device, found by its
# certificate.
check_eq "a user name of the device alone" "allow known_device" "$(decide d1.pem sensor-1)"
check_eq "another device's name alone: refused" "deny username_mismatch" "$(decide d1.pem sensor-2)"
# Cumulocity's rule: a disabled trusted certificate lets in none of the devices it signed, even
# when the root above it is trusted and enabled; enabled again, they are let in.
issuing_id=$(trust fleet-issuing.pem true)
api PATCH "/api/v1/trusted-certificates/$issuing_id" '{"status":"disabled"}'
check_eq "its issuing CA trusted and disabled: sensor-1 (registered under the root) refused" "deny anchor_disabled" \
    "$(decide d1.pem default/sensor-1)"
check_eq "by its certificate alone too" "deny anchor_disabled" "$(decide d1.pem)"
check_eq "a new device it signed: refused, though the root verifies it" "deny anchor_disabled" \
    "$(decide d5.pem default/sensor-5)"
check_eq "a device of another CA is not touched" "allow known_device" "$(decide p1.pem default/pooled-1)"
api PATCH "/api/v1/trusted-certificates/$issuing_id" '{"status":"enabled"}'
check_eq "enabled again: sensor-1 let in" "allow known_device" "$(decide d1.pem default/sensor-1)"

# No tenant in the user name, a device not seen before: the tenant whose trusted certificates
# verify it (tenant lab trusts another CA).
device d8 sensor-8 fleet-issuing
device d9 sensor-9 fleet-issuing
check_eq "a new device without a user name: registered in the tenant that trusts it" "allow auto_registered" \
    "$(decide d8.pem)"
check_eq "with its device id alone as user name too" "allow auto_registered" "$(decide d9.pem sensor-9)"
check_eq "a CA no tenant trusts, without a user name: refused" "deny untrusted" "$(decide d3.pem)"
check_contains "saying which issuer to add" "$(body .message)" 'no tenant trusts its issuer "CN=stranger" or has it in an issuer list (certhub trusted add FILE'
check_eq "named by its tenant: the same, the tenant said" "deny untrusted" "$(decide d3.pem default/sensor-3)"
check_contains "(its message)" "$(body .message)" 'tenant default does not trust its issuer "CN=stranger" nor has it in its issuer list'
# A certificate out of its time is said to be so, whichever tenants might trust its CA (with
# several it was "no tenant's trusted certificates verify it").
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout old.key -subj "/CN=sensor-old" -out old.csr 2>/dev/null
faked '@2020-01-01 00:00:00' openssl x509 -req -in old.csr -CA fleet-issuing.pem -CAkey fleet-issuing.key \
    -CAcreateserial -days 2 -extfile leaf.ext -out old.leaf 2>/dev/null
cat old.leaf fleet-issuing.pem > old.pem
check_eq "an expired device certificate: refused as expired" "deny certificate_expired" "$(decide old.pem)"
# (to the second the faked clock had reached: under load openssl may start a second late)
check_contains "saying when it ended" "$(body .message)" "the device's certificate has expired (at 2020-01-03T00:00:0"
faked '@2030-01-01 00:00:00' openssl x509 -req -in old.csr -CA fleet-issuing.pem -CAkey fleet-issuing.key \
    -CAcreateserial -days 2 -extfile leaf.ext -out later.leaf 2>/dev/null
cat later.leaf fleet-issuing.pem > later.pem
check_eq "one not valid yet: its own reason" "deny certificate_not_yet_valid" "$(decide later.pem)"
check_contains "saying from when" "$(body .message)" "the device's certificate is not valid before 2030-01-01T00:00:0"
# A trusted certificate without auto registration: a device registered by hand before it
# connects is let in at its first connection, its certificate bound then; others stay out.
device m1 meter-1 manual
device m2 meter-2 manual
check_eq "not registered, auto registration off: refused" "deny unknown_device" "$(decide m1.pem default/meter-1)"
api POST /api/v1/devices '{"device_id":"meter-1"}'
check_eq "registered by hand: 201, no certificate yet" "201 meter-1 null null" \
    "$status $(body .device_id) $(body .certificate_sha256) $(body .last_seen)"
api POST /api/v1/devices '{"device_id":"meter-1"}'
check_eq "registered twice: 409" "409 device_id" "$status $(body .error.field)"
api POST /api/v1/devices '{"device_id":"a/b"}'
check_eq "an id that is no CN: 400" "400 device_id" "$status $(body .error.field)"
# One with the form of certhub's own ids would be found in place of the device that has that
# id (blocking it blocked the other); spaces at its ends were listed and never found.
api POST /api/v1/devices "$(jq -n --arg d "dev_$(printf '%024x' 7)" '{device_id:$d}')"
check_eq "an id of the form of certhub's device ids: 400 saying so" "400 true" \
    "$status $(body '.error.message | contains("dev_ and 24 hex digits")')"
api POST /api/v1/devices '{"device_id":" meter-1 "}'
check_eq "spaces at its ends: 400" "400 device_id" "$status $(body .error.field)"
api POST /api/v1/devices '{"device_id":"dev_meter"}'
check_eq "an id beginning dev_ otherwise: taken" 201 "$status"
remote device block dev_meter >/dev/null
api GET /api/v1/devices/dev_meter
check_eq "and found by it" "200 dev_meter blocked" "$status $(body .device_id) $(body .status)"
api DELETE /api/v1/devices/dev_meter
check_eq "and deleted by it" 200 "$status"
check_eq "its first connection: let in" "allow known_device" "$(decide m1.pem default/meter-1)"
api GET "/api/v1/devices?limit=1000"
check_eq "its certificate and trusted certificate bound then" \
    "$(openssl x509 -in m1.leaf -outform DER | sha256sum | cut -d' ' -f1) $manual_id" \
    "$(body '.items[] | select(.device_id == "meter-1") | .certificate_sha256 + " " + .trusted_certificate_id')"
check_eq "then known by its certificate alone" "allow known_device" "$(decide m1.pem)"
m1_sha=$(openssl x509 -in m1.leaf -outform DER | sha256sum | cut -d' ' -f1)
meter1=$(api GET /api/v1/devices/meter-1 >/dev/null; body .id)
api GET "/api/v1/audit?action=device.certificate&object_id=$meter1"
check_eq "the certificate it is known by, audited (none before)" "1 $m1_sha null $manual_id" \
    "$(body '[(.items | length), .items[0].detail.certificate_sha256, (.items[0].detail.previous_sha256 | tostring), .items[0].detail.trusted_certificate_id] | join(" ")')"
# A new certificate of the same device from a trusted CA (its renewal): taken, and audited
# with the one it replaces (who may connect as the device changed, and nothing said so).
device m1b meter-1 manual
openssl x509 -req -in m1b.csr -CA manual.pem -CAkey manual.key -CAcreateserial -days 20 -extfile leaf.ext \
    -out m1b.leaf 2>/dev/null # (ending later than m1's, whatever second each was made in)
cat m1b.leaf manual.pem > m1b.pem
check_eq "the device with a new certificate" "allow known_device_new_certificate" "$(decide m1b.pem default/meter-1)"
api GET "/api/v1/audit?action=device.certificate&object_id=$meter1&order=desc&limit=1"
check_eq "audited with the certificate before" \
    "$(openssl x509 -in m1b.leaf -outform DER | sha256sum | cut -d' ' -f1) $m1_sha" \
    "$(body '.items[0].detail.certificate_sha256 + " " + .items[0].detail.previous_sha256')"
check_eq "the certificate it replaced, ending sooner, is refused (each took the device back in turn)" \
    "deny certificate_superseded" "$(decide m1.pem default/meter-1)"
check_eq "the new one goes on" "allow known_device" "$(decide m1b.pem)"
check_eq "another device of that CA, not registered: still refused" "deny unknown_device" "$(decide m2.pem default/meter-2)"
check_contains "certhub device add" "$(remote device add meter-2)" "dev_"
check_eq "and then let in at its first connection, without a user name (tenant lab trusts other CAs)" \
    "allow known_device" "$(decide m2.pem)"
# Two tenants trusting the same CA: a new device must name its tenant.
api POST /api/v1/tokens '{"tenant":"lab","role":"admin"}'
TOKEN=$(body .token) trust pool.pem true >/dev/null
device p8 pooled-8 pool
check_eq "a CA two tenants trust, a new device without a user name: refused" "deny unknown_device" "$(decide p8.pem)"
check_contains "the tenant asked for" "$(body .message)" "several tenants"
check_eq "named: let in" "allow auto_registered" "$(decide p8.pem default/pooled-8)"
# The tenant that proved it holds the CA's key wins over one that only added its certificate
# (a CA certificate is public: anyone can add one).
api POST "/api/v1/trusted-certificates/$pool_id/verification-code"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pop.key -subj "/CN=$(body .verification_code)" \
    -out pop.csr 2>/dev/null
openssl x509 -req -in pop.csr -CA pool.pem -CAkey pool.key -CAcreateserial -days 1 -out pop.pem 2>/dev/null
api POST "/api/v1/trusted-certificates/$pool_id/verify" "$(jq -n --arg c "$(cat pop.pem)" '{certificate:$c}')"
check_eq "default proves it holds the pool CA's key" "200 true" "$status $(body '.verified|tostring')"
device p9 pooled-9 pool
default_id=$(api GET /api/v1/tenants/default >/dev/null; body .id)
check_eq "then a new device without a user name goes to the tenant with the proof" "allow auto_registered $default_id" \
    "$(decide p9.pem) $(body .tenant_id)"
# A device certificate is public: a tenant that adds another's device CA without a proof of
# possession and asks a decision naming itself does not take the device in (it was then bound
# in both, and refused by its certificate alone in the tenant it belonged to).
device f9 fleet-9 fleet-issuing
check_eq "a device of default's fleet CA" "allow auto_registered" "$(decide f9.pem default/fleet-9)"
api POST /api/v1/tokens '{"tenant":"lab","role":"admin"}'
lab_admin=$(body .token)
lab_fleet=$(TOKEN=$lab_admin trust fleet.pem true)
check_eq "lab, which added that CA with no proof, asking for it: refused" "deny certificate_of_another_tenant" \
    "$(decide f9.pem lab/fleet-9)"
check_contains "saying what would take it" "$(body .message)" "proof of possession"
check_eq "the device still known in default by its certificate alone" "allow known_device $default_id" \
    "$(decide f9.pem) $(body .tenant_id)"
TOKEN=$lab_admin api GET /api/v1/devices/fleet-9
check_eq "and not registered in lab" 404 "$status"
TOKEN=$lab_admin api DELETE "/api/v1/trusted-certificates/$lab_fleet"
check_eq "a user name naming another device: refused" "deny username_mismatch" "$(decide f9.pem default/not-fleet)"
check_contains "naming both" "$(body .message)" "the user name's device (not-fleet) is not the certificate's CN (fleet-9)"
# A decision registers devices: not for a viewer.
api POST /api/v1/tokens '{"role":"viewer"}'
TOKEN=$(body .token) api POST /api/v1/device-auth "$(jq -n --arg c "$(cat p9.pem)" '{chain:$c}')"
check_eq "a viewer's token may not ask for a decision" 403 "$status"
# A device named by its device id (as the broker's log and device add name it), not only by
# its dev_ id.
remote device block meter-2 >/dev/null
check_eq "blocked by its device id" "deny device_blocked" "$(decide m2.pem default/meter-2)"
remote device unblock meter-2 >/dev/null
api GET /api/v1/devices/no-such-meter
check_eq "a device id no device has: 404 saying what it takes" "404 true" \
    "$status $(body '.error.message | contains("neither a device")')"

# The issuer list (OPC UA's, Azure IoT Operations' "Issuer list"): CA certificates that help
# build a chain up to the trust list and authenticate nothing themselves.  A broker hands over
# the device's certificate alone; an outside intermediate in the issuer list completes it.
ca orgroot; sub_ca orgsub orgroot
device o1 plant-1 orgsub
device o2 plant-2 orgsub
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat orgsub.pem)" '{certificate:$c, list:"issuer"}')"
check_eq "an intermediate into the issuer list: 201, the list said" "201 issuer false" \
    "$status $(body .list) $(body .auto_registration)"
orgsub_id=$(body .id)
check_eq "the issuer list alone authenticates nothing" "deny untrusted" "$(decide o1.leaf default/plant-1)"
orgroot_id=$(trust orgroot.pem true)
check_eq "its root trusted: the device's certificate alone is let in, the chain built with the issuer list" \
    "allow auto_registered" "$(decide o1.leaf default/plant-1)"
check_eq "registered under the root of the trust list" "$orgroot_id" \
    "$(api GET "/api/v1/devices?trusted_id=$orgroot_id"; body '.items[0].trusted_certificate_id')"
check_eq "the broker's CA directory holds the issuer list's intermediate (to build chains; not an anchor)" "1" \
    "$(grep -l "$(sed -n 2p orgsub.pem)" "$data"/trust/mqtt/* 2>/dev/null | wc -l)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ilroot.key -subj /CN=ilroot -days 30 \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ilroot.pem 2>/dev/null
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat ilroot.pem)" '{certificate:$c, list:"issuer"}')"
ilroot_id=$(body .id)
check_eq "and no root of the issuer list (it would be an anchor)" "0" \
    "$(grep -l "$(sed -n 2p ilroot.pem)" "$data"/trust/mqtt/* 2>/dev/null | wc -l)"
api DELETE "/api/v1/trusted-certificates/$ilroot_id"
api GET "/api/v1/trusted-certificates?list=issuer"
check_eq "listed by list: the issuer list" "$orgsub_id" "$(body '[.items[].id] | join(" ")')"
api GET "/api/v1/trusted-certificates?list=trust&limit=1000"
check_eq "and the trust list without it" "false" "$(body "[.items[].id] | index(\"$orgsub_id\") != null")"
api GET "/api/v1/trusted-certificates?list=chains"
check_eq "a list that is neither: 400" "400 list" "$status $(body .error.field)"
check_contains "certhub trusted list --list issuer" "$(remote trusted list --list issuer)" "$orgsub_id"
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat stranger.pem)" '{certificate:$c, list:"issuer", auto_registration:true}')"
check_eq "auto registration in the issuer list: 400" "400 auto_registration" "$status $(body .error.field)"
api PATCH "/api/v1/trusted-certificates/$orgsub_id" '{"status":"disabled"}'
check_eq "an issuer of the list disabled: the devices it signed are refused" "deny anchor_disabled" \
    "$(decide o1.leaf default/plant-1)"
check_eq "a new one too" "deny anchor_disabled" "$(decide o2.leaf default/plant-2)"
api PATCH "/api/v1/trusted-certificates/$orgsub_id" '{"status":"enabled"}'
check_eq "enabled again: let in" "allow known_device" "$(decide o1.leaf default/plant-1)"
api PATCH "/api/v1/trusted-certificates/$orgroot_id" '{"list":"issuer"}'
check_eq "the root moved to the issuer list: its auto registration goes" "200 issuer false" \
    "$status $(body .list) $(body .auto_registration)"
check_eq "and its devices are refused" "deny anchor_deleted" "$(decide o1.leaf default/plant-1)"
out=$(remote trusted update "$orgroot_id" --list trust --auto-registration on)
check_contains "moved back with the CLI" "$out" "trust list"
check_eq "let in again" "allow known_device" "$(decide o1.leaf default/plant-1)"

# A root and its intermediate both trusted, in a tenant of their own: the root added first with
# auto registration off, the intermediate after it with it on.  The intermediate, nearest the
# device, decides (the first one added that verified the chain did); a disabled root shuts out
# the devices under its intermediate whether a device sends its chain or (as a broker hands it
# over) its certificate alone.
"$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" tenant create layered >/dev/null
lt=$("$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" token create --tenant layered --role admin)
ca lroot; sub_ca lint lroot
lroot_id=$(TOKEN=$lt trust lroot.pem false)
lint_id=$(TOKEN=$lt trust lint.pem true)
for i in 1 2 3 4; do device "l$i" "unit-$i" lint; done
check_eq "root first, intermediate with auto registration after it: its device is registered" \
    "allow auto_registered" "$(TOKEN=$lt decide l1.pem layered/unit-1)"
TOKEN=$lt api GET /api/v1/devices
check_eq "through the intermediate" "$lint_id" "$(body '.items[] | select(.device_id == "unit-1") | .trusted_certificate_id')"
check_eq "the same with the certificate alone" "allow auto_registered" "$(TOKEN=$lt decide l2.leaf layered/unit-2)"
TOKEN=$lt api PATCH "/api/v1/trusted-certificates/$lroot_id" '{"status":"disabled"}'
check_eq "the root disabled: a new device under the intermediate, its certificate alone, is refused" \
    "deny anchor_disabled" "$(TOKEN=$lt decide l3.leaf layered/unit-3)"
check_eq "with its chain too" "deny anchor_disabled" "$(TOKEN=$lt decide l3.pem layered/unit-3)"
check_eq "and a registered one, its certificate alone" "deny anchor_disabled" "$(TOKEN=$lt decide l1.leaf layered/unit-1)"
TOKEN=$lt api PATCH "/api/v1/trusted-certificates/$lroot_id" '{"status":"enabled"}'
check_eq "the root enabled again: let in" "allow known_device" "$(TOKEN=$lt decide l1.leaf layered/unit-1)"
TOKEN=$lt api PATCH "/api/v1/trusted-certificates/$lint_id" '{"status":"disabled"}'
check_eq "the intermediate disabled, the root enabled: a new device under it is refused as such" \
    "deny anchor_disabled" "$(TOKEN=$lt decide l4.leaf layered/unit-4)"
check_eq "and a registered one" "deny anchor_disabled" "$(TOKEN=$lt decide l2.leaf layered/unit-2)"
TOKEN=$lt api GET /api/v1/tenants
layered=$(body '.items[] | select(.name == "layered") | .id')
decide l4.leaf >/dev/null
check_eq "named by no user name: refused as its tenant's, the disabled intermediate said" \
    "deny anchor_disabled $layered" "$(body '.result + " " + .reason + " " + .tenant_id')"
# Every trusted certificate of the tenant disabled: it has none enabled, and is still the
# one whose decision it is (it was no tenant's: "no tenant has an enabled trusted certificate").
TOKEN=$lt api PATCH "/api/v1/trusted-certificates/$lroot_id" '{"status":"disabled"}'
decide l4.leaf >/dev/null
check_eq "all of a tenant's trusted certificates disabled: refused as that tenant's" \
    "deny anchor_disabled $layered" "$(body '.result + " " + .reason + " " + .tenant_id')"

# A client id whose session the broker keeps (clean_session false) is its device's: another
# device giving it is refused, in a clean session too; the device itself goes on with it.
api POST /api/v1/tenants '{"name":"fleet"}'
api POST /api/v1/tokens '{"tenant":"fleet","role":"admin"}'
fleet=$(body .token)
ca fleetca
device f1 unit-1 fleetca
device f2 unit-2 fleetca
TOKEN=$fleet trust fleetca.pem true >/dev/null
session() { # CHAIN_FILE USERNAME CLIENT_ID CLEAN: the result and reason
    api POST /api/v1/device-auth "$(jq -n --arg c "$(cat "$1")" --arg u "$2" --arg i "$3" --argjson k "$4" \
        '{chain:$c, username:$u, client_id:$i, clean_session:$k}')"
    echo "$(body .result) $(body .reason)"
}
check_eq "a device keeping its session under a client id: let in" "allow auto_registered" \
    "$(session f1.pem fleet/unit-1 gateway-7 false)"
TOKEN=$fleet api GET /api/v1/devices
check_eq "the client id is the device's" "gateway-7" "$(body '.items[] | select(.device_id == "unit-1") | .client_id')"
check_eq "another device giving it: refused" "deny client_id_in_use" "$(session f2.pem fleet/unit-2 gateway-7 true)"
check_contains "saying whose session it is" "$(body .message)" "the broker keeps a session of device unit-1 by this client id"
check_eq "the device itself, in a clean session: let in" "allow known_device" \
    "$(session f1.pem fleet/unit-1 gateway-7 true)"
check_eq "and the client id stays its own" "deny client_id_in_use" "$(session f2.pem fleet/unit-2 gateway-7 false)"
api POST /api/v1/device-auth "$(jq -n --arg c "$(cat f1.pem)" '{chain:$c, client_id:"x", clean_session:"no"}')"
check_eq "clean_session not a boolean: 400" "400 clean_session" "$status $(body .error.field)"
api POST /api/v1/device-auth "$(jq -n --arg c "$(cat f1.pem)" --arg i "$(head -c 65536 /dev/zero | tr '\0' x)" '{chain:$c, client_id:$i}')"
check_eq "a client id longer than MQTT's 65535 bytes: 400" "400 client_id" "$status $(body .error.field)"

done_testing
