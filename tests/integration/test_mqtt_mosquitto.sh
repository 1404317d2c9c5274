#!/usr/bin/env bash
# Device authentication with the real broker: mosquitto 2 with certhub_mosquitto.so on the
# data directory of a running certhubd, a TLS listener that requires client certificates and
# trusts DATA_DIR/trust/mqtt (kept by certhubd), devices connecting with mosquitto_pub and
# mosquitto_sub.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

plugin=${CERTHUB_MOSQUITTO_PLUGIN:-$(dirname "$CERTHUBD")/certhub_mosquitto.so}
[ -f "$plugin" ] || fail "the mosquitto plugin is not built ($plugin): scripts/deps.sh installs mosquitto-dev"
command -v mosquitto >/dev/null || fail "mosquitto is missing (scripts/deps.sh installs it)"
start_daemon
TOKEN=$(cat "$data/admin-token")
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }

# The device CAs, run by certhub: a root the tenant trusts, and an issuing CA under it.
api POST /api/v1/cas '{"name":"Devices Root","type":"root","subject":{"common_name":"Devices Root"},"key_type":"p256"}'
droot=$(body .id)
api GET "/api/v1/cas/$droot/chain"
cp "$T/body" droot.pem
api POST /api/v1/cas "{\"name\":\"Devices Issuing\",\"type\":\"intermediate\",\"parent_id\":\"$droot\",\"subject\":{\"common_name\":\"Devices Issuing\"},\"key_type\":\"p256\",\"days\":365}"
dissuing=$(body .id)
api POST /api/v1/cas '{"name":"Lab Root","type":"root","subject":{"common_name":"Lab Root"},"key_type":"p256"}'
lab=$(body .id)
api GET "/api/v1/cas/$lab/chain"
cp "$T/body" lab.pem
issue() { # NAME CN CA_ID: NAME.pem (leaf + issuing CA), NAME.key
    api POST /api/v1/certificates "$(jq -n --arg cn "$2" --arg ca "$3" '{profile:"tls-client",subject:{common_name:$cn},key_type:"p256",ca_id:$ca,days:30}')"
    [ "$status" = 201 ] || fail "issuing $2: $(cat "$T/body")"
    local id
    id=$(body .id)
    api GET "/api/v1/certificates/$id/export?format=pem"
    cp "$T/body" "$1.pem" # the certificate and its issuing chain
    api POST "/api/v1/certificates/$id/private-key"
    cp "$T/body" "$1.key"
}
issue s1 sensor-1 "$dissuing"
issue s2 sensor-2 "$dissuing"
issue s3 sensor-3 "$lab"
issue s4 'sensor#4' "$dissuing"
issue s5 sensor-5 "$dissuing"
issue s6 sensor-6 "$dissuing"
# The broker's own certificate, from the quickstart issuing CA, as docs/mosquitto.md issues it.
qissuer=$(quickstart_issuer)
remote cert issue --profile tls-server --ca-id "$qissuer" --subject CN=localhost --san dns:localhost \
    --chain --out broker.pem --key-out broker.key >issue.out 2>&1 || fail "certhub cert issue: $(cat issue.out)"

api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat droot.pem)" '{name:"Devices Root",certificate:$c,auto_registration:true}')"
check_eq "the device root is trusted, with auto registration" 201 "$status"
droot_trust=$(body .id)
check_eq "certhubd wrote it to the broker's CA directory" 1 "$(ls "$data/trust/mqtt" | wc -l)"

# The configuration docs/mosquitto.md gives (between its markers), its paths made this test's:
# what the documents say is what runs.  (A comment after a value, which mosquitto takes as part
# of the value, stopped the broker of whoever copied them.)
awk '/<!-- end mosquitto.conf -->/ {on = 0} on && !/^```/ {print} /<!-- begin mosquitto.conf -->/ {on = 1}' \
    "$CERTHUB_SOURCE_DIR/docs/mosquitto.md" > doc.conf
grep -q '^plugin ' doc.conf ||
    fail "docs/mosquitto.md holds no configuration between <!-- begin mosquitto.conf --> and <!-- end mosquitto.conf -->"
if grep -nE '^[[:space:]]*[^#[:space:]].*#' doc.conf > trailing.out; then
    fail "docs/mosquitto.md: a comment after a value, which mosquitto reads as part of the value: $(cat trailing.out)"
fi
ok "docs/mosquitto.md's configuration keeps its comments on lines of their own"
# And its ACL file, between its own markers.
awk '/<!-- end certhub.acl -->/ {on = 0} on && !/^```/ {print} /<!-- begin certhub.acl -->/ {on = 1}' \
    "$CERTHUB_SOURCE_DIR/docs/mosquitto.md" > certhub.acl
