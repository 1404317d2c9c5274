#!/usr/bin/env bash
# The CLI and the agent against a server that answers anything: a certhubd of another version,
# a proxy, a hostile server.  Each remote command runs once through hostile_server.py, which
# passes its requests on to a real certhubd and records the answers; then once against each
# mutation of those answers: other statuses (a redirect, 204, 4xx and 5xx with any body), bodies
# that are not JSON, empty, cut short, nested deep or of 10 MB, every value of a type turned
# into another (text into numbers, null, objects, arrays, 8 KB, a path out of the agent's
# files, escape sequences...), each field dropped or of another type.  Every run must end with
# status 0 or 1 (never a signal, a sanitizer's report or a hang); one that succeeds wrote the
# files the recorded answers made and nothing else, and printed the word it prints (a new id);
# no escape sequence of the server's reaches the terminal; the agent writes nothing but its own
# files and never replaces a good certificate, key or bundle with what is not one, nor empties
# the broker's CA directory for an answer that is not a list; an error answered with a success
# status fails the command.  About 5500 runs, a minute.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start=$(now_us)
start_daemon
TOKEN=$(cat "$data/admin-token")
real() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }

# ---- what the commands work on, made on the real certhubd
issuer=$(quickstart_issuer)
cert=$(real cert issue --subject CN=web.example --san dns:web.example --ca-id "$issuer" --name web)
renewed=$(real cert issue --subject CN=agent.example --san dns:agent.example --ca-id "$issuer" --auto-renew)
real cert renew "$renewed" >/dev/null
doomed_cert=$(real cert issue --subject CN=doomed.example --ca-id "$issuer")
ca=$(real ca create --name hostile-root --subject CN=hostile-root)
doomed_ca=$(real ca create --name doomed-root --subject CN=doomed-root)
rotated_ca=$(real ca create --name rotated-root --subject CN=rotated-root)
csr=$(real csr new --subject CN=partner.example --san dns:partner.example --out partner.csr)
attach_csr=$(real csr new --subject CN=attach.example)
doomed_csr=$(real csr new --subject CN=doomed-csr.example)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout oca.key -subj "/CN=Outside CA" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -days 5 -out oca.pem 2>/dev/null
real csr export "$attach_csr" --out attach.csr
openssl x509 -req -in attach.csr -CA oca.pem -CAkey oca.key -CAcreateserial -days 2 -out attach.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout byo.key -subj "/CN=Brought CA" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -days 5 -out byo.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout imp.key -subj "/CN=imported.example" \
    -days 5 -out imp.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout imp2.key -subj "/CN=imported2.example" \
    -days 5 -out imp2.pem 2>/dev/null
mkdir folder && cp imp.pem folder/imp.pem && cp imp.key folder/imp.key
echo s3cret-pass > pw
openssl pkcs12 -export -in imp.pem -inkey imp.key -name one -passout pass:s3cret-pass -out one.p12
ks=$(real keystore create --certificate "$cert" --format p12 --alias web)
extra_cert=$(real cert issue --subject CN=extra.example --ca-id "$issuer")
real keystore entry-add "$ks" --certificate "$extra_cert" --alias extra >/dev/null
doomed_ks=$(real keystore create --certificate "$extra_cert" --format jks)
trusted=$(real trusted add oca.pem --name outside)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout t2.key -subj "/CN=Trusted Two" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -days 5 -out t2.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout t3.key -subj "/CN=Trusted Three" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -days 5 -out t3.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout t4.key -subj "/CN=Trusted Four" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -days 5 -out t4.pem 2>/dev/null
cat t3.pem t4.pem > bulk.pem
code=$(real trusted verification-code "$trusted")
"$CERTHUB" cert create --profile tls-client --subject "CN=$code" --key-type p256 --key-out proof.key \
    --ca oca.pem --ca-key oca.key --days 1 --out proof.pem
