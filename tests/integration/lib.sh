# Shared helpers of the integration tests (bash).  Each test sources this file, gets a fresh
# temporary directory in $T (removed on exit), and fails on the first broken check.
set -euo pipefail

: "${CERTHUB:?CERTHUB must name the certhub binary}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
checks=0

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

ok() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}

# check_eq WHAT EXPECTED ACTUAL
check_eq() {
    [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
    ok "$1"
}

# check_contains WHAT HAYSTACK NEEDLE
check_contains() {
    case "$2" in
    *"$3"*) ok "$1" ;;
    *) fail "$1: '$3' not found in: $2" ;;
    esac
}

# expect_exit STATUS WHAT -- COMMAND...: runs COMMAND, checks its exit status; its stderr is
# left in $T/stderr.
expect_exit() {
    local want=$1 what=$2 rc=0
    shift 3
    "$@" >"$T/stdout" 2>"$T/stderr" || rc=$?
    [ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want; stderr: $(cat "$T/stderr")"
    ok "$what (exit $want)"
}

# expect_error WHAT MESSAGE -- COMMAND...: exit 1 with exactly one line on stderr holding MESSAGE.
expect_error() {
    local what=$1 msg=$2
    shift 3
    expect_exit 1 "$what" -- "$@"
    [ "$(wc -l <"$T/stderr")" = 1 ] || fail "$what: expected one line on stderr, got: $(cat "$T/stderr")"
    grep -qF -- "$msg" "$T/stderr" || fail "$what: stderr lacks '$msg': $(cat "$T/stderr")"
}

# expect_usage WHAT MESSAGE -- COMMAND...: a usage error: exit 2, stderr holding MESSAGE and the
# command's usage line.
expect_usage() {
    local what=$1 msg=$2
    shift 3
    expect_exit 2 "$what" -- "$@"
    grep -qF -- "$msg" "$T/stderr" || fail "$what: stderr lacks '$msg': $(cat "$T/stderr")"
    grep -q '^usage: certhub ' "$T/stderr" || fail "$what: no usage line: $(cat "$T/stderr")"
}

# A loopback port nothing listens on now, below the kernel's ephemeral range: a port in that
# range may be taken by any test's outgoing connection between the pick and the listen.
# faked TIME COMMAND...: COMMAND with its clock at TIME, libfaketime's form ("@2030-01-01
# 00:00:00" from then on, "-40d" that far back).  The library itself, not the faketime wrapper:
# the wrapper's semaphore (sem_open) failed now and then with "File exists" when tests ran side
# by side, and the command it was to run did not run.
faked() {
    local lib
    lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
    [ -n "$lib" ] || fail "libfaketime is missing (Debian package faketime; scripts/deps.sh installs it)"
    LD_PRELOAD=$lib FAKETIME="$1" "${@:2}"
}

free_port() {
    local lo p
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
    while :; do
        p=$((10000 + RANDOM % (lo - 10000)))
        (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
    done
}

# now_us: the wall clock in microseconds, from bash's $EPOCHREALTIME (no process started; its
# decimal point is the locale's).  For a time a test reports, or one it measures against a
# window of less than a few seconds, which whole seconds ($SECONDS, date +%s) cannot resolve.
now_us() {
    local t=$EPOCHREALTIME
    echo "${t/[.,]/}"
}

# secs_since START: the seconds from START (a now_us) to now, to the millisecond ("1.234").
secs_since() {
    local d=$(($(now_us) - $1))
    printf '%d.%03d\n' $((d / 1000000)) $((d / 1000 % 1000))
}

# outside_ca: a root (corp-root.pem, .key) and an issuing CA under it (corp-issuing.pem, .key),
# made by openssl as an enterprise PKI outside certhub makes them.
outside_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout corp-root.key -subj "/CN=Corp Root" \
        -days 3650 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out corp-root.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout corp-issuing.key -subj "/CN=Corp Issuing" \
        -out corp-issuing.csr 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > corp-ca.ext
    openssl x509 -req -in corp-issuing.csr -CA corp-root.pem -CAkey corp-root.key -CAcreateserial -days 1825 \
        -extfile corp-ca.ext -out corp-issuing.pem 2>/dev/null
}

done_testing() {
    echo "$checks passed, 0 failed"
}
