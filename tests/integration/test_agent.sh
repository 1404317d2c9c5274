#!/usr/bin/env bash
# The sync agent: `certhub agent --once` writes a certificate with its key and the trust
# bundle, with their modes, runs the reload command only when something changed, follows a
# renewal, rewrites the bundle once after a CA rotation, keeps its files while certhubd is
# down and catches up when it returns, and removes only local files when a target goes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
issuer=$(quickstart_issuer)
api POST /api/v1/certificates "{\"name\":\"web\",\"subject\":{\"common_name\":\"web.example\"},\"sans\":[\"dns:web.example\"],\"days\":30,\"ca_id\":\"$issuer\"}"
cid=$(body .id)
mkdir out
# The agent's token may read exactly its objects: this certificate (and its renewals, with the
# key) and the default bundle.
api POST /api/v1/tokens "{\"role\":\"operator\",\"name\":\"agent on web-1\",\"scope\":{\"objects\":[\"$cid\",\"bundle:default\"],\"keys_export\":true}}"
check_eq "a token scoped to the agent's objects" 201 "$status"
body .token > agent.token && chmod 600 agent.token
api GET "/api/v1/certificates/$cid"
colons=$(body .serial | sed 's/../&:/g; s/:$//')
TOKEN=$(cat agent.token) api GET "/api/v1/certificates/$colons"
check_eq "the scoped token names its certificate by serial too" "200 $cid" "$status $(body .id)"
api GET "/api/v1/certificates?limit=1000"
other_sha=$(body "[.items[] | select(.id != \"$cid\")][0].sha256")
TOKEN=$(cat agent.token) api GET "/api/v1/certificates/$other_sha"
check_eq "and not another by its SHA-256" 403 "$status"
api POST /api/v1/tokens "{\"role\":\"operator\",\"scope\":{\"objects\":[\"crt_nosuch\",\"bundle:default\"]}}"
check_eq "a scope naming a certificate the tenant does not have: 400" "400 scope no certificate crt_nosuch" \
    "$status $(body .error.field) $(body .error.message | grep -o 'no certificate crt_nosuch')"
api POST /api/v1/tokens "{\"role\":\"operator\",\"scope\":{\"objects\":[\"bundle:other\"]}}"
check_eq "or a bundle that is not there: 400" "400 scope" "$status $(body .error.field)"
api GET "/api/v1/tokens?limit=1000"
tokens=$(body '.items | length')
for scope in '"web-1"' '["crt_x"]' 7 true; do
    api POST /api/v1/tokens "{\"role\":\"viewer\",\"scope\":$scope}"
    check_eq "a scope that is not an object ($scope): 400, not a token of the whole tenant" "400 scope" \
        "$status $(body .error.field)"
done
api GET "/api/v1/tokens?limit=1000"
check_eq "and none was made" "$tokens" "$(body '.items | length')"
# A scoped token reads its objects, not its tenant's figures (every CA's expiry, the counts).
check_eq "a scoped token is refused /metrics" 403 \
    "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $(cat agent.token)" \
        "https://localhost:$port/metrics")"
echo "$TOKEN" > admin.token && chmod 600 admin.token
cli="$CERTHUB --server https://localhost:$port --token-file admin.token --ca-file $data/ca.pem"
$cli token create --role viewer --name "cli agent" --objects "$cid,bundle:default" > cli-agent.token && chmod 600 cli-agent.token
check_eq "the CLI makes the same scoped token" "true" \
    "$($cli token list --output json | jq '[.items[] | select(.name == "cli agent")] | length == 1')"
expect_usage "--keys-export alone is refused, saying why" "goes with --objects" -- $cli token create --keys-export
tid=$($cli token list --output json | jq -r '.items[] | select(.name == "agent on web-1") | .id')
check_eq "token get shows what it is limited to" "yes $cid, bundle:default" \
    "$($cli token get "$tid" | awk '$1 == "scope.keys_export" {k=$2} $1 == "scope.objects" {$1=""; o=substr($0, 2)} END {print k, o}')"
# The agent's own settings in a config: server (the daemon's port now), token_file TOKEN, the
# CA of DATA_DIR, and its state file $T/NAME.state.
agent_head() { # TOKEN NAME
    printf 'server = https://localhost:%s\ntoken_file = %s\nca_file = %s/ca.pem\nstate = %s/%s.state\n' \
        "$port" "$1" "$data" "$T" "$2"
}
write_config() {
    # Comments after values, as docs/agent.md writes them.
    cat > agent.conf <<CONF
server = https://localhost:$port
token_file = $T/agent.token
ca_file = $data/ca.pem
state = $T/agent.state    # the files the agent wrote

[target web]
certificate = $cid        # follows renewals
cert_path = $T/out/web.pem
key_path = $T/out/web.key
mode = 0640
reload = echo web >> $T/reloads; $T/restart-server

[target trust]
bundle = default
path = $T/out/bundle.pem
reload = echo trust >> $T/reloads
CONF
}
# The TLS server the agent feeds: openssl s_server, restarted by the reload command.
# A port nothing listens on now (tests run side by side and pick theirs at random too).
sport=$(free_port)
# The old server must have let go of the port before the new one listens on it: under load
# it may take longer to exit than a fixed pause.
cat > restart-server <<SH
#!/bin/sh
if [ -f $T/server.pid ]; then
    old=\$(cat $T/server.pid)
    kill \$old 2>/dev/null
    # gone, or a zombie (it no longer holds the port)
    for i in \$(seq 1 600); do
        state=\$(sed 's/.*) //' /proc/\$old/stat 2>/dev/null | cut -c1)
        [ -z "\$state" ] || [ "\$state" = Z ] && break
        sleep 0.05
    done
fi
openssl s_server -accept 127.0.0.1:$sport -cert $T/out/web.pem -cert_chain $T/out/web.pem -key $T/out/web.key -www -quiet >>$T/server.log 2>&1 &
echo \$! > $T/server.pid
SH
chmod +x restart-server
trap 'rc=$?; { [ -f "$T/server.pid" ] && kill "$(cat "$T/server.pid")" 2>/dev/null; } || true; on_exit $rc' EXIT
client() { # a client trusting only the bundle the agent keeps (the server may still be starting)
    for i in $(seq 1 300); do
        out=$(echo | openssl s_client -connect "127.0.0.1:$sport" -servername web.example -CAfile "$T/out/bundle.pem" \
            -verify_return_error 2>&1) && break
        sleep 0.1
    done
    # A here-string, not a pipe: grep -q leaves at its first match, and under pipefail an echo
    # of the long output still writing then fails the pipeline (SIGPIPE), which failed this
    # check once under load with "Verify return code: 0 (ok)" in the output.
    grep -q "Verify return code: 0 (ok)" <<<"$out" && return 0
    out="$out (s_server's output: $(cat "$T/server.log" 2>/dev/null))"
    return 1
}
write_config
agent() { "$CERTHUB" agent --config agent.conf --once; }
reloads() { grep -c "^$1\$" reloads 2>/dev/null || true; }