real device add sensor-1 >/dev/null
real device add sensor-2 >/dev/null
real token create --role viewer --name hostile-viewer >/dev/null
tok=$(real --output json token list | jq -r '.items[] | select(.name == "hostile-viewer") | .id')
echo "a-long-password" > user.pw
real user create hostile-user --password-file user.pw >/dev/null
real user create doomed-user --password-file user.pw >/dev/null
real tenant create hostile-tenant >/dev/null
real profile create hostile-profile --key-usage digital_signature --ext-key-usage client_auth --max-days 30 >/dev/null
real profile create doomed-profile --key-usage digital_signature >/dev/null
root_fp=$(openssl x509 -in "$data/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)

# ---- the hostile server, over plain HTTP on loopback (as the CLI takes it there)
mkdir h
escape="$T/escaped"
python3 "$CERTHUB_SOURCE_DIR/tests/integration/hostile_server.py" "$T/h" "$T/h/port" "https://127.0.0.1:$port" \
    "$data/ca.pem" "../../../../../../../../..$escape" &
hpid=$!
trap 'rc=$?; kill $hpid 2>/dev/null || true; on_exit $rc' EXIT
for i in $(seq 1 300); do [ -s h/port ] && break; sleep 0.1; done
[ -s h/port ] || fail "the hostile server did not start"
hurl="http://127.0.0.1:$(cat h/port)"

# ---- the agent, its files under agent/ alone
mkdir -p agent/files agent/cwd
cat > agent/agent.conf <<EOF
server = $hurl
token_file = $data/admin-token
state = $T/agent/state

[target web]
certificate = $renewed
cert_path = $T/agent/files/web.pem
key_path = $T/agent/files/web.key

[target trust]
bundle = default
path = $T/agent/files/bundle.pem

# (a tenant without a CA: its bundle is empty, and written so)
[target empty]
bundle = default
tenant = hostile-tenant
path = $T/agent/files/empty.pem

[target broker]
trusted = mqtt
dir = $T/agent/files/mqtt

[target connector]
trusted = trust
path = $T/agent/files/trusted.pem
EOF

# The commands, one a line (words split by the shell; --out files go to out/).
commands=$(cat <<EOF
ca list
--output json ca list --all --limit 1
ca get $ca
ca chain $ca --out out/chain.pem
ca create --name made-root --subject CN=made-root
ca import byo.pem --key byo.key --name brought
ca rotate $rotated_ca
ca update $ca --name hostile-renamed --auto-rotate on
ca delete $doomed_ca --force
ca bundle --out out/bundle.pem
ca bundle --format p12 --password-file pw --out out/bundle.p12
ca bundle --fingerprint $root_fp --out out/bundle-fp.pem
cert list
cert list --all --limit 2
--output json cert list --all --limit 2
cert get $cert
--output json cert get $cert
cert issue --subject CN=new.example --san dns:new.example --ca-id $issuer --out out/new.pem --key-out out/new.key
cert issue --subject CN=chain.example --ca-id $issuer --chain --out out/chain-new.pem
cert export $cert --out out/web.pem
cert export $cert --format p12 --password-file pw --out out/web.p12
cert export $cert --with-key --out out/web-key.pem
cert update $cert --name web-renamed --auto-renew on
cert renew $cert --out out/renewed.pem
cert key $cert --out out/web.key
cert import imp.pem --name imported
cert import folder
--output json cert import folder
cert import imp2.pem --key imp2.key --name imported-key
cert delete $doomed_cert
csr new --subject CN=fresh.example --out out/fresh.csr
csr list
csr get $csr
csr export $csr --out out/partner.csr
csr attach $attach_csr attach.pem
csr delete $doomed_csr
keystore upload one.p12 --password-file pw
keystore create --certificate $cert --format jks --name made-jks
keystore list
keystore get $ks
keystore entries $ks
keystore entry $ks web
keystore entry-add $ks --certificate $cert --alias added
keystore entry-rename $ks extra renamed
keystore entry-delete $ks added
keystore export $ks --format jks --password-file pw --with-key --out out/ks.jks
keystore delete $doomed_ks
trusted add t2.pem --name two
trusted add t3.pem --preview
trusted bulk bulk.pem
trusted list
trusted get $trusted
trusted update $trusted --name renamed --auto-registration on
trusted verify $trusted proof.pem
trusted verification-code $trusted
device list
device get sensor-1
device add sensor-3
device block sensor-1
device unblock sensor-1
device delete sensor-2
device decisions
token create --role viewer --name made --expires 30d
token list
token get $tok
token revoke $tok --cascade
user list
user create made-user --password-file user.pw
user update hostile-user --role operator
user delete doomed-user
tenant create made-tenant
tenant list
tenant get hostile-tenant
tenant revoke hostile-tenant
tenant restore hostile-tenant
profile list
profile get hostile-profile
profile create made-profile --key-usage digital_signature
profile update hostile-profile --description changed
profile delete doomed-profile
audit list --limit 5
settings get
settings set --alert-days 30,7
agent --config $T/agent/agent.conf --once
EOF
)

hostile() {
    "$CERTHUB" --server "$hurl" --token-file "$data/admin-token" "$@"
}

# The agent's own files, and what they held after the recorded pass.
agent_files() {
    (cd agent && find . -mindepth 1 | LC_ALL=C sort | grep -v -e '^\./files/mqtt/[0-9a-f]\{8\}\.[0-9]$')
}

mkdir out
problems=()
# say WHAT: a problem, said as it is found and counted for the end.
say() {
    problems+=("$1")
    echo "# PROBLEM: $1" >&2
}
# (The loop below runs some 5000 commands: it starts no process of its own where a builtin
# does, a glob of an empty directory being empty.)
shopt -s nullglob
n=0 ran=0 runs=0
while read -r line; do
    n=$((n + 1))
    # (HOSTILE_ONLY=REGEX: only the commands it matches, when looking into one)
    [[ -z "${HOSTILE_ONLY:-}" || "$line" =~ $HOSTILE_ONLY ]] || continue
    read -ra words <<<"$line"
    ran=$((ran + 1))
    echo "record $n" > h/ctl
    rm -rf out && mkdir out
    rc=0
    hostile "${words[@]}" >"$T/stdout" 2>"$T/stderr" || rc=$?
    [ "$rc" = 0 ] || fail "recording '$line': exit $rc: $(cat "$T/stderr")"
    rm -rf out.rec && cp -a out out.rec
    recorded=(out.rec/*)
    # A command that prints one word (the id it made, a token, a code) prints one whenever it
    # succeeds: an empty line read as an id goes on into a script's next command.
    one_word=""
    if [ "$(wc -l <"$T/stdout")" = 1 ] && [[ $(<"$T/stdout") =~ ^[^[:space:]]+$ ]]; then
        one_word=1
    fi
    agent=""
    if [ "${words[0]}" = agent ]; then
        agent=1
        cp -a agent agent.good
        good_files=$(agent_files)
        all_files=$(cd agent && find . | LC_ALL=C sort)
    fi
    read -r count whole odd errs < "h/rec/$n.count"
    echo "# $line: $count mutations"
    for ((m = 0; m < count; m++)); do
        echo "replay $n $m" > h/ctl
        written=(out/*)
        [ "${#written[@]}" = 0 ] || { rm -rf out && mkdir out; }
        rc=0
        if [ -z "$agent" ]; then
            timeout -k 5 30 "$CERTHUB" --server "$hurl" --token-file "$data/admin-token" "${words[@]}" \
                >"$T/stdout" 2>"$T/stderr" || rc=$?
        else
            # (run from a directory of its own, which must stay empty)
            rm -rf agent && cp -a agent.good agent
            (cd agent/cwd && exec timeout -k 5 30 "$CERTHUB" "${words[@]}") >"$T/stdout" 2>"$T/stderr" || rc=$?
        fi
        runs=$((runs + 1))
        what="'$line' with mutation $m"
        if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
            say "$what: exit $rc: $(head -c 300 "$T/stderr")"
        fi
        while IFS= read -r said || [ -n "$said" ]; do
            case $said in
            *AddressSanitizer* | *"runtime error"* | *LeakSanitizer*) say "$what: $said" ;;
            esac
        done <"$T/stderr"
        [ ! -e "$escape" ] || { say "$what: wrote $escape"; rm -rf "$escape"; }
        # Escape sequences in every string of the answers reach the terminal as '?'.
        if [ "$m" = "$odd" ] && grep -qa $'\e' "$T/stdout" "$T/stderr"; then
            say "$what: an escape sequence of the server's reached the terminal"
        fi
        # And a C1 control (U+009B, CSI to a terminal) and a right-to-left override (U+202E, one
        # name shown as another), but in --output json, which is for programs: there JSON
        # carries the text as it is.
        if [ "$m" = "$odd" ]; then
            for f in "$T/stderr" $([[ "$line" == *"--output json"* ]] || echo "$T/stdout"); do
                if LC_ALL=C grep -qa -e $'\xc2\x9b' -e $'\xe2\x80\xae' "$f"; then
                    say "$what: a C1 control or a bidirectional override of the server's reached the terminal"
                fi
            done
        fi
        # An error behind a success status (a proxy, a gateway) is an error: exit 1.
        if [ "$rc" = 0 ] && [[ ",$errs," == *",$m,"* ]]; then
            say "$what: exit 0 for an error answered with HTTP 2xx"
        fi
        if [ "$rc" = 0 ] && [ -n "$one_word" ]; then
            first=""
            read -r first <"$T/stdout" || true
            [ -n "$first" ] || say "$what: exit 0, and not the one word it prints"
        fi
        # A command that succeeds wrote the files the recorded answers made, not what it was
        # given instead (a page, an error, nothing).
        written=(out/*)
        if [ "$rc" = 0 ] && [ "${#written[@]}${#recorded[@]}" != 00 ] && ! diff -r out.rec out >/dev/null; then
            say "$what: exit 0, and its files are not those recorded"
        fi
        if [ -n "$agent" ]; then
            now_files=$(agent_files)
            [ "$now_files" = "$good_files" ] || say "$what: the agent's files became: $now_files"
            for f in web.pem web.key bundle.pem empty.pem; do
                cmp -s "agent/files/$f" "agent.good/files/$f" || say "$what: the agent rewrote $f"
            done
            # An answer changed whole (a page, an error, nothing) changes no file at all: the
            # broker's CA directory keeps each certificate's file.
            if [ "$m" -lt "$whole" ] && [ "$(cd agent && find . | LC_ALL=C sort)" != "$all_files" ]; then
                say "$what: the agent's files became: $(cd agent && find . | LC_ALL=C sort)"
            fi
            # Nor the trust list's file (a list of other values, fewer enabled, may change it).
            if [ "$m" -lt "$whole" ] && ! cmp -s agent/files/trusted.pem agent.good/files/trusted.pem; then
                say "$what: the agent rewrote trusted.pem"
            fi
        fi
    done
done <<<"$commands"
[ "${#problems[@]}" = 0 ] || fail "$(printf '%s\n' "${problems[@]}")"
ok "$ran commands, $runs runs against hostile answers: each exit 0 or 1, the agent's files its own and whole"
echo "# $(secs_since "$start") s"
done_testing