grep -q '%u' certhub.acl || fail "docs/mosquitto.md holds no ACL between <!-- begin certhub.acl --> and <!-- end certhub.acl -->"
doc_conf() { # PORT: the documents' configuration on this test's data directory, files and port
    sed -e "s|^user certhub\$|user $(id -un)|" -e "s|^listener 8883\$|listener $1 127.0.0.1|" \
        -e "s|/var/lib/certhub|$data|g" -e "s|/etc/mosquitto/certs/|$T/|g" \
        -e "s|/etc/mosquitto/certhub.acl|$T/certhub.acl|" \
        -e "s|/usr/lib/certhub/certhub_mosquitto.so|$plugin|" doc.conf
    printf 'log_dest file %s\nlog_type all\n' "$T/mosquitto.log"
}
if doc_conf 1 | grep -nE '/var/lib/certhub|/etc/mosquitto|/usr/lib/certhub|^listener 8883|^user certhub' > left.out; then
    fail "docs/mosquitto.md's configuration names what this test does not replace with its own: $(cat left.out)"
fi

# mosquitto on a free port.
mport=""
for attempt in 1 2 3 4 5; do
    try=$(free_port)
    doc_conf "$try" > mosquitto.conf
    mosquitto -c mosquitto.conf > mosquitto.out 2>&1 &
    mpid=$!
    # Listening once it says it runs: mosquitto opens its listener before that line, and exits
    # instead when it cannot (a port another test took), which a connection to the port cannot
    # tell apart (the other test's listener accepts it), nor a pause of any length.
    for i in $(seq 1 300); do
        alive "$mpid" || break
        if grep -q "mosquitto version .* running" mosquitto.log 2>/dev/null; then
            mport=$try
            break 2
        fi
        sleep 0.1
    done
    # Already gone when it could not listen: kill fails, and must not end the test (set -e).
    kill "$mpid" 2>/dev/null || true
    wait "$mpid" 2>/dev/null || true
done
[ -n "$mport" ] || fail "mosquitto did not start: $(cat mosquitto.out mosquitto.log 2>/dev/null)"
cleanup() {
    local rc=$?
    if [ -n "${subpid:-}" ]; then kill "$subpid" 2>/dev/null || true; fi
    kill "$mpid" 2>/dev/null || true
    wait "$mpid" 2>/dev/null || true
    on_exit "$rc"
}
trap cleanup EXIT
check_contains "mosquitto loaded the plugin" "$(cat mosquitto.log)" "certhub: device authentication on"

pub() { # NAME [USERNAME]: publish once as device NAME
    mosquitto_pub -h localhost -p "$mport" --cafile "$data/ca.pem" --cert "$1.pem" --key "$1.key" \
        -i "client-$1" ${2:+-u "$2"} -t "devices/$1" -m hello -q 1 2>&1
}
expect_connects() { out=$(pub "$@") || fail "device $1 could not connect: $out"; }
expect_refused() { if out=$(pub "$@"); then fail "device $1 connected but should not"; fi; }

expect_connects s1 default/sensor-1
ok "trusted, enabled, auto registration: the device connects"
api GET /api/v1/devices
check_eq "and is registered" "sensor-1" "$(body '[.items[].device_id] | join(",")')"
expect_connects s1
ok "known device, without a user name: connects"
expect_connects s6
ok "a new device without a user name: connects, registered in the tenant that trusts its CA"
api GET /api/v1/devices
check_eq "and is registered there" "sensor-1,sensor-6" "$(body '[.items[].device_id] | join(",")')"
expect_refused s3 default/sensor-3
ok "a CA never added: refused"
expect_refused s4 'default/sensor#4'
ok "a CN with '#': refused"
check_contains "the broker logs why" "$(cat mosquitto.log)" "deny"
api POST /api/v1/tenants '{"name":"beta"}'
expect_refused s2 beta/sensor-2
ok "a device of tenant default under tenant beta's user name: refused"

api PATCH "/api/v1/trusted-certificates/$droot_trust" '{"auto_registration":false}'
expect_refused s2 default/sensor-2
ok "auto registration off, unknown device: refused"
expect_connects s1 default/sensor-1
ok "registered before auto registration was turned off: still connects"

