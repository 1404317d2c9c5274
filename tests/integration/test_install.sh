#!/usr/bin/env bash
# `cmake --install` puts the programs, the mosquitto plugin and the documents under a prefix,
# and the installed programs run from there.
. "$(dirname "$0")/lib.sh"

[ -n "${CERTHUB_BUILD_DIR:-}" ] || fail "CERTHUB_BUILD_DIR must name the build directory"
cmake --install "$CERTHUB_BUILD_DIR" --prefix "$T/prefix" >install.log 2>&1 || fail "cmake --install: $(cat install.log)"
for f in bin/certhub bin/certhubd share/doc/certhub/operations.md share/doc/certhub/openapi.yaml \
    share/man/man1/certhub.1 share/man/man8/certhubd.8; do
    [ -e "$T/prefix/$f" ] || fail "$f was not installed"
done
ok "the programs, the documents and the manuals are installed"
# grep reads the whole page (no -q): under pipefail, grep -q leaving at its first match could
# fail the pipeline with man still writing.
command -v man >/dev/null && { man -l "$T/prefix/share/man/man8/certhubd.8" 2>/dev/null | grep -c -- "--backup" >/dev/null ||
    fail "man certhubd does not read"; ok "man reads certhubd(8)"; }
if [ -e "$CERTHUB_BUILD_DIR/certhub_mosquitto.so" ]; then
    [ -e "$T/prefix/lib/certhub/certhub_mosquitto.so" ] || fail "the mosquitto plugin was not installed"
    ok "the mosquitto plugin where docs/mosquitto.md says (PREFIX/lib/certhub)"
fi
check_contains "the installed certhub runs" "$("$T/prefix/bin/certhub" --version)" "certhub "
check_contains "the installed certhubd runs" "$("$T/prefix/bin/certhubd" --version)" "certhubd "
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj /CN=installed -days 2 \
    -out c.pem 2>/dev/null
check_contains "and does its work" "$("$T/prefix/bin/certhub" inspect c.pem)" "CN=installed"

# The systemd unit names the installed certhubd and is a unit systemd accepts; the example
# configuration is one the installed certhubd starts with.
unit="$T/prefix/lib/systemd/system/certhubd.service"
check_contains "a systemd unit, naming certhubd where it was installed" "$(grep '^ExecStart=' "$unit")" \
    "ExecStart=$T/prefix/bin/certhubd --config /etc/certhub/certhubd.conf"
if command -v systemd-analyze >/dev/null; then
    MANPATH="$T/prefix/share/man" systemd-analyze verify "$unit" >verify.log 2>&1 || fail "systemd-analyze: $(cat verify.log)"
    ok "systemd-analyze verify finds nothing wrong with it"
fi
. "$(dirname "$0")/daemon.sh"
CERTHUBD="$T/prefix/bin/certhubd"
start_daemon --config "$T/prefix/share/doc/certhub/examples/certhubd.conf"
check_eq "the installed certhubd serves with the example configuration (its data directory and address given)" \
    200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/ca.pem" "https://localhost:$port/api/v1/health")"
stop_daemon
done_testing
