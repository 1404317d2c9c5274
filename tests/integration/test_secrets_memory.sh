#!/usr/bin/env bash
# Secrets leave no copy in memory once used: after certhubd has imported a private key, exported
# it, opened a PKCS#12 with its password, signed a console user in, made a token and had a
# webhook's secret set and its settings read, none of them is anywhere in its memory (every
# block that held one was wiped as it was freed, and a webhook's secret is opened only to sign
# an alert); nor is the key in the memory of `certhub agent` after it wrote the key to its file
# and went to sleep.  Before they were wiped, every run found the key and the tokens in freed
# blocks of certhubd's heap, most also the PKCS#12 or the console password, and three copies of
# the key in the agent's; and five copies of the webhook's secret where the settings were read.
# The memory is read through /proc/PID/mem: certhubd is not dumpable, so only a reader with
# CAP_SYS_PTRACE may; elsewhere the test is skipped (exit 77).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
scan="python3 $CERTHUB_SOURCE_DIR/tests/integration/memscan.py"

start_daemon
TOKEN=$(cat "$data/admin-token")
rc=0
echo | $scan "$pid" || rc=$?
if [ "$rc" = 77 ]; then
    echo "# skipped: certhubd's memory cannot be read here (CAP_SYS_PTRACE is needed)"
    stop_daemon
    exit 77
fi
[ "$rc" = 0 ] || fail "memscan failed ($rc)"

# needles LABEL FILE: the lines of a PEM file between its armour, each whole (64 characters of
# base64; the last, shorter one is left out: it could be found by chance), as memscan reads them.
needles() { sed -e '1d' -e '$d' "$2" | sed '$d' | awk -v l="$1" '{print l "\t" $0}'; }

# A key imported in a JSON body, and exported again.
openssl req -x509 -newkey rsa:2048 -nodes -keyout web.key -subj /CN=memory.example -days 30 -out web.pem 2>/dev/null
api POST /api/v1/certificates/import \
    "$(jq -nc --rawfile c web.pem --rawfile k web.key '{name: "memory", certificate: $c, private_key: $k}')"
check_eq "a certificate imported with its key" 201 "$status"
id=$(body .id)
api POST /api/v1/certificates/"$id"/private-key
check_eq "the key exported" 200 "$status"
# The export is the same PKCS#8 as the import, written anew: its lines are needles too.
cp "$T/body" exported.key
grep -q "BEGIN PRIVATE KEY" exported.key || fail "the export is not a PEM key: $(head -c 200 exported.key)"

# A PKCS#12 sent as the raw body, its password in a header.
p12pass="p12-password-$RANDOM$RANDOM-in-memory"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout p12.key -subj /CN=p12.example \
    -days 30 -out p12.pem 2>/dev/null
openssl pkcs12 -export -inkey p12.key -in p12.pem -passout "pass:$p12pass" -out bundle.p12
api POST /api/v1/certificates/import "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: $p12pass" \
    --data-binary @bundle.p12
check_eq "a PKCS#12 imported with its password" 201 "$status"

# The admin signing in to the console, and a token made.
password=$(cat "$data/admin-password")
TOKEN="" api POST /api/v1/session "$(jq -nc --arg p "$password" '{username: "admin", password: $p}')"
check_eq "the admin signed in" 201 "$status"
api POST /api/v1/tokens '{"role":"viewer","name":"memory"}'
check_eq "a token made" 201 "$status"
made=$(body .token)

# A webhook's secret, set and then read back by what reads the settings (the session, the
# settings themselves): kept sealed, opened by an alert's sender alone.  It sat opened in the settings of each of those readers before.
hook_secret="webhook-secret-$RANDOM$RANDOM-in-memory"
api PATCH /api/v1/settings "$(jq -nc --arg s "$hook_secret" '{webhooks: [{url: "https://hooks.example/certhub", secret: $s}]}')"
check_eq "a webhook set with its secret" 200 "$status"
for i in 1 2 3; do
    api GET /api/v1/session
    check_eq "the session read" 200 "$status"
    api GET /api/v1/settings
    check_eq "the settings read" 200 "$status"
    grep -q "$hook_secret" "$T/body" && fail "the settings show the webhook's secret: $(cat "$T/body")"
done

{
    needles "imported key" web.key
    needles "exported key" exported.key
    printf 'PKCS#12 password\t%s\n' "$p12pass"
    printf 'console password\t%s\n' "$password"
    printf 'API token of the requests\t%s\n' "$TOKEN"
    printf 'token made\t%s\n' "$made"
    printf 'webhook secret\t%s\n' "$hook_secret"
} >needles.txt
[ "$(wc -l <needles.txt)" -gt 40 ] || fail "too few needles: $(cut -f1 needles.txt)"
# Once certhubd has closed every connection of those requests (freeing, and so wiping, what
# they held): none of its sockets on the port left but the listener's.  A fixed pause could
# end before a loaded machine's loops had come to the clients' closes.
for i in $(seq 1 300); do
    [ -z "$(ss -Htn state established state close-wait "( sport = :$port )")" ] && break
    sleep 0.1
done
found=$($scan "$pid" <needles.txt) || fail "secrets found in certhubd's memory: $found"
ok "none of the secrets is in certhubd's memory ($(wc -l <needles.txt) searched)"

# The agent: a key downloaded and written to its file, the agent asleep until its next pass.
echo "$TOKEN" >agent.token
cat >agent.conf <<CONF
server = https://localhost:$port
token_file = $T/agent.token
ca_file = $data/ca.pem
interval = 3600
state = $T/agent.state

[target web]
certificate = $id
cert_path = $T/out/web.pem
key_path = $T/out/web.key
CONF
"$CERTHUB" agent --config agent.conf >agent.log 2>&1 &
agent=$!
for i in $(seq 1 600); do
    [ -s agent.state ] && break
    sleep 0.05
done
cmp -s web.key out/web.key || { kill "$agent"; fail "the agent did not write the key: $(cat agent.log)"; }
ok "the agent wrote the key"
# Asleep until its next pass: in the kernel's nanosleep (its state file is written a moment
# before the pass ends).
for i in $(seq 1 300); do
    grep -q nanosleep "/proc/$agent/wchan" 2>/dev/null && break
    sleep 0.05
done
found=$(needles "key" web.key | $scan "$agent") || { kill "$agent"; fail "the key found in the agent's memory: $found"; }
kill "$agent"
wait "$agent" 2>/dev/null || true
ok "the key is not in the agent's memory"
stop_daemon
done_testing
