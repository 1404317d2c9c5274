#!/usr/bin/env bash
# Every route of certhubd is in docs/api/openapi.yaml and every operation there exists in the
# code (the route table printed by `certhubd --routes`).
. "$(dirname "$0")/lib.sh"

[ -n "${CERTHUBD:-}" ] || fail "CERTHUBD must name the certhubd binary"
spec="$CERTHUB_SOURCE_DIR/docs/api/openapi.yaml"
"$CERTHUBD" --routes | sort > code.txt
# "  /path:" lines open a path; "    get:" lines under it are its operations.
awk '/^  \/[^ ]*:$/ { path = substr($1, 1, length($1) - 1); next }
     /^    (get|post|put|patch|delete):$/ { m = toupper(substr($1, 1, length($1) - 1)); print m " /api/v1" path }' \
    "$spec" | sort > spec.txt
[ -s spec.txt ] || fail "no operations read from $spec"
missing_in_spec=$(comm -23 code.txt spec.txt)
missing_in_code=$(comm -13 code.txt spec.txt)
[ -z "$missing_in_spec" ] || fail "routes not described in openapi.yaml: $missing_in_spec"
ok "every route in the code is in the spec ($(wc -l < code.txt) routes)"
[ -z "$missing_in_code" ] || fail "operations in openapi.yaml that the code lacks: $missing_in_code"
ok "every operation in the spec exists in the code"
done_testing
