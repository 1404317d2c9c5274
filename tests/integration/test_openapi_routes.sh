#!/usr/bin/env bash
# Every route of certhubd is in docs/api/openapi.yaml and every operation there exists in the
# code (the route table printed by `certhubd --routes`), each with the same query parameters
# (?tenant aside: the spec says once which reads take it) and the same fields in its body.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

[ -n "${CERTHUBD:-}" ] || fail "CERTHUBD must name the certhubd binary"
spec="$CERTHUB_SOURCE_DIR/docs/api/openapi.yaml"
# same_as_spec CODE SPEC WHAT: the sorted lines of both files are the same, else a failure
# naming those of either side alone.
same_as_spec() {
    local code_only spec_only
    code_only=$(comm -23 "$1" "$2")
    spec_only=$(comm -13 "$1" "$2")
    [ -z "$code_only" ] || fail "$3 not described in openapi.yaml: $code_only"
    [ -z "$spec_only" ] || fail "$3 in openapi.yaml that certhubd refuses: $spec_only"
}
# The spec is read by OpenAPI tools as YAML: it must be YAML (a quote in a quoted string, say,
# would pass the line-based reading below and fail every tool).
out=$(python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(d["openapi"], len(d["paths"]))' "$spec" 2>&1) ||
    fail "openapi.yaml is not YAML: $(echo "$out" | tail -3)"
ok "openapi.yaml is YAML (OpenAPI $out paths)"
# A comma in an unquoted value of a flow mapping ({description: a, b}) makes a key "b" with no
# value: still YAML, but no longer OpenAPI.  No key of the spec is without a value.
nulls=$(python3 -c '
import sys, yaml
def walk(x, path):
    if isinstance(x, dict):
        for k, v in x.items():
            if v is None:
                print(path + "/" + str(k))
            walk(v, path + "/" + str(k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            walk(v, path + "/" + str(i))
walk(yaml.safe_load(open(sys.argv[1])), "")' "$spec")
[ -z "$nulls" ] || fail "keys without a value in openapi.yaml (an unquoted comma in a {...} value?): $nulls"
ok "no key of openapi.yaml is without a value"
"$CERTHUBD" --routes > routes.txt
sed 's/?.*//' routes.txt | sort > code.txt
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

# "METHOD /path name" for each query parameter: from the code's "?a&b", and from the spec's
# "in: query" entries of an operation or of its path (those apply to each of its operations).
awk '{ split($2, p, "?"); n = split(p[2], q, "&"); for (i = 1; i <= n; i++) if (q[i] != "tenant") print $1 " " p[1] " " q[i] }' \
    routes.txt | sort > code_params.txt
awk '/^  \/[^ ]*:$/ { path = substr($1, 1, length($1) - 1); m = ""; delete shared; ns = 0; next }
     /^    (get|post|put|patch|delete):$/ { m = toupper(substr($1, 1, length($1) - 1))
         for (i = 1; i <= ns; i++) print m " /api/v1" path " " shared[i]; next }
     /in: query/ { match($0, /name: [A-Za-z_]+/); name = substr($0, RSTART + 6, RLENGTH - 6)
         if (name == "tenant") next
         if (m == "") shared[++ns] = name; else print m " /api/v1" path " " name }' \
    "$spec" | sort > spec_params.txt
[ -s code_params.txt ] || fail "no query parameters read from certhubd --routes"
same_as_spec code_params.txt spec_params.txt "query parameters"
ok "each route takes the query parameters the spec gives it ($(wc -l < code_params.txt))"

# "METHOD /path field" for each field of a request body: from the code, the list a 400 gives
# for a field no route takes (each handler checks the body's fields before anything else);
# from the spec, the request body's properties (spec_bodies.awk).
start_daemon
TOKEN=$(cat "$data/admin-token")
grep -v '^GET ' routes.txt | sed 's/?.*//' | while read -r method path; do
    api "$method" "$(echo "$path" | sed 's/{[a-z]*}/none/g')" '{"no_route_takes_this":1}'
    body .error.message | sed -n 's/.*; accepted: //p' | tr ',' '\n' | sed 's/^ *//' | grep . | sed "s|^|$method $path |" || true
done | sort -u > code_fields.txt
awk -f "$(dirname "$0")/spec_bodies.awk" "$spec" | sort -u > spec_fields.txt
[ -s code_fields.txt ] || fail "no body fields read from certhubd's answers"
same_as_spec code_fields.txt spec_fields.txt "body fields"
ok "each request body takes the fields the spec gives it ($(wc -l < code_fields.txt) in $(cut -d' ' -f1,2 code_fields.txt | sort -u | wc -l) bodies)"
stop_daemon
done_testing