agent >/dev/null || fail "the first pass failed"
check_eq "the certificate and its chain (to the root) are written" 3 "$(grep -c 'BEGIN CERTIFICATE' out/web.pem)"
check_eq "the key beside it, 0640" "640" "$(stat -c %a out/web.key)"
[ "$(openssl x509 -in out/web.pem -noout -pubkey)" = "$(openssl pkey -in out/web.key -pubout)" ] || fail "key and certificate do not match"
ok "the key belongs to the certificate"
check_eq "the bundle is written" 2 "$(grep -c 'BEGIN CERTIFICATE' out/bundle.pem)"
check_eq "each reload ran once" "1 1" "$(reloads web) $(reloads trust)"
check_eq "the state is where the setting says, its comment not taken as part of the path" \
    "yes" "$([ -s agent.state ] && echo yes || echo no)"
# A broker's agent: the enabled trusted certificates as the broker's CA directory.
api POST /api/v1/tokens "{\"role\":\"viewer\",\"name\":\"broker agent\"}"
body .token > broker.token && chmod 600 broker.token
cat > broker.conf <<CONF
$(agent_head "$T/broker.token" broker)

[target broker]
trusted = mqtt
dir = $T/out/mqtt-ca
reload = echo broker >> $T/reloads
CONF
"$CERTHUB" agent --config broker.conf --once >/dev/null || fail "the broker agent failed"
check_eq "no trusted certificate yet: an empty CA directory, no broker reload" "0 0" "$(ls out/mqtt-ca | wc -l) $(reloads broker)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key -subj /CN=devices -days 30 \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out dev.pem 2>/dev/null
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat dev.pem)" '{certificate:$c}')"
tid=$(body .id)
"$CERTHUB" agent --config broker.conf --once >/dev/null || fail "the broker agent failed"
check_eq "the broker's CA directory holds the enabled trusted certificate under its hash" \
    "$(openssl x509 -in dev.pem -noout -subject_hash).0" "$(ls out/mqtt-ca)"
api PATCH "/api/v1/trusted-certificates/$tid" '{"status":"disabled"}'
"$CERTHUB" agent --config broker.conf --once >/dev/null
check_eq "disabled: gone from the directory, the broker reloaded each time" "0 2" "$(ls out/mqtt-ca | wc -l) $(reloads broker)"
# A CA directory that holds the machine's own files (the broker's certificate and key beside
# the CAs, a README): the agent writes its hashed files there and never removes the others.
mkdir out/etc-mosq
echo "the broker's own" > out/etc-mosq/broker.pem
echo "keep me" > out/etc-mosq/README
sed "s|out/mqtt-ca|out/etc-mosq|" broker.conf > etc.conf
sed -i "s|^state = .*|state = $T/etc.state|" etc.conf
api PATCH "/api/v1/trusted-certificates/$tid" '{"status":"enabled"}'
"$CERTHUB" agent --config etc.conf --once >/dev/null 2>&1 || fail "the agent on a shared directory failed"
api PATCH "/api/v1/trusted-certificates/$tid" '{"status":"disabled"}'
"$CERTHUB" agent --config etc.conf --once >/dev/null 2>&1 || fail "the agent's second pass on a shared directory failed"
check_eq "a shared CA directory: the machine's files stay, the agent's hashed file came and went" \
    "README broker.pem" "$(ls out/etc-mosq | paste -sd' ')"
api PATCH "/api/v1/trusted-certificates/$tid" '{"status":"enabled"}'
"$CERTHUB" agent --config etc.conf --once >/dev/null 2>&1
sed -i '/^\[target broker\]/,$d' etc.conf
"$CERTHUB" agent --config etc.conf --once >/dev/null 2>&1
check_eq "and when the target goes, its hashed file goes, the directory (not the agent's) and its files stay" \
    "README broker.pem" "$(ls out/etc-mosq | paste -sd' ')"
api PATCH "/api/v1/trusted-certificates/$tid" '{"status":"disabled"}'
client || fail "a client trusting the bundle cannot connect to the server the agent feeds: $out"
ok "the TLS server fed by the agent serves, a client trusting the bundle connects"
SCOPED=$(cat agent.token)
TOKEN=$SCOPED api GET /api/v1/certificates
check_eq "the scoped token cannot list certificates" 403 "$status"
api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"other.example\"},\"ca_id\":\"$issuer\"}"
other=$(body .id)
TOKEN=$SCOPED api GET "/api/v1/certificates/$other/export?format=pem"
check_eq "nor read another certificate" 403 "$status"
TOKEN=$SCOPED api DELETE "/api/v1/certificates/$cid"
check_eq "nor delete its own" 403 "$status"
TOKEN=$SCOPED api PATCH "/api/v1/certificates/$cid" '{"name":"x"}'
check_contains "nor rename it, told that such a token changes nothing" "$status $(body .error.message)" \
    "403 this token is limited to the objects named in its scope, and to reading and exporting them"
agent >/dev/null
check_eq "nothing changed: no reload" "1 1" "$(reloads web) $(reloads trust)"

api POST "/api/v1/cas/$issuer/rotate"
agent >/dev/null
check_eq "after a CA rotation the bundle is rewritten with old and new" 3 "$(grep -c 'BEGIN CERTIFICATE' out/bundle.pem)"
check_eq "and its reload command ran exactly once more" "1 2" "$(reloads web) $(reloads trust)"
client || fail "after the CA rotation the client cannot connect: $out"
ok "across the CA rotation the client keeps connecting"
root=$(api GET /api/v1/cas >/dev/null; body '.items[] | select(.name | startswith("certhub Quickstart Root")) | .id')
api POST "/api/v1/cas/$root/rotate"
agent >/dev/null
check_eq "a rotated root: the bundle holds old and new roots, rewritten once more" "4 3" "$(grep -c 'BEGIN CERTIFICATE' out/bundle.pem) $(reloads trust)"
client || fail "after the root rotation the client cannot connect: $out"
ok "and across the root's rotation"
cat > public.conf <<CONF
server = https://localhost:$port
ca_file = $data/ca.pem
state = $T/public.state

