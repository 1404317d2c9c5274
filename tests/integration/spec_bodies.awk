# "METHOD /api/v1/path field" for each top-level property of an operation's request body, in
# any of its content types (but "file", a multipart form's file part); a body given as a $ref
# to components/schemas/X takes X's properties.  Reads the block and the flow styles the
# spec uses.
function flow(op, s,    i, c, d, word, out) {
    s = substr(s, index(s, "properties: {") + 13)
    d = 1; word = ""
    for (i = 1; i <= length(s) && d > 0; i++) {
        c = substr(s, i, 1)
        if (c == "{" || c == "[") d++
        else if (c == "}" || c == "]") d--
        else if (d == 1 && c == ":" && word != "") { emit(op, word); word = "" }
        else if (d == 1 && c ~ /[a-z_]/) word = word c
        else if (d == 1) word = ""
    }
}
function emit(op, name) { if (name != "file") print op " " name }
/^[a-z]/ { comp = ($1 == "components:"); path = ""; m = ""; rb = 0; next }
/^  \/[^ ]*:$/ { path = substr($1, 1, length($1) - 1); m = ""; rb = 0; next }
comp && /^    [A-Za-z]+:$/ { sch = substr($1, 1, length($1) - 1); pind = -1; next }
comp && /^ *properties:/ { match($0, /^ */); if (pind < 0) pind = RLENGTH; next }
comp && pind >= 0 { match($0, /^ */); if (RLENGTH == pind + 2 && $1 ~ /^[a-z_]+:$/) props[sch] = props[sch] " " substr($1, 1, length($1) - 1); if (RLENGTH <= pind) pind = -2; next }
/^    (get|post|put|patch|delete):$/ { m = toupper(substr($1, 1, length($1) - 1)); rb = 0; next }
/^      requestBody:/ { rb = 1; pind = -1; next }
rb && /^      [a-z]/ { rb = 0; next }
rb && /schema: \{\$ref: '#\/components\/schemas\// { match($0, /schemas\/[A-Za-z]+/); refs[m " /api/v1" path] = substr($0, RSTART + 8, RLENGTH - 8); next }
rb && /schema: \{.*properties: \{/ { flow(m " /api/v1" path, $0); next }
rb && /^ *properties:$/ { match($0, /^ */); if (pind < 0 || RLENGTH < pind) pind = RLENGTH; next }
rb && pind >= 0 { match($0, /^ */); if (RLENGTH == pind + 2 && $1 ~ /^[a-z_]+:$/) emit(m " /api/v1" path, substr($1, 1, length($1) - 1)) }
END { for (op in refs) { n = split(props[refs[op]], f, " "); for (i = 1; i <= n; i++) emit(op, f[i]) } }
