#!/usr/bin/env bash
# Trusted certificates (the IoT seed): add through the REST API and the CLI, each validation
# error with its own reason (not PEM, not version 3, no CA:true, already uploaded, expired,
# not yet valid), a bulk upload reporting on each certificate, list, details, edit, delete,
# the proof of possession, and another tenant seeing nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
ft=$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)
ca() { # NAME [openssl req args...]: a self-signed CA certificate NAME.pem and key NAME.key
    local n=$1
    shift
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" -subj "/CN=$n" -days 30 \
        -out "$n.pem" "$@" 2>/dev/null
}
ca root
ca second
ca third
ca leaf -addext "basicConstraints=critical,CA:FALSE"
LD_PRELOAD=$ft FAKETIME="@2020-01-01 00:00:00" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout old.key -subj /CN=old -days 30 -out old.pem 2>/dev/null
LD_PRELOAD=$ft FAKETIME="+400d" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout future.key -subj /CN=future -days 30 -out future.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout v1.key -subj /CN=v1 -out v1.csr 2>/dev/null
openssl x509 -req -in v1.csr -signkey v1.key -days 5 -out v1.pem 2>/dev/null
check_eq "the test's v1 certificate is version 1" "Version: 1 (0x0)" "$(openssl x509 -in v1.pem -noout -text | grep -o 'Version: 1 (0x0)')"
echo "this is not a certificate" > garbage.pem

add() { # FILE [JSON fields...] through the API
    api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat "$1")" '{certificate:$c}' | jq -c ". + ${2:-{\}}")"
}

# ---- a preview: its details, every check made, nothing stored (Azure's "view the
# certificate details once uploaded ... before adding", then Apply)
add root.pem '{"preview":true}'
check_eq "a preview: 200, the details, no id" "200 true null CN=root" \
    "$status $(body .preview) $(body .id) $(body .details.subject)"
api GET /api/v1/trusted-certificates
check_eq "and nothing was added" 0 "$(body '.items | length')"
add leaf.pem '{"preview":true}'
check_eq "a preview of what would be refused: the refusal" "422 not_a_ca" "$status $(body .error.reason)"
# In JSON a flag is true or false; the words a form or a query carries ("true", "on") are
# a wrong type there, as in every JSON body.
for f in preview auto_registration enabled; do
    add root.pem "{\"$f\":\"true\"}"
    check_eq "JSON $f as the string \"true\": 400 naming it" "400 $f $f must be true or false" \
        "$status $(body .error.field) $(body .error.message)"
done
api GET /api/v1/trusted-certificates
check_eq "and nothing was added" 0 "$(body '.items | length')"
api POST /api/v1/trusted-certificates "" -F "file=@root.pem" -F "preview=YES"
check_eq "in a form the words a form carries: preview=YES" "200 true" "$status $(body .preview)"

# ---- add, through the API
add root.pem '{"name":"Fleet root","auto_registration":true}'
check_eq "a CA certificate is added" "201 Fleet root enabled true false" \
    "$status $(body '.name + " " + .status + " " + (.auto_registration|tostring) + " " + (.verified|tostring)')"
root_id=$(body .id)
check_contains "its details are read from the certificate" "$(body .details.subject)" "CN=root"
check_eq "and it is a CA" "true" "$(body .details.is_ca)"
for c in "garbage.pem not_a_certificate 400" "v1.pem not_version_3 422" "leaf.pem not_a_ca 422" \
         "root.pem already_exists 409" "old.pem expired 422" "future.pem not_yet_valid 422"; do
    set -- $c
    add "$1"
    check_eq "API refuses $1: $2" "$3 $2 certificate" "$status $(body .error.reason) $(body .error.field)"
done
add root.pem '{"preview":true}'
check_eq "a preview of one trusted already: 409" "409 already_exists" "$status $(body .error.reason)"
api POST /api/v1/trusted-certificates "" -F "file=@second.pem" -F "name=From a form" -F "auto_registration=false" -F "status=disabled"
check_eq "added from a multipart form, disabled" "201 disabled From a form" "$status $(body '.status + " " + .name')"
second_id=$(body .id)
api POST /api/v1/trusted-certificates "" -F "file=@second.pem" -F "colour=blue"
check_eq "a form's unknown field: 400, the form's file part among what is accepted" "400 colour true" \
    "$status $(body .error.field) $(body '.error.message | contains("accepted: file, ")')"