api PATCH "/api/v1/trusted-certificates/$droot_trust" '{"status":"disabled"}'
check_eq "disabled: gone from the broker's CA directory" 0 "$(ls "$data/trust/mqtt" | wc -l)"
expect_refused s1 default/sensor-1
ok "its trusted certificate disabled: refused"
api PATCH "/api/v1/trusted-certificates/$droot_trust" '{"status":"enabled","auto_registration":true}'
expect_connects s5 default/sensor-5
ok "enabled again: a new device registers"

# Deleted while connected: disconnected by the plugin, which asks again about every connected
# device once a second.  How long it took is said, not checked: a loaded machine may run the
# broker's tick late, and the reason the plugin gives shows that its tick did it.
mosquitto_sub -h localhost -p "$mport" --cafile "$data/ca.pem" --cert s1.pem --key s1.key -i client-sub \
    -u default/sensor-1 -t 'devices/#' -v > sub.out 2>&1 &
subpid=$!
for i in $(seq 1 300); do grep -q "allow sensor-1 (client-sub)" mosquitto.log && break; sleep 0.1; done
check_contains "a subscriber is connected" "$(grep 'client-sub' mosquitto.log)" "allow sensor-1"
mqtt() { # PUB|SUB NAME CLIENT_ID ARGS...: mosquitto_pub or mosquitto_sub as device NAME
    local tool=mosquitto_${1,,} name=$2 cid=$3
    shift 3
    "$tool" -h localhost -p "$mport" --cafile "$data/ca.pem" --cert "$name.pem" --key "$name.key" -i "$cid" "$@"
}
# Each device's topics its own, by the ACL of docs/mosquitto.md: the subscriber to devices/#
# gets what sensor-1 publishes under its identity, not what sensor-6 publishes under its own
# (the same would hold of another tenant's devices: the tenant is in the identity).
mqtt PUB s6 client-s6 -t devices/default/sensor-6/t -m not-for-sensor-1 -q 1 || fail "sensor-6 could not publish"
mqtt PUB s1 client-s1 -t devices/default/sensor-1/t -m for-sensor-1 -q 1 || fail "sensor-1 could not publish"
for i in $(seq 1 300); do grep -q for-sensor-1 sub.out && break; sleep 0.1; done
check_contains "a device reads its own topics" "$(cat sub.out)" "devices/default/sensor-1/t for-sensor-1"
check_eq "and not another device's (sent before)" "" "$(grep not-for-sensor-1 sub.out || true)"
# A client id another device is connected with: refused (it took the other's session and
# dropped its connection), the connected one kept.
if out=$(mqtt PUB s6 client-sub -t devices/default/sensor-6/t -m x -q 1 2>&1); then
    fail "sensor-6 connected with sensor-1's client id"
fi
check_contains "another device with a connected device's client id: refused, said why" \
    "$(grep 'client_id_in_use' mosquitto.log)" "deny sensor-6 (client-sub)"
check_eq "the connected device kept" "" "$(grep 'client-sub already connected' mosquitto.log || true)"
check_eq "said as the one decision (no allow logged before the deny)" "" "$(grep 'allow sensor-6 (client-sub)' mosquitto.log || true)"
# The same device again with its client id, its last connection not seen to end (frozen
# here): it takes over its own session, and is the connection asked about each second (the
# old one's end made the plugin forget the new one, which then stayed on once blocked).
kill -STOP "$subpid"
# (mosquitto_sub itself in the background, not the function: $! would be a subshell's, and
# killing it left the subscriber running after the test)
mosquitto_sub -h localhost -p "$mport" --cafile "$data/ca.pem" --cert s1.pem --key s1.key -i client-sub \
    -u default/sensor-1 -t 'devices/#' -v > sub2.out 2>&1 &
sub2pid=$!
for i in $(seq 1 300); do grep -q 'client-sub already connected' mosquitto.log && break; sleep 0.1; done
check_contains "the device itself takes over its client id" "$(grep 'client-sub' mosquitto.log)" \
    "client-sub already connected, closing old connection"
kill -KILL "$subpid" 2>/dev/null || true
wait "$subpid" 2>/dev/null || true
subpid=$sub2pid
# A session the broker keeps once its device has gone (no clean session) is that device's:
# sensor-5 subscribes with one and leaves, a message for it is queued; another device giving
# its client id is refused (it took the session, what was queued with it, or with a clean
# session dropped both), and sensor-5 finds the message when it comes back.
mqtt SUB s5 keep-s5 -c -q 1 -t 'devices/default/sensor-5/#' -E || fail "sensor-5 could not subscribe"
mqtt PUB s5 client-s5 -t devices/default/sensor-5/cmd -m queued-for-s5 -q 1 || fail "sensor-5 could not publish"
api GET /api/v1/devices
check_eq "the client id of the session kept is the device's" "keep-s5" \
    "$(body '.items[] | select(.device_id == "sensor-5") | .client_id')"