[target trust]
bundle = default
path = $T/out/public-bundle.pem
CONF
"$CERTHUB" agent --config public.conf --once >/dev/null || fail "the agent without a token failed"
cmp -s out/public-bundle.pem out/bundle.pem || fail "an agent without a token keeps the public bundle: the same as with one: out/public-bundle.pem and out/bundle.pem differ"
ok "an agent without a token keeps the public bundle: the same as with one"
sed -i 's|^path = .*|&\ntenant = default|; s|public-bundle.pem|public-named.pem|' public.conf
"$CERTHUB" agent --config public.conf --once >/dev/null || fail "the agent naming the tenant failed"
cmp -s out/public-named.pem out/bundle.pem || fail "or a tenant's public bundle named with tenant =: out/public-named.pem and out/bundle.pem differ"
ok "or a tenant's public bundle named with tenant ="
sed -i 's|^tenant = default|tenant = x/../y|' public.conf
expect_error "a tenant name that could say more than a name is refused" "letters, digits" -- \
    "$CERTHUB" agent --config public.conf --once
sed -i '/^tenant = /d' public.conf
sed -i 's/^bundle = default$/certificate = '"$cid"'/; s|^path = .*|cert_path = '"$T"'/out/x.pem|' public.conf
expect_exit 1 "but a certificate needs a token" -- "$CERTHUB" agent --config public.conf --once
check_contains "and it says so, keeping its files" "$(cat "$T/stderr")" "no API token"

api POST "/api/v1/certificates/$cid/renew"
new=$(body .id)
agent >/dev/null
check_eq "a renewal is followed" "$(body .serial)" "$(openssl x509 -in out/web.pem -noout -serial | cut -d= -f2 | tr A-F a-f)"
check_eq "and the web reload ran once more" 2 "$(reloads web)"
client || fail "after the renewal the client cannot connect: $out"
check_eq "the server now serves the renewed certificate" "$(body .serial)" \
    "$(echo | openssl s_client -connect "127.0.0.1:$sport" 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2 | tr A-F a-f)"

stop_daemon
cp out/web.pem web.before
expect_exit 1 "certhubd down: the pass reports it" -- "$CERTHUB" agent --config agent.conf --once
check_eq "and keeps the files" "" "$(cmp web.before out/web.pem)"
api_port=$port
start_daemon
write_config
api POST "/api/v1/certificates/$new/renew"
newest_serial=$(body .serial)
agent >/dev/null 2>agent2.err || fail "the pass after the return failed: $(cat agent2.err)"
check_eq "certhubd back: the agent catches up" "$newest_serial" "$(openssl x509 -in out/web.pem -noout -serial | cut -d= -f2 | tr A-F a-f)"

sed -i '/^\[target web\]/,/^reload = echo web/d' agent.conf
agent 2>agent.err >/dev/null
[ ! -e out/web.pem ] && [ ! -e out/web.key ] || fail "the removed target's files are still there"
ok "a target removed from the config: its local files are removed"
check_contains "and the agent says so" "$(cat agent.err)" "the certificate stays on the server"
api GET "/api/v1/certificates/$cid"
check_eq "the managed certificate is untouched" 200 "$status"
[ -e out/bundle.pem ] || fail "the other target's file went too"
ok "the other target's files stay"

# Only what the agent wrote is ever removed; files take modes a reader can use; a key is
# downloaded only when its certificate changed.
echo "the machine's own" > out/precious.pem
api PATCH "/api/v1/trusted-certificates/$tid" '{"status":"enabled"}'
cat > more.conf <<CONF
$(agent_head "$data/admin-token" more)

[target typo]
certificate = crt_doesnotexist
cert_path = $T/out/precious.pem

[target k]
certificate = $cid
cert_path = $T/out/k.pem
key_path = $T/out/k.key

[target b]
bundle = default
path = $T/out/b.pem

[target m]
trusted = mqtt
dir = $T/out/m-ca
CONF
more() { "$CERTHUB" agent --config more.conf --once; }
expect_exit 1 "a target naming a certificate that is not there fails the pass" -- more
check_eq "without a mode: the key 0600, the certificate, bundle and CA directory 0644" "600 644 644 644 755" \
    "$(stat -c %a out/k.key out/k.pem out/b.pem out/m-ca/*.0 out/m-ca | paste -sd' ')"
api GET "/api/v1/audit?action=key.export&limit=1000"
exports=$(body '.items | length')
more >/dev/null 2>&1 || true # (the typo target fails the pass)
api GET "/api/v1/audit?action=key.export&limit=1000"
check_eq "a pass with nothing changed downloads no key" "$exports" "$(body '.items | length')"
sed -i '/^\[target typo\]/,/^cert_path = .*precious/d; /^\[target m\]/,/^dir = /d; s|out/b.pem|out/b2.pem|' more.conf
more >/dev/null 2>more.err || fail "the pass after the edit failed: $(cat more.err)"
check_eq "a file the agent never wrote stays when its target goes" "the machine's own" "$(cat out/precious.pem)"
[ ! -e out/m-ca ] || fail "the CA directory of a removed trusted target is still there: $(ls out/m-ca)"
ok "a removed trusted target: its CA directory goes, the broker trusts none of it any more"
[ ! -e out/b.pem ] && [ -e out/b2.pem ] || fail "a target's old path: b.pem $(ls out/b.pem 2>&1), b2.pem $(ls out/b2.pem 2>&1)"
ok "a target whose path changed: the old file goes, the new one is written"
check_contains "and the agent says so" "$(cat more.err)" "removed $T/out/b.pem, which it no longer names"
sed -i "s|^path = $T/out/b2.pem|&\nmode = 0640\nowner = $(id -un):$(id -gn)|" more.conf
out=$(more 2>&1) || fail "the pass with a mode and owner failed: $out"
check_eq "a mode given later: the unchanged file takes it, and the target counts as updated" "640 1" \
    "$(stat -c %a out/b2.pem) $(echo "$out" | grep -c 'b: updated')"
out=$(more 2>&1) || fail "the pass after that failed: $out"
check_eq "and the pass after that changes nothing" 0 "$(echo "$out" | grep -c 'updated' || true)"
sed -i "s|^key_path = $T/out/k.key|&\nmode = 0640|" more.conf
api GET "/api/v1/audit?action=key.export&limit=1000"
exports=$(body '.items | length')
out=$(more 2>&1) || fail "the pass with the key's mode failed: $out"
api GET "/api/v1/audit?action=key.export&limit=1000"
check_eq "a mode given later for a kept key: the key takes it too (no new download)" "640 1 $exports" \
    "$(stat -c %a out/k.key) $(echo "$out" | grep -c 'k: updated') $(body '.items | length')"