# ---- the same through the CLI: exit 1 and the server's sentence
for c in "garbage.pem not an X.509 certificate in PEM format" "v1.pem not in version 3" \
         "leaf.pem does not contain BasicConstraints CA:true" "root.pem already been uploaded" \
         "old.pem has expired" "future.pem not valid yet"; do
    f=${c%% *}
    expect_error "CLI refuses $f" "${c#* }" -- remote trusted add "$f"
done
# A file that holds a key (a CA's key given by mistake, or with its certificate) is not sent.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem 2>/dev/null
cat third.pem ca-key.pem > third-with-key.pem
for f in ca-key.pem third-with-key.pem; do
    expect_error "CLI refuses $f, which holds a private key, before sending it" \
        "$f holds a private key: trusted certificates are CA certificates alone" -- remote trusted add "$f"
done
expect_error "and as a bulk file" "holds a private key" -- remote trusted bulk third-with-key.pem
third_id=$(remote trusted add third.pem --name "Third" --auto-registration)
check_contains "CLI adds one" "$third_id" "tru_"
shown=$(remote trusted get "$third_id")
check_eq "trusted get shows its fields one a line, as the other get commands do" \
    "Third yes CN=third P-256" \
    "$(awk '$1 == "name" || $1 == "auto_registration" || $1 == "subject" || $1 == "details.key_curve" {printf "%s ", $2}' <<<"$shown" | sed 's/ $//')"
check_eq "trusted get --output json: the server's answer" "Third" "$(remote --output json trusted get "$third_id" | jq -r .name)"
list=$(remote trusted list)
check_contains "the list shows the status column" "$list" "disabled"
check_eq "three trusted certificates" 3 "$(remote --output json trusted list | jq '.items | length')"
# A CN holding an escape sequence: the name taken from it has no control character (it went on
# into lists, the console and JSON as it was), as a name given must not.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "/CN=bad$(printf '\033')[31mred" -days 5 -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "basicConstraints=critical,CA:true" -out esc.pem 2>/dev/null
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat esc.pem)" '{certificate:$c}')"
check_eq "a CN with an escape sequence: named without a control character" "201 false" \
    "$status $(body '[.name | explode[] | select(. < 32 or . == 127)] | length > 0')"
api DELETE "/api/v1/trusted-certificates/$(body .id)"
api POST /api/v1/certificates/import "$(jq -n --arg c "$(cat esc.pem)" '{certificate:$c}')"
check_eq "and so is an imported certificate" "201 false" "$status $(body '[.name | explode[] | select(. < 32 or . == 127)] | length > 0')"
ca named-by-cn
cp named-by-cn.pem file-name.pem
shown=$(remote trusted add file-name.pem --preview)
check_eq "trusted add --preview shows what would be added, its details" "named-by-cn CN=named-by-cn yes" \
    "$(awk '$1 == "name" || $1 == "subject" || $1 == "preview" {printf "%s ", $2}' <<<"$shown" | sed 's/ $//')"
check_eq "and adds nothing" 3 "$(remote --output json trusted list | jq '.items | length')"
cn_id=$(remote trusted add file-name.pem)
check_eq "without --name: named after its CN, as the API names it, not after its file" "named-by-cn" \
    "$(remote --output json trusted get "$cn_id" | jq -r .name)"
remote trusted delete "$cn_id" >/dev/null

# ---- bulk: one file, a report per certificate
ca bulk1
ca bulk2
cat bulk1.pem v1.pem bulk2.pem root.pem old.pem > bundle.pem
expect_exit 1 "bulk upload with refusals: exit 1" -- remote trusted bulk bundle.pem
out=$(cat "$T/stdout")
check_contains "bulk adds the good ones" "$out" "added    CN=bulk2"
check_contains "and says why each other was refused" "$out" "refused  CN=v1"
api POST /api/v1/trusted-certificates/bulk "$(jq -n --arg c "$(cat bundle.pem)" '{certificate:$c}')"
check_eq "bulk over the API: every one reported" "0 5 already_exists,not_version_3,already_exists,already_exists,expired" \
    "$(body '.added|tostring') $(body '.refused|tostring') $(body '[.items[].error.reason] | join(",")')"