if out=$(mqtt SUB s6 keep-s5 -c -q 1 -t 'devices/#' -C 1 -W 3 2>&1); then
    fail "sensor-6 took sensor-5's session: $out"
fi
check_contains "another device giving it: refused, naming whose session it is" "$(grep "deny sensor-6 (keep-s5)" mosquitto.log)" \
    "client_id_in_use: the broker keeps a session of device sensor-5 by this client id"
if out=$(mqtt PUB s6 keep-s5 -t devices/default/sensor-6/t -m x -q 1 2>&1); then
    fail "sensor-6 connected with sensor-5's kept client id in a clean session (which drops the session)"
fi
ok "and with a clean session too (it would drop the session and its messages)"
out=$(mqtt SUB s5 keep-s5 -c -q 1 -t 'devices/default/sensor-5/#' -C 1 -W 10 2>&1) ||
    fail "sensor-5 could not come back to its session: $out"
check_eq "the device comes back to its session and the message queued for it" "queued-for-s5" "$out"
api DELETE "/api/v1/trusted-certificates/$droot_trust"
start=$(now_us)
for i in $(seq 1 600); do grep -q "disconnecting sensor-1 (client-sub)" mosquitto.log && break; sleep 0.1; done
check_contains "deleting its trusted certificate disconnects it" "$(cat mosquitto.log)" \
    "disconnecting sensor-1 (client-sub): anchor_deleted"
echo "# disconnected $(secs_since "$start") s after its trusted certificate was deleted"
# The kick runs the plugin's disconnect callback once mosquitto has logged it; the broker must
# go on past it.  A device that connects afterwards is answered by the plugin: the broker ran,
# plugin and all, after the callback (a pause followed by a look at the process would pass
# whenever the pause was too short for a crash to come, and find a zombie alive).
for i in $(seq 1 600); do grep -q "client-sub .*disconnected by administrative action" mosquitto.log && break; sleep 0.1; done
check_contains "mosquitto drops the connection" "$(grep "client-sub" mosquitto.log)" "disconnected by administrative action"
kill "$subpid" 2>/dev/null || true # (mosquitto_sub connects again, and is refused, until it is stopped)
wait "$subpid" 2>/dev/null || true
subpid=""
denied=$(grep -c "deny sensor-1 (client-s1)" mosquitto.log || true)
expect_refused s1 default/sensor-1
[ "$(grep -c "deny sensor-1 (client-s1)" mosquitto.log || true)" -gt "$denied" ] ||
    fail "no answer from the plugin to a device connecting after the kick: $(tail -3 mosquitto.out)"
ok "and it cannot connect again: the plugin refuses it"
alive "$mpid" || fail "mosquitto died after the plugin disconnected a device: $(tail -3 mosquitto.out)"
ok "and the broker goes on (the plugin forgets the client once, though kicking it runs its disconnect callback)"

# Another tenant's device with the same CN: its broker identity (%u in ACLs) carries its tenant,
# so the two never share topics; revoking the tenant disconnects it at the plugin's next tick.
BETA=$(api POST /api/v1/tokens '{"tenant":"beta","role":"admin"}' >/dev/null; body .token)
TOKEN=$BETA api POST /api/v1/cas '{"name":"beta root","type":"root","subject":{"common_name":"Beta Devices Root"},"key_type":"p256"}'
beta_ca=$(body .id)
TOKEN=$BETA issue b1 sensor-1 "$beta_ca"
TOKEN=$BETA api GET "/api/v1/cas/$beta_ca/chain"
TOKEN=$BETA api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat "$T/body")" '{certificate:$c,auto_registration:true}')"
check_eq "tenant beta trusts its own root" 201 "$status"
expect_connects b1 beta/sensor-1
ok "beta's sensor-1 connects"
if out=$(mqtt SUB b1 keep-s5 -c -q 1 -u beta/sensor-1 -t 'devices/#' -C 1 -W 3 2>&1); then
    fail "a device of tenant beta took a default tenant's device's session: $out"
fi
check_contains "another tenant's device giving a kept session's client id: refused, naming no device of it" \
    "$(grep 'deny sensor-1 (keep-s5)' mosquitto.log)" "client_id_in_use: the broker keeps a session of another tenant's device"
check_contains "its broker identity names its tenant" "$(grep 'as client-b1' mosquitto.log | tail -1)" "u'beta/sensor-1'"
check_contains "as the default tenant's device's does (no CN can stand for a tenant's prefix)" \
    "$(grep 'as client-s1' mosquitto.log | tail -1)" "u'default/sensor-1'"
