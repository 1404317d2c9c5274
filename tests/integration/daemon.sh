# Helpers for tests that run certhubd (bash; source after lib.sh).  start_daemon runs it on
# a free loopback port with its data in $data, retrying on a taken port (with the words of
# $DAEMON_ENV, VAR=value, in its environment only); api calls the REST API with curl,
# verifying TLS against the daemon's own CA.
[ -n "${CERTHUBD:-}" ] || fail "CERTHUBD must name the certhubd binary"
data="$T/data"
pid=""
log=""
# Whether process $1 runs: kill -0 also succeeds on a child that has exited and not yet been
# waited for (a zombie).
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}
# stop_daemon [-SIGNAL]: SIGTERM by default, and certhubd must then stop by itself within
# 15 s (in-flight requests finish); one that does not is killed and the test fails, rather
# than hang in a wait until CTest's timeout kills the script and leaves the daemon running.
# A daemon that this script kills with SIGKILL is reaped with the shell's stderr set aside:
# bash reports a job that a signal ended ("daemon.sh: line 14: 31186 Killed  env ...") at
# whatever command runs when it notices, a line that reads like a crash in a test's log.  One
# that dies by itself is still reported, and on_exit says how it ended.
stop_daemon() {
    local sig=${1:--TERM} i stuck=""
    if [ -n "$pid" ]; then
        {
            kill "$sig" "$pid" || true
            for i in $(seq 1 300); do
                alive "$pid" || break
                sleep 0.05
            done
            if alive "$pid"; then
                stuck=1
                kill -KILL "$pid" || true
            fi
            wait "$pid" || true
        } 2>/dev/null
        pid=""
        [ -z "$stuck" ] || fail "certhubd did not stop within 15 s of SIG${sig#-}"
    fi
    pid=""
}
# On a failure (also one that set -e ends without a word), say whether certhubd was still
# running and show the end of its log: the directory with the log goes with the test.
on_exit() { # [STATUS]: the test's exit status, when a trap of its own ran commands first
    local rc=${1:-$?}
    if [ "$rc" != 0 ] && [ -n "$pid" ]; then
        if alive "$pid"; then
            echo "# (the test ended with status $rc; certhubd was running)" >&2
        else
            wait "$pid" 2>/dev/null && st=0 || st=$?
            echo "# (the test ended with status $rc; certhubd had exited with status $st)" >&2
        fi
        # (without the first start's lines that hold the token and the password)
        # (errexit holds in this trap: a log whose every line is left out, which grep -v
        # answers with status 1, must not end it before the daemon is stopped below)
        [ -n "$log" ] && [ -f "$log" ] && { echo "# the end of certhubd's log:" >&2
            grep -v -e 'API token' -e 'password' "$log" | tail -n 30 | sed 's/^/#   /' >&2 || true; }
    fi
    stop_daemon -KILL
    rm -rf "$T"
}
trap on_exit EXIT

# fake_clock: the next start_daemon runs certhubd, and only certhubd, on a clock libfaketime
# moves.  $T/clock holds its offset from now, "+0" at first; the test writes another ("+13h",
# "+70d", "+SECONDS") to move it, read at every call; the test's own commands keep the real
# time.
fake_clock() {
    local lib
    lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
    [ -n "$lib" ] || fail "libfaketime is missing (Debian package faketime; scripts/deps.sh installs it)"
    echo "+0" >"$T/clock"
    DAEMON_ENV="LD_PRELOAD=$lib FAKETIME_TIMESTAMP_FILE=$T/clock FAKETIME_NO_CACHE=1"
}

start_daemon() {
    local attempt i
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        log="$T/daemon.log.$attempt"
        # Emptied here, before the daemon starts: a restart writes to the log of an earlier
        # start, whose "listening on" the wait below would otherwise find before the new
        # process has truncated it.
        : >"$log"
        # shellcheck disable=SC2086
        env ${DAEMON_ENV:-} "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$port" --threads 2 "$@" >"$log" 2>&1 &
        pid=$!
        for i in $(seq 1 600); do
            grep -q "listening on" "$log" 2>/dev/null && return 0
            alive "$pid" || break
            sleep 0.05
        done
        # Not listening after 30 s, or gone: stopped before it is waited for (a wait on a
        # daemon still running would hang the test until CTest's timeout killed the script,
        # and the daemon would outlive it).
        { kill -KILL "$pid" || true; wait "$pid" || true; } 2>/dev/null
        pid=""
    done
    fail "certhubd did not start: $(cat "$T"/daemon.log.*)"
}