# A first deployment names directories nothing has made yet: the agent makes them (0755), and
# says so; a path through a file is refused with the file named.
cat >> more.conf <<CONF

[target deep]
bundle = default
path = $T/out/new/tls/bundle.pem

[target deepca]
trusted = mqtt
dir = $T/out/new/broker/ca
CONF
out=$(more 2>&1) || fail "the pass with new directories failed: $out"
check_eq "missing directories are made, 0755" "755 755 755 644" \
    "$(stat -c %a out/new out/new/tls out/new/broker out/new/tls/bundle.pem | paste -sd' ')"
check_contains "and the agent says so" "$out" "created the directory $T/out/new/tls"
[ -n "$(ls out/new/broker/ca)" ] || fail "the CA directory under a new directory is empty"
sed -i '/^\[target deep\]/,$d' more.conf
more >/dev/null 2>&1 || fail "the pass after removing the deep targets failed"
[ ! -e out/new/tls/bundle.pem ] && [ ! -e out/new/broker/ca ] && [ -d out/new/tls ] ||
    fail "removing the targets: $(find out/new)"
ok "removed targets: their files go, the directories made for them stay"
cat >> more.conf <<CONF

[target through]
bundle = default
path = $T/out/b2.pem/inside.pem
CONF
out=$(more 2>&1) && fail "a path through a file passed: $out"
check_contains "a path through a file is refused, the file named" "$out" "$T/out/b2.pem is not a directory"
sed -i '/^\[target through\]/,$d' more.conf
printf '[target typo2]\ntrusted = http\ndir = %s/out/x\n' "$T" >> more.conf
expect_error "trusted takes mqtt, trust or issuer, and says so" 'trusted takes mqtt (a broker'"'"'s CA directory), trust or issuer (that list as a PEM file), not "http"' -- more
sed -i '/^\[target typo2\]/,$d' more.conf
echo "mode = rw-r" >> more.conf
expect_error "a mode that is not an octal mode is refused" "mode is an octal file mode such as 0640" -- more

# A reload that fails is owed: the pass says so and fails (cron sees it), and the next pass runs
# it again though nothing changed, until it succeeds.
cat > rl.conf <<CONF
$(agent_head "$data/admin-token" rl)

[target rl]
bundle = default
path = $T/out/rl.pem
reload = echo run >> $T/rl.runs; test -e $T/rl.ok
CONF
rc=0; "$CERTHUB" agent --config rl.conf --once >/dev/null 2>rl.err || rc=$?
check_eq "a failed reload fails the pass, saying it is tried again" "1 1" \
    "$rc $(grep -c 'reload command failed (tried again at the next pass)' rl.err)"
touch rl.ok
rc=0; "$CERTHUB" agent --config rl.conf --once >/dev/null 2>&1 || rc=$?
check_eq "the next pass runs it again, nothing having changed, and passes" "0 2" "$rc $(wc -l < rl.runs)"
"$CERTHUB" agent --config rl.conf --once >/dev/null 2>&1
check_eq "then no more" 2 "$(wc -l < rl.runs)"
# Two targets writing one file, or one name twice: refused when the file is read (removing
# one target removed the file the other still named).
cat > dup.conf <<CONF
server = https://localhost:$port
token_file = $data/admin-token
ca_file = $data/ca.pem

[target x]
bundle = default
path = $T/out/shared.pem

[target y]
bundle = default
path = $T/out/shared.pem
CONF
expect_error "two targets writing one file" "targets x and y both write $T/out/shared.pem" -- \
    "$CERTHUB" agent --config dup.conf --once
sed -i 's/^\[target y\]/[target x]/; s|out/shared.pem$|out/other.pem|' dup.conf
sed -i '0,/out\/other.pem/s//out\/shared.pem/' dup.conf
expect_error "one target name twice, said with its line" "dup.conf:9: target x appears twice" -- \
    "$CERTHUB" agent --config dup.conf --once
{ head -4 dup.conf; printf '[target x]\nbundle = default\npath = %s/out/shared.pem\n\n' "$T"
  printf '[target z]\nbundle = default\npath = %s//out/sub/.././shared.pem\n' "$T"; } > dup3.conf
expect_error "one file written by two names for it (./, //, sub/..)" "dup3.conf:9: targets x and z both write" -- \
    "$CERTHUB" agent --config dup3.conf --once
mkdir -p "$T/out" && ln -sfn "$T/out" "$T/out-link"
{ head -4 dup.conf; printf '[target x]\nbundle = default\npath = %s/out/shared.pem\n\n' "$T"
  printf '[target w]\nbundle = default\npath = %s/out-link/shared.pem\n' "$T"; } > dup4.conf
expect_error "one file written through a link to its folder" "dup4.conf:9: targets x and w both write" -- \
    "$CERTHUB" agent --config dup4.conf --once
{ head -4 dup.conf; printf '[target lone]\npath = %s/out/lone.pem\n' "$T"; } > lone.conf
expect_error "a target of neither certificate nor bundle, with its line" \
    "lone.conf:5: target lone needs exactly one of certificate, bundle or trusted" -- \
    "$CERTHUB" agent --config lone.conf --once
{ head -4 dup.conf; printf '[target owned]\nbundle = default\npath = %s/out/owned.pem\nowner = nosuchuser:x\n' "$T"; } > owner.conf
expect_error "an owner that is not there: said when the configuration is read, with its line" \
    "owner.conf:5: target owned: owner nosuchuser:x: no such user" -- "$CERTHUB" agent --config owner.conf --once
[ ! -e out/owned.pem ] || fail "a refused configuration wrote a file"

# The CA file named by the agent's config: a refusal names its ca_file setting, not --ca-file.
cat > caf.conf <<CONF
server = https://localhost:$port
token_file = $data/admin-token
ca_file = $T/no-such-ca.pem

[target caf]
bundle = default
path = $T/out/caf.pem
CONF
expect_exit 1 "a ca_file that is not there" -- "$CERTHUB" agent --config caf.conf --once
check_contains "is said as the config's ca_file setting" "$(cat "$T/stderr")" \
    "the CA file (ca_file in caf.conf): cannot open $T/no-such-ca.pem"
sed -i 's/^ca_file = .*/ca_file =/' caf.conf
expect_exit 1 "an empty ca_file" -- "$CERTHUB" agent --config caf.conf --once
check_contains "says the setting is empty and what to set it to" "$(cat "$T/stderr")" \
    "the CA file given (ca_file in caf.conf) is an empty name: give ca_file = DATA-DIR/ca.pem"