# A device that sends its certificate alone, issued by an intermediate in beta's issuer list:
# the broker's CA directory holds that intermediate, so the broker's TLS builds its chain.
TOKEN=$BETA api POST /api/v1/cas "{\"name\":\"beta issuing\",\"type\":\"intermediate\",\"parent_id\":\"$beta_ca\",\"subject\":{\"common_name\":\"Beta Issuing\"},\"key_type\":\"p256\"}"
beta_int=$(body .id)
TOKEN=$BETA issue b2 sensor-2 "$beta_int"
openssl x509 -in b2.pem -out b2.leaf # (the certificate alone, without the chain the export adds)
TOKEN=$BETA api GET "/api/v1/cas/$beta_int/chain"
awk '/BEGIN/ {n++} n == 1' "$T/body" > beta-int.pem
TOKEN=$BETA api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat beta-int.pem)" '{certificate:$c,list:"issuer"}')"
check_eq "beta's intermediate in its issuer list" "201 issuer" "$status $(body .list)"
mosquitto_pub -h localhost -p "$mport" --cafile "$data/ca.pem" --cert b2.leaf --key b2.key -i client-b2 -t devices/b2 -m hi -q 1 \
    >b2.out 2>&1 || fail "a device sending its certificate alone could not connect: $(cat b2.out)"
ok "a device sending its certificate alone connects"
mosquitto_sub -h localhost -p "$mport" --cafile "$data/ca.pem" --cert b1.pem --key b1.key -i client-bsub \
    -t 'devices/#' > bsub.out 2>&1 &
subpid=$!
for i in $(seq 1 300); do grep -q "allow sensor-1 (client-bsub)" mosquitto.log && break; sleep 0.1; done
check_contains "a subscriber of tenant beta is connected" "$(grep 'client-bsub' mosquitto.log)" "allow sensor-1"
api DELETE /api/v1/tenants/beta
start=$(now_us)
for i in $(seq 1 600); do grep -q "disconnecting sensor-1 (client-bsub)" mosquitto.log && break; sleep 0.1; done
check_contains "revoking tenant beta in certhubd disconnects its device from the broker" "$(cat mosquitto.log)" \
    "disconnecting sensor-1 (client-bsub): tenant_revoked"
echo "# disconnected $(secs_since "$start") s after its tenant was revoked"
kill "$subpid" 2>/dev/null || true
wait "$subpid" 2>/dev/null || true
subpid=""
expect_refused b1
ok "and it cannot connect again, even without a user name"

# A plugin_opt_data_dir that holds no store (a typo): the broker does not start, saying why,
# and nothing is made there (an empty store would refuse every device without a word).
sed -e "s|^plugin_opt_data_dir .*|plugin_opt_data_dir $T/no-such-dir|" -e "s|^listener .*|listener $(free_port) 127.0.0.1|" \
    -e "s|^log_dest file .*|log_dest stderr|" mosquitto.conf > typo.conf
rc=0
timeout 20 mosquitto -c typo.conf > typo.out 2>&1 || rc=$?
check_eq "a data dir without a store: the broker stops at its start" "true" "$([ "$rc" != 0 ] && [ "$rc" != 124 ] && echo true)"
check_contains "saying there is no store there" "$(cat typo.out)" "certhub: no certhub store in $T/no-such-dir"
[ ! -e "$T/no-such-dir" ] || fail "the plugin made $T/no-such-dir"
ok "and made nothing there"

# A broker run as a user that cannot write the data directory (not certhubd's): it does not
# start, naming the user it runs as (it said certhubd's words for a directory not writable).
ro="$T/ro-data"
mkdir -m 755 "$ro" && cp "$data/certhub.db" "$ro/" && chmod 644 "$ro/certhub.db"
printf 'listener %s 127.0.0.1\nplugin %s\nplugin_opt_data_dir %s\nlog_dest stderr\n' "$(free_port)" "$plugin" "$ro" \
    > ro.conf
chmod 644 ro.conf
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$T"
    who=nobody
    as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
else
    chmod 555 "$ro"
    who=$(id -un)
    as=()
fi
rc=0
timeout 20 "${as[@]}" mosquitto -c "$T/ro.conf" > ro.out 2>&1 || rc=$?
check_eq "a broker whose user cannot write the data directory stops at its start" "true" \
    "$([ "$rc" != 0 ] && [ "$rc" != 124 ] && echo true)"
check_contains "naming its user" "$(cat ro.out)" "certhub: the broker runs as user $who, which cannot write $ro"

done_testing