# A damaged block in the middle: said, nothing taken (the certificates after it were dropped
# without a word, those before it added).
ca bulk3
ca bulk4
printf -- '-----BEGIN CERTIFICATE-----\nMIIBbroken!!!\n-----END CERTIFICATE-----\n' > broken.pem
cat bulk3.pem broken.pem bulk4.pem > damaged.pem
api GET /api/v1/trusted-certificates
before=$(body '.items | length')
api POST /api/v1/trusted-certificates/bulk "$(jq -n --arg c "$(cat damaged.pem)" '{certificate:$c}')"
check_eq "bulk with a damaged block: 400 naming where" "400 true" \
    "$status $(body '.error.message | contains("damaged after block 1")')"
api GET /api/v1/trusted-certificates
check_eq "and nothing was added" "$before" "$(body '.items | length')"
for i in $(seq 1 1025); do cat bulk3.pem; done > many.pem
jq -n --rawfile c many.pem '{certificate:$c}' > many.json
api POST /api/v1/trusted-certificates/bulk "" -H "Content-Type: application/json" --data-binary @many.json
check_eq "more blocks than a bulk upload takes: 413 saying the limit" "413 more than 1024 PEM blocks in one input" \
    "$status $(body .error.message)"

# ---- edit and delete
api PATCH "/api/v1/trusted-certificates/$root_id" '{"name":"Fleet root (renamed)","status":"disabled","auto_registration":false}'
check_eq "edited: name, status, auto registration" "200 Fleet root (renamed) disabled false" \
    "$status $(body '.name + " " + .status + " " + (.auto_registration|tostring)')"
api PATCH "/api/v1/trusted-certificates/$root_id" '{"subject":"CN=forged"}'
check_eq "what comes from the certificate cannot be edited" "400 subject" "$status $(body .error.field)"
api PATCH "/api/v1/trusted-certificates/$root_id" '{"status":"enabled","enabled":false}'
check_eq "status and enabled saying different things: 400 on enabled" "400 enabled" "$status $(body .error.field)"
api GET "/api/v1/trusted-certificates/$root_id"
check_eq "and neither is taken" disabled "$(body .status)"
api PATCH "/api/v1/trusted-certificates/$root_id" '{"enabled":"true"}'
check_eq "enabled as a string in JSON: 400" "400 enabled" "$status $(body .error.field)"
api GET "/api/v1/trusted-certificates/$root_id"
check_eq "and it is not taken" disabled "$(body .status)"
check_contains "CLI update" "$(remote trusted update "$root_id" --enabled on --auto-registration on)" "enabled  trust list  auto_registration=on"
api GET "/api/v1/audit?action=trusted.update&object_id=$root_id&limit=100"
updates=$(body '.items | length')
api PATCH "/api/v1/trusted-certificates/$root_id" '{"status":"enabled","auto_registration":true}'
check_eq "a PATCH that changes nothing answers the row" "200 enabled true" "$status $(body .status) $(body .auto_registration)"
api GET "/api/v1/audit?action=trusted.update&object_id=$root_id&limit=100"
check_eq "and writes no audit entry of a change not made" "$updates" "$(body '.items | length')"
TOKEN=$(remote token create --role viewer) api PATCH "/api/v1/trusted-certificates/$root_id" '{"status":"disabled"}'
check_eq "a viewer cannot edit" 403 "$status"
remote tenant create other >/dev/null
other=$(remote token create --tenant other --role admin)
TOKEN=$other api GET "/api/v1/trusted-certificates/$root_id"
check_eq "another tenant gets 404" 404 "$status"
TOKEN=$other api GET /api/v1/trusted-certificates
check_eq "and an empty list" 0 "$(body '.items | length')"
TOKEN=$other add root.pem
check_eq "the same CA may be trusted by another tenant" 201 "$status"