grep -q -e "--ca-file" "$T/stderr" && fail "the agent's refusal names --ca-file: $(cat "$T/stderr")"
ok "and neither names --ca-file, an option the agent does not take"

# A state file in a directory not made yet (the doc's /var/lib/certhub-agent/state on a fresh
# machine): made, so what the agent wrote is remembered (a target removed later took nothing
# with it: the state was never written, and nothing said so).
cat > st.conf <<CONF
server = https://localhost:$port
token_file = $data/admin-token
ca_file = $data/ca.pem
state = $T/agent-state/new/state

[target st]
bundle = default
path = $T/out/st.pem
CONF
"$CERTHUB" agent --config st.conf --once >/dev/null 2>&1 || fail "the pass with a new state directory failed"
[ -s agent-state/new/state ] || fail "no state written"
sed -i '/^\[target st\]/,$d' st.conf
printf '[target other]\nbundle = default\npath = %s/out/st2.pem\n' "$T" >> st.conf
"$CERTHUB" agent --config st.conf --once >/dev/null 2>&1 || fail "the pass after removing the target failed"
[ ! -e out/st.pem ] || fail "the removed target's file stayed"
ok "a state file in a new directory: written, and a removed target's file goes"

# A lineage longer than any walk of it a link at a time went (the scope's 32, the agent's 64): a
# certificate of minutes renewed every few minutes makes one within hours.  A token scoped to
# its first certificate reads the newest, GET of the first names the newest, and the agent,
# given the first, deploys the newest.
api POST /api/v1/certificates "{\"name\":\"long\",\"subject\":{\"common_name\":\"long.example\"},\"sans\":[\"dns:long.example\"],\"days\":2,\"key_type\":\"p256\",\"ca_id\":\"$issuer\"}"
check_eq "the first of a long lineage" 201 "$status"
first=$(body .id)
last=$first
for i in $(seq 1 70); do
    api POST "/api/v1/certificates/$last/renew" '{"reuse_key":true}'
    [ "$status" = 201 ] || [ "$status" = 200 ] || fail "renewal $i of $last: $status $(cat "$T/body")"
    last=$(body .id)
done
last_serial=$(body .serial)
api POST /api/v1/tokens "{\"role\":\"viewer\",\"name\":\"long lineage\",\"scope\":{\"objects\":[\"$first\"],\"keys_export\":true}}"
check_eq "a token scoped to the lineage's first certificate" 201 "$status"
body .token > long.token && chmod 600 long.token
scoped_get() {
    curl -s --max-time 120 -o "$T/body" -w '%{http_code}' --cacert "$data/ca.pem" \
        -H "Authorization: Bearer $(cat "$T/long.token")" "https://localhost:$port/api/v1/certificates/$1" || true
}
check_eq "reads the 70th renewal" "200 $last" "$(scoped_get "$last") $(body .id)"
other_status=$(scoped_get "$cid")
[ "$other_status" = 404 ] || [ "$other_status" = 403 ] || fail "the scoped token read a certificate of another lineage: $other_status"
ok "and not a certificate of another lineage ($other_status)"
api GET "/api/v1/certificates/$first"
check_eq "GET of the first names the newest of its lineage" "$last" "$(body .newest_renewal)"
api GET "/api/v1/certificates/$last"
check_eq "and of the newest, null (not renewed)" "null" "$(body .newest_renewal)"
api GET "/api/v1/certificates?search=long.example&limit=100"
check_eq "a list page has none (a query a row)" "0" "$(body '[.items[] | select(has("newest_renewal"))] | length')"
cat > long.conf <<CONF
$(agent_head "$T/long.token" long)

[target long]
certificate = $first
cert_path = $T/out/long.pem
key_path = $T/out/long.key
CONF
"$CERTHUB" agent --config long.conf --once >/dev/null 2>long.err || fail "the agent on the long lineage failed: $(cat long.err)"
check_eq "the agent given the first deploys the 70th renewal" "$last_serial" \
    "$(openssl x509 -in out/long.pem -noout -serial | cut -d= -f2 | tr A-F a-f)"
check_eq "with its key" "$(openssl x509 -in out/long.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" \
    "$(openssl pkey -in out/long.key -pubout -outform DER | sha256sum)"


# More trusted certificates than the agent once had file names for (256, the rest passed over
# and their files removed, unsaid): each one has its file in the broker's CA directory.
for i in $(seq 300); do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=fleet CA $i" \
        -days 30 -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
done > fleet.pem
"$CERTHUB" --server "https://localhost:$port" --token-file admin.token --ca-file "$data/ca.pem" trusted bulk fleet.pem > bulk.out 2>&1 || fail "trusted bulk of 300 certificates failed: $(tail -3 bulk.out)"
cat > fleet.conf <<CONF
$(agent_head "$T/broker.token" fleet)

[target fleet]
trusted = mqtt
dir = $T/out/fleet-ca
CONF
# The requests certhubd answered for one trusted certificate, from its metrics.
one_trusted_gets() {
    curl -s --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" "https://localhost:$port/metrics" |
        awk '/^certhub_http_requests_total\{route="GET \/api\/v1\/trusted-certificates\/\{id\}"/ {n += $NF} END {print n + 0}'
}
gets=$(one_trusted_gets)
"$CERTHUB" agent --config fleet.conf --once >/dev/null 2>fleet.err || fail "the broker agent on 300 failed: $(cat fleet.err)"
check_eq "the list's pages carry the PEMs: no request a trusted certificate" "$gets" "$(one_trusted_gets)"
api GET "/api/v1/trusted-certificates/$tid"
check_eq "(where one such request counts)" "$((gets + 1))" "$(one_trusted_gets)"
check_eq "300 trusted certificates more: each has its file in the CA directory" 300 \
    "$(comm -12 <(ls out/fleet-ca | sort) <(for i in $(seq 300); do openssl x509 -noout -subject_hash 2>/dev/null <<<"$(awk -v n="$i" '/BEGIN/ {k++} k == n' fleet.pem)"; done | sed 's/$/.0/' | sort) | wc -l)"

# The trust list and the issuer list as two PEM files, a connector's two stores.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=Issuer List CA" \
    -days 30 -addext "keyUsage=critical,keyCertSign,cRLSign" -out il.pem 2>/dev/null
il=$("$CERTHUB" --server "https://localhost:$port" --token-file admin.token --ca-file "$data/ca.pem" trusted add il.pem --list issuer)
cat > lists.conf <<CONF
$(agent_head "$T/broker.token" lists)

[target trust]
trusted = trust
path = $T/out/lists/trusted.pem