# api METHOD PATH [JSON] [curl args...]: the body in $T/body, the status in $status.
api() {
    local method=$1 path=$2 json=${3:-}
    shift 2
    [ $# -gt 0 ] && shift
    # --max-time: a server that stopped answering fails the check at hand, not the whole run later.
    local args=(-s --max-time 120 -o "$T/body" -w '%{http_code}' --cacert "$data/ca.pem" -X "$method")
    [ -n "${TOKEN:-}" ] && args+=(-H "Authorization: Bearer $TOKEN")
    [ -n "$json" ] && args+=(-H "Content-Type: application/json" --data "$json")
    status=$(curl "${args[@]}" "$@" "https://localhost:$port$path" || true)
}

# jq over the last body.
body() { jq -r "$1" "$T/body"; }

# walk_pages PATH LIMIT [FIELD]: the ids (or FIELD) of a list endpoint's items read a page of
# LIMIT at a time, following next_cursor (one line, space separated); fails on a page that is
# not a 200.
walk_pages() {
    local path=$1 limit=$2 field=${3:-id} cursor="" ids="" sep
    case $path in *\?*) sep="&" ;; *) sep="?" ;; esac
    while :; do
        api GET "$path${sep}limit=$limit${cursor:+&cursor=$cursor}"
        [ "$status" = 200 ] || fail "$path page after '$cursor': $status $(cat "$T/body")"
        [ "$(body '.items | length')" -le "$limit" ] || fail "$path: a page longer than $limit"
        ids="$ids $(body "[.items[].$field] | join(\" \")")"
        cursor=$(body '.next_cursor // empty')
        [ -n "$cursor" ] || break
    done
    echo $ids
}

# The id of the quickstart issuing CA (the CA list stays in $T/body).
quickstart_issuer() { # [curl args]
    api GET /api/v1/cas "" "$@"
    body '.items[] | select(.name | startswith("certhub Quickstart Issuing")) | .id'
}

# wait_rounds N [curl args...]: returns once N whole rounds of certhubd's scheduler have run
# since the call, as its /metrics counts them (with $TOKEN).  A check that nothing more happens
# (nothing renewed twice, no alert sent again) waits for rounds, not for seconds: a loaded
# machine may run none in a fixed sleep, and the check would pass without having looked.  (The
# round under way at the call may have begun before it: N + 1 are counted.)  A request that
# failed (curl's status, through pipefail) is asked again rather than end the test unsaid: errexit
# ends the script at an assignment whose $(...) fails.
scheduler_rounds() {
    curl -s --max-time 60 --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" "$@" \
        "https://localhost:$port/metrics" | awk '$1 == "certhub_scheduler_rounds_total" {print $2}'
}
wait_rounds() {
    local n=$1 from="" now="" i
    shift
    for i in $(seq 1 600); do
        now=$(scheduler_rounds "$@") || now=""
        if [ -z "$from" ]; then
            from=$now
        elif [ -n "$now" ] && [ "$now" -gt $((from + n)) ]; then
            return 0
        fi
        sleep 0.1
    done
    [ -n "$from" ] || fail "/metrics showed no certhub_scheduler_rounds_total in a minute"
    fail "certhubd's scheduler ran $((${now:-$from} - from)) rounds in a minute, not $((n + 1))"
}

# webhook_receiver: starts tests/integration/webhook_receiver.py on a free loopback port, each
# request it takes a line of $T/hooks (signature, tab, body), its URL in $hook; stopped when the
# test ends.
webhook_receiver() {
    local i
    python3 "$CERTHUB_SOURCE_DIR/tests/integration/webhook_receiver.py" "$T/hooks" "$T/hookport" &
    hookpid=$!
    trap 'rc=$?; kill $hookpid 2>/dev/null || true; on_exit $rc' EXIT
    for i in $(seq 1 300); do [ -s "$T/hookport" ] && break; sleep 0.1; done
    [ -s "$T/hookport" ] || fail "the webhook receiver did not start"
    touch "$T/hooks"
    hook="http://127.0.0.1:$(cat "$T/hookport")/alerts"
}