# ---- proof of possession
api POST "/api/v1/trusted-certificates/$root_id/verification-code"
code=$(body .verification_code)
check_eq "a verification code is handed out" 32 "${#code}"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout p.key -subj "/CN=$code" -out p.csr 2>/dev/null
openssl x509 -req -in p.csr -CA second.pem -CAkey second.key -CAcreateserial -days 1 -out wrongca.pem 2>/dev/null
openssl x509 -req -in p.csr -CA root.pem -CAkey root.key -CAcreateserial -days 1 -out proof.pem 2>/dev/null
openssl req -new -key p.key -subj "/CN=not-the-code" -out q.csr 2>/dev/null
openssl x509 -req -in q.csr -CA root.pem -CAkey root.key -CAcreateserial -days 1 -out wrongcode.pem 2>/dev/null
api POST "/api/v1/trusted-certificates/$root_id/verify" "$(jq -n --arg c "$(cat wrongcode.pem)" '{certificate:$c}')"
check_eq "a proof with another CN is refused" "422 wrong_code" "$status $(body .error.reason)"
api POST "/api/v1/trusted-certificates/$root_id/verify" "$(jq -n --arg c "$(cat wrongca.pem)" '{certificate:$c}')"
check_eq "a proof signed by another CA is refused" "422 not_signed_by_ca" "$status $(body .error.reason)"
api POST "/api/v1/trusted-certificates/$root_id/verify" "$(jq -n --arg c "$(cat proof.pem)" '{certificate:$c}')"
check_eq "the right proof verifies it" "200 true" "$status $(body '.verified|tostring')"
api POST "/api/v1/trusted-certificates/$root_id/verify" "$(jq -n --arg c "$(cat proof.pem)" '{certificate:$c}')"
check_eq "a code is used once" 409 "$status"
# The same with the CLI, the proof made with certhub's own offline tools, in DER.
other_root=$(TOKEN=$other api GET /api/v1/trusted-certificates; body '.items[0].id')
expect_error "verify before a code: the command that asks for one is named" "certhub trusted verification-code ID" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file <(echo "$other") --ca-file "$data/ca.pem" \
    trusted verify "$other_root" proof.pem
code=$("$CERTHUB" --server "https://localhost:$port" --token-file <(echo "$other") --ca-file "$data/ca.pem" \
    trusted verification-code "$other_root")
check_eq "trusted verification-code prints the code alone" 32 "${#code}"
"$CERTHUB" cert create --profile tls-client --subject "CN=$code" --key-type p256 --key-out cli-proof.key \
    --ca root.pem --ca-key root.key --days 1 --out cli-proof.pem
openssl x509 -in cli-proof.pem -outform DER -out cli-proof.der
expect_error "a proof of another code is refused" "the certificate's common name is not the verification code" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file <(echo "$other") --ca-file "$data/ca.pem" \
    trusted verify "$other_root" proof.pem
check_eq "trusted verify takes the proof (DER too) and says it is verified" "$other_root  root  verified=yes" \
    "$("$CERTHUB" --server "https://localhost:$port" --token-file <(echo "$other") --ca-file "$data/ca.pem" \
        trusted verify "$other_root" cli-proof.der)"
check_eq "and the list says so" "yes" \
    "$("$CERTHUB" --server "https://localhost:$port" --token-file <(echo "$other") --ca-file "$data/ca.pem" \
        trusted list | awk -v id="$other_root" '$1 == id {print $6}')"

remote trusted delete "$second_id" >/dev/null
api GET "/api/v1/trusted-certificates/$second_id"
check_eq "deleted" 404 "$status"
api GET "/api/v1/audit?limit=1000"
check_contains "every change is audited" "$(body '[.items[].action] | unique | join(",")')" "trusted.add,trusted.delete,trusted.update,trusted.verification_code,trusted.verify"

# The broker's CA directory that cannot be written (here a file in its place): the change is
# stored, the failure said once in the log, and the directory written at a scheduler round
# once it can be.
stop_daemon
start_daemon --job-interval 1
rm -rf "$data/trust/mqtt" && touch "$data/trust/mqtt"
ca late
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat late.pem)" '{certificate:$c}')"
check_eq "trusted while the directory cannot be written: stored" 201 "$status"
for i in $(seq 300); do grep -q "could not be brought up to date" "$log" && break; sleep 0.1; done
check_contains "and said in the log" "$(cat "$log")" "the broker's CA directory $data/trust/mqtt could not be brought up to date"
rm "$data/trust/mqtt"
# The log's line comes once the whole directory is written (a file seen there earlier may be
# another tenant's, written before late.pem's).
for i in $(seq 300); do grep -q "is up to date again" "$log" && break; sleep 0.1; done
check_contains "and that said once written" "$(cat "$log")" "is up to date again"
check_eq "written at a later round, once it can be" "$(openssl x509 -in late.pem -noout -hash).0" \
    "$(grep -l "$(sed -n 2p late.pem)" "$data"/trust/mqtt/* | head -1 | xargs -r basename)"

done_testing