[target issuer]
trusted = issuer
path = $T/out/lists/issuer.pem
CONF
certs_in() { openssl crl2pkcs7 -nocrl -certfile "$1" | openssl pkcs7 -print_certs -noout | grep -c '^subject=' || true; }
enabled_of() { # LIST: the enabled certificates of that list, from the API
    api GET "/api/v1/trusted-certificates?list=$1&limit=1000"
    body '[.items[] | select(.status == "enabled")] | length'
}
"$CERTHUB" agent --config lists.conf --once >/dev/null 2>lists.err || fail "the lists agent failed: $(cat lists.err)"
check_eq "trusted = trust: every enabled certificate of the trust list in one PEM file" "$(enabled_of trust)" \
    "$(certs_in out/lists/trusted.pem)"
check_eq "trusted = issuer: the issuer list's, its root too" "1 subject=CN = Issuer List CA" \
    "$(certs_in out/lists/issuer.pem) $(openssl x509 -in out/lists/issuer.pem -noout -subject)"
before=$(certs_in out/lists/trusted.pem)
api PATCH "/api/v1/trusted-certificates/$tid" '{"status":"disabled"}'
"$CERTHUB" agent --config lists.conf --once >/dev/null 2>lists.err || fail "the lists agent failed: $(cat lists.err)"
check_eq "one disabled: it leaves the trust list's file" "$((before - 1))" "$(certs_in out/lists/trusted.pem)"
api DELETE "/api/v1/trusted-certificates/$il"
"$CERTHUB" agent --config lists.conf --once >/dev/null 2>lists.err || fail "the lists agent failed: $(cat lists.err)"
check_eq "the issuer list emptied: an empty file" 0 "$(stat -c %s out/lists/issuer.pem)"
printf '[target wrong]\ntrusted = trust\ndir = %s/out/x\n' "$T" >> lists.conf
expect_error "trusted = trust with a dir: refused, saying it needs a path" "trusted = trust needs path (the PEM file of that list), not dir" -- \
    "$CERTHUB" agent --config lists.conf --once

# A ca_file that is not certhubd's CA (its root changed, say): the agent says to set its own
# setting, not the CLI's --ca-file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=Not certhubd's" \
    -days 5 -out wrong-ca.pem 2>/dev/null
printf 'server = https://localhost:%s\nca_file = %s/wrong-ca.pem\nstate = %s/wrong.state\n\n[target b]\nbundle = default\npath = %s/out/wrong.pem\n' \
    "$port" "$T" "$T" "$T" > wrong.conf
expect_exit 1 "an agent whose ca_file is not certhubd's CA" -- "$CERTHUB" agent --config wrong.conf --once
check_contains "is told to set ca_file in its config" "$(cat "$T/stderr")" "set ca_file in the agent's config"

# A certificate that has ended is deployed still (it is all there is), but said, and the pass
# fails: it was kept in place without a word, the agent's status 0.
ft=$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)
LD_PRELOAD=$ft FAKETIME="@2020-01-01 00:00:00" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout /dev/null -subj /CN=lapsed.example -days 30 -out lapsed.pem 2>/dev/null
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat lapsed.pem)" '{name:"lapsed", certificate:$c}')"
lapsed=$(body .id)
{ agent_head "$data/admin-token" lapsed; printf '\n[target old]\ncertificate = %s\ncert_path = %s/out/lapsed.pem\n' "$lapsed" "$T"; } > lapsed.conf
expect_exit 1 "an agent whose certificate has ended" -- "$CERTHUB" agent --config lapsed.conf --once
# (its end as openssl wrote it, the faked clock running: under load it may be a second on)
check_contains "says so, and what to do" "$(cat "$T/stderr")" \
    "certhub agent: old: certificate $lapsed ended at $(date -u -d "$(openssl x509 -in lapsed.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ); renew it (certhub cert renew $lapsed) or name another"
check_eq "(the file written all the same)" "$(openssl x509 -in lapsed.pem -noout -serial)" "$(openssl x509 -in out/lapsed.pem -noout -serial)"

# The agent keeps its own ca_file current with a bundle target writing it (agent.md): the
# quickstart root rotated, then its issuing CA, and certhubd's certificate issued under the new
# root; an agent that trusted the old root alone kept working.
cp "$data/ca.pem" own-ca.pem
cp own-ca.pem old-root.pem
printf 'server = https://localhost:%s\ntoken_file = %s/admin-token\nca_file = %s/own-ca.pem\nstate = %s/own.state\n\n[target certhubd-ca]\nbundle = default\npath = %s/own-ca.pem\n' \
    "$port" "$data" "$T" "$T" "$T" > own.conf
api GET /api/v1/cas
qs_root=$(body '.items[] | select(.name | startswith("certhub Quickstart Root")) | .id')
api POST "/api/v1/cas/$qs_root/rotate"
check_eq "the quickstart root rotated" 200 "$status"
expect_exit 0 "a pass after the root's rotation" -- "$CERTHUB" agent --config own.conf --once
api GET "/api/v1/cas/$qs_root/chain"
cp "$T/body" new-root.pem
check_contains "ca_file holds the new root beside the old" "$(cat own-ca.pem)" "$(sed -n 2p new-root.pem)"
check_contains "(and the old)" "$(cat own-ca.pem)" "$(sed -n 2p old-root.pem)"
api POST "/api/v1/cas/$issuer/rotate"
kill -HUP "$pid"
for i in $(seq 1 300); do grep -q "server certificate renewed" "$log" && break; sleep 0.1; done
check_eq "certhubd serves a certificate under the new root" 1 "$(grep -c 'server certificate renewed' "$log")"
expect_exit 0 "the agent still reaches it" -- "$CERTHUB" agent --config own.conf --once

# A pass that cannot write the certificate leaves the key as it was: both are written beside
# their places before either takes it (the new key was put in place, then the certificate
# failed, and a server restarting then read a key that was not its certificate's).
api GET /api/v1/cas
issuing_now=$(body '.items[] | select(.name | startswith("certhub Quickstart Issuing")) | .id')
api POST /api/v1/certificates "{\"name\":\"pair\",\"subject\":{\"common_name\":\"pair.example\"},\"days\":30,\"ca_id\":\"$issuing_now\"}"
pair=$(body .id)
printf '%s\n\n[target pair]\ncertificate = %s\ncert_path = %s/pc/pair.pem\nkey_path = %s/pk/pair.key\n' \
    "$(agent_head "$data/admin-token" pair)" "$pair" "$T" "$T" > pair.conf
sed -i "s|^ca_file = .*|ca_file = $T/own-ca.pem|" pair.conf
expect_exit 0 "a target with its certificate and key in two directories" -- "$CERTHUB" agent --config pair.conf --once
cp pk/pair.key pair.key.before
api POST "/api/v1/certificates/$pair/renew"
mv pc pc.away && touch pc # (its directory a file now: the certificate cannot be written)
expect_exit 1 "the certificate cannot be written: the pass fails" -- "$CERTHUB" agent --config pair.conf --once
check_contains "saying so" "$(cat "$T/stderr")" "pair: kept the files it has"
check_eq "and the key is the one it had (the certificate's beside it)" "" "$(cmp pair.key.before pk/pair.key)"
check_eq "nothing left beside the key" "pair.key" "$(ls pk)"
rm pc && mv pc.away pc
expect_exit 0 "the next pass, the directory back" -- "$CERTHUB" agent --config pair.conf --once
check_eq "puts the renewal and its key in place together" "$(openssl x509 -in pc/pair.pem -noout -pubkey)" \
    "$(openssl pkey -in pk/pair.key -pubout)"

# HAProxy's one file: the certificate, its chain and its key (combined_path), 0600; the key is
# asked for again only when the certificate changed.
api POST /api/v1/certificates "{\"name\":\"lb\",\"subject\":{\"common_name\":\"lb.example\"},\"days\":30,\"ca_id\":\"$issuing_now\"}"
lbc=$(body .id)
printf '%s\n\n[target lb]\ncertificate = %s\ncombined_path = %s/lb/web.pem\n' \
    "$(agent_head "$data/admin-token" lb)" "$lbc" "$T" > lb.conf
sed -i "s|^ca_file = .*|ca_file = $T/own-ca.pem|" lb.conf
expect_exit 0 "a target writing one combined file" -- "$CERTHUB" agent --config lb.conf --once
check_eq "its certificate and chain (as cert_path has them), then its key, in one file of mode 0600" \
    "$(grep -c 'BEGIN CERTIFICATE' pc/pair.pem) 1 600" \
    "$(grep -c 'BEGIN CERTIFICATE' lb/web.pem) $(grep -c 'BEGIN PRIVATE KEY' lb/web.pem) $(stat -c %a lb/web.pem)"
check_eq "the key is the certificate's (openssl reads both from the one file, as HAProxy does)" \
    "$(openssl x509 -in lb/web.pem -noout -pubkey)" "$(openssl pkey -in lb/web.pem -pubout)"
exports() { api GET "/api/v1/audit?action=key.export&object_id=$lbc&limit=1000"; body '.items | length'; }
before_exports=$(exports)
expect_exit 0 "a second pass" -- "$CERTHUB" agent --config lb.conf --once
check_eq "asks nothing of the key while the certificate is the same" "$before_exports" "$(exports)"
api POST "/api/v1/certificates/$lbc/renew"
expect_exit 0 "a pass after a renewal" -- "$CERTHUB" agent --config lb.conf --once
check_eq "writes the renewal with its new key" "$(body .serial) $(openssl x509 -in lb/web.pem -noout -pubkey)" \
    "$(openssl x509 -in lb/web.pem -noout -serial | cut -d= -f2 | tr A-F a-f) $(openssl pkey -in lb/web.pem -pubout)"
# The key as "EC PRIVATE KEY" (key_encoding = pkcs1) for software that reads no PKCS#8; the
# setting changed back takes effect at the next pass.
printf '%s\n\n[target p1]\ncertificate = %s\ncert_path = %s/lb/p1.pem\nkey_path = %s/lb/p1.key\nkey_encoding = pkcs1\n' \
    "$(agent_head "$data/admin-token" p1)" "$lbc" "$T" "$T" > p1.conf
sed -i "s|^ca_file = .*|ca_file = $T/own-ca.pem|" p1.conf
expect_exit 0 "a target asking for the key in PKCS#1" -- "$CERTHUB" agent --config p1.conf --once
check_eq "the key written as EC PRIVATE KEY, the certificate's" \
    "-----BEGIN EC PRIVATE KEY----- $(openssl x509 -in lb/p1.pem -noout -pubkey | md5sum)" \
    "$(head -1 lb/p1.key) $(openssl pkey -in lb/p1.key -pubout | md5sum)"
sed -i 's/^key_encoding = pkcs1/key_encoding = pkcs8/' p1.conf
expect_exit 0 "the setting changed to pkcs8" -- "$CERTHUB" agent --config p1.conf --once
check_eq "takes effect at the next pass" "-----BEGIN PRIVATE KEY-----" "$(head -1 lb/p1.key)"
sed -i 's/^key_encoding = pkcs8/key_encoding = der/' p1.conf
expect_error "a key_encoding it does not know: refused, naming both" "key_encoding is pkcs8 (BEGIN PRIVATE KEY, the default) or pkcs1" -- \
    "$CERTHUB" agent --config p1.conf --once

# A Java server's keystore of it (keystore_path, its password in password_file): PKCS#12 or
# JKS by the file's extension, exported again only when the one there does not hold the
# certificate (a keystore is never the same bytes twice).
printf 'store-s3cret\n' > store.pw
printf '%s\n\n[target tomcat]\ncertificate = %s\nkeystore_path = %s/ks/web.p12\npassword_file = %s/store.pw\nalias = tomcat\n\n[target jetty]\ncertificate = %s\nkeystore_path = %s/ks/web.jks\npassword_file = %s/store.pw\n' \
    "$(agent_head "$data/admin-token" ks)" "$lbc" "$T" "$T" "$lbc" "$T" "$T" > ks.conf
sed -i "s|^ca_file = .*|ca_file = $T/own-ca.pem|" ks.conf
expect_exit 0 "targets writing a PKCS#12 and a JKS keystore" -- "$CERTHUB" agent --config ks.conf --once
check_contains "keytool reads the PKCS#12 with the password, the key entry under its alias" \
    "$(keytool -list -keystore ks/web.p12 -storetype PKCS12 -storepass store-s3cret 2>&1)" "tomcat,"
check_contains "and the JKS" "$(keytool -list -keystore ks/web.jks -storetype JKS -storepass store-s3cret 2>&1)" \
    "PrivateKeyEntry"
check_eq "openssl finds the certificate in force in the PKCS#12, mode 0600" \
    "$(openssl x509 -in lb/web.pem -noout -serial) 600" \
    "$(openssl pkcs12 -in ks/web.p12 -passin pass:store-s3cret -nokeys -clcerts 2>/dev/null | openssl x509 -noout -serial) $(stat -c %a ks/web.p12)"
cp ks/web.p12 web.p12.before
expect_exit 0 "a second pass" -- "$CERTHUB" agent --config ks.conf --once
check_eq "leaves a keystore that holds the certificate as it is" "" "$(cmp web.p12.before ks/web.p12)"
sed -i 's/^alias = tomcat$/alias = catalina/' ks.conf
expect_exit 0 "its alias changed" -- "$CERTHUB" agent --config ks.conf --once
check_contains "the keystore is written again under the new alias" \
    "$(keytool -list -keystore ks/web.p12 -storetype PKCS12 -storepass store-s3cret 2>&1)" "catalina,"
sed -i 's|^keystore_path = \(.*\)/ks/web.jks$|keystore_path = \1/ks/web.jks\nkeystore_format = p12|' ks.conf
expect_exit 0 "its format changed (keystore_format = p12 over a .jks)" -- "$CERTHUB" agent --config ks.conf --once
check_contains "written again in that format" "$(keytool -list -keystore ks/web.jks -storepass store-s3cret 2>&1)" \
    "Keystore type: PKCS12"
: > empty.pw
sed -i "s|^password_file = .*|password_file = $T/empty.pw|" ks.conf
cp ks/web.p12 web.p12.kept
expect_exit 1 "an empty password file: refused, not a keystore anyone opens" -- "$CERTHUB" agent --config ks.conf --once
check_contains "saying so" "$(cat "$T/stderr")" "tomcat: the password file $T/empty.pw is empty"
check_eq "(the keystore kept)" "" "$(cmp web.p12.kept ks/web.p12)"
# One file of a target that cannot take its place (a directory there now, as a file
# bind-mounted into a container refuses a rename): the others placed before it are put back,
# and the target's key stays its certificate's.
printf '%s\n\n[target all]\ncertificate = %s\ncert_path = %s/all/c.pem\nkey_path = %s/all/k.pem\nkeystore_path = %s/all/ks.p12\npassword_file = %s/store.pw\n' \
    "$(agent_head "$data/admin-token" all)" "$lbc" "$T" "$T" "$T" "$T" > all.conf
sed -i "s|^ca_file = .*|ca_file = $T/own-ca.pem|" all.conf
expect_exit 0 "a target of a certificate, its key and a keystore" -- "$CERTHUB" agent --config all.conf --once
cp all/k.pem all-k.before
cp all/c.pem all-c.before
api POST "/api/v1/certificates/$lbc/renew"
rm all/ks.p12 && mkdir all/ks.p12
expect_exit 1 "the keystore cannot take its place: the pass fails" -- "$CERTHUB" agent --config all.conf --once
check_eq "the key placed before it is put back, the certificate never moved" ":" \
    "$(cmp all-k.before all/k.pem):$(cmp all-c.before all/c.pem)"
check_eq "(and nothing left beside them)" "c.pem k.pem ks.p12" "$(ls all | tr '\n' ' ' | sed 's/ $//')"
rmdir all/ks.p12
expect_exit 0 "the next pass, the way clear" -- "$CERTHUB" agent --config all.conf --once
check_eq "places the renewal with its key" "$(openssl x509 -in all/c.pem -noout -pubkey)" "$(openssl pkey -in all/k.pem -pubout)"

printf '%s\n\n[target bad]\ncertificate = %s\nkeystore_path = %s/ks/web.store\npassword_file = %s/store.pw\n' \
    "$(agent_head "$data/admin-token" bad)" "$lbc" "$T" "$T" > bad.conf
expect_error "a keystore whose format cannot be told: refused, saying how" "keystore_format is p12 or jks" -- \
    "$CERTHUB" agent --config bad.conf --once
printf '%s\n\n[target lb]\ncertificate = %s\ncert_path = %s/lb/x.pem\nkey_path = %s/lb/x.pem\n' \
    "$(agent_head "$data/admin-token" lb)" "$lbc" "$T" "$T" > same.conf
expect_error "cert_path and key_path one file: refused, naming combined_path" "(both in one file: combined_path)" -- \
    "$CERTHUB" agent --config same.conf --once

# The quickstart CAs retired for one's own (operations.md, "Your own issuer"), the agent's
# ca_file kept by its bundle target: a pass after the new CAs are made, then the quickstart
# ones deleted.  certhubd serves a certificate of the default CA as soon as its issuer is
# deleted, so every pass after reaches it (it served the deleted CA's until the next
# --renew-check, an hour, while the bundle the agent wrote no longer held that root).
api POST /api/v1/cas '{"name":"Own Root","type":"root","subject":{"common_name":"Own Root"},"key_type":"p256"}'
own_root=$(body .id)
api POST /api/v1/cas "{\"name\":\"Own Issuing\",\"type\":\"intermediate\",\"parent_id\":\"$own_root\",\"subject\":{\"common_name\":\"Own Issuing\"},\"key_type\":\"p256\"}"
own_issuing=$(body .id)
api PATCH /api/v1/settings "{\"default_ca_id\":\"$own_issuing\"}"
check_eq "the new issuing CA is the default" 200 "$status"
expect_exit 0 "a pass with the new root in the bundle" -- "$CERTHUB" agent --config own.conf --once
renewed_before=$(grep -c 'server certificate renewed' "$log")
api DELETE "/api/v1/cas/$issuing_now?force=true"
check_eq "the quickstart issuing CA deleted" 200 "$status"
for i in $(seq 1 300); do [ "$(grep -c 'server certificate renewed' "$log")" -gt "$renewed_before" ] && break; sleep 0.1; done
check_eq "certhubd takes a certificate of the default CA at once" "$((renewed_before + 1))" \
    "$(grep -c 'server certificate renewed' "$log")"
# (the line is written as the new TLS context is made, just before the listener takes it, and
# ca.pem, which api trusts, holds the new root alone by then: a request in between fails)
for i in $(seq 1 300); do api GET /api/v1/health; [ "$status" = 200 ] && break; sleep 0.1; done
api DELETE "/api/v1/cas/$qs_root?force=true"
check_eq "the quickstart root deleted" 200 "$status"
expect_exit 0 "a pass after the quickstart CAs are gone" -- "$CERTHUB" agent --config own.conf --once
expect_exit 0 "and the pass after it, with the ca_file that pass wrote" -- "$CERTHUB" agent --config own.conf --once
api GET "/api/v1/cas/$own_root/chain"
check_eq "which holds the new CAs alone" "2 $(sed -n 2p "$T/body")" \
    "$(grep -c 'BEGIN CERTIFICATE' own-ca.pem) $(grep -F "$(sed -n 2p "$T/body")" own-ca.pem)"

done_testing
