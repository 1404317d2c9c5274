#!/usr/bin/env bash
# A stored keystore changed entry by entry, as keytool changes one: a certificate of the
# inventory added (with its chain, and its key where certhub holds it), an entry renamed, one
# deleted, and each entry moved to its certificate's renewal; through the API and the CLI, each
# export read back by keytool and openssl.  Who may (operators and admins, not viewers, not
# another tenant), aliases unique in any case, and bad requests that change nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/keytool.sh"

# p12_names FILE PASSWORD: the friendly names of a PKCS#12's bags, sorted and unique
p12_names() {
    openssl pkcs12 -in "$1" -passin "pass:$2" -nodes 2>/dev/null | sed -n 's/^ *friendlyName: //p' | sort -u | paste -sd,
}
entries() { api GET "/api/v1/keystores/$1/entries"; body '[.items[] | .alias + ":" + (.has_private_key | tostring)] | join(" ")'; }
entry_audits() { api GET "/api/v1/audit?action=keystore.entry_*&limit=1000"; body '.items | length'; }

start_daemon
TOKEN=$(cat "$data/admin-token")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout up.key -subj /CN=up.example -days 30 \
    -out up.pem 2>/dev/null
openssl pkcs12 -export -in up.pem -inkey up.key -name uploaded -passout pass:s3cret -out up.p12
api POST "/api/v1/keystores?name=edited" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" \
    --data-binary @up.p12
check_eq "a keystore uploaded" 201 "$status"
ks=$(body .id)
api POST "/api/v1/keystores?name=kp" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" \
    -H "Certhub-Key-Password: other" --data-binary @up.p12
check_eq "a key password with a PKCS#12 (it would go unread): 400 on key_password" "400 key_password" \
    "$status $(body .error.field)"
# Bytes of no known format: a file that cannot be read (400, as a certificate import says),
# not a content type refused (415).
head -c 2000 /dev/urandom > noise.bin
api POST /api/v1/keystores "" -F "file=@noise.bin" -F "name=noise"
check_eq "random bytes uploaded as a keystore: 400 on file" "400 malformed file" \
    "$status $(body .error.code) $(body .error.field)"
check_contains "naming what is accepted" "$(body .error.message)" "PKCS#12"
api POST /api/v1/keystores "$(jq -n --arg d "$(base64 -w0 noise.bin)" '{name:"noise", data:$d}')"
check_eq "and given as base64 in JSON: 400 on data" "400 data" "$status $(body .error.field)"
# PEM text in "certificate", as a certificate import and a CA take it (a bundle pasted).
api POST /api/v1/keystores "$(jq -n --rawfile c up.pem --rawfile k up.key '{name:"pasted", certificate:($k + $c)}')"
check_eq "a keystore of PEM text given as certificate" "201 pem" "$status $(body .format)"
api GET "/api/v1/keystores/$(body .id)"
check_eq "its entry with its key" "true" "$(body '.entries[0].has_private_key')"
api POST /api/v1/keystores "$(jq -n --arg d "$(base64 -w0 up.pem)" --rawfile c up.pem '{name:"both", data:$d, certificate:$c}')"
check_eq "data and certificate both: 400" "400 data" "$status $(body .error.field)"
api POST /api/v1/keystores '{"name":"not pem","certificate":"hello"}'
check_eq "certificate text that is no keystore: 400 on certificate" "400 certificate" "$status $(body .error.field)"
# A key pasted with the wrong certificate: refused, not dropped (the certificates were kept
# as trusted entries, the key gone without a word).
openssl ecparam -name prime256v1 -genkey -noout -out stray.key 2>/dev/null
cat stray.key up.pem > mismatched.pem
api POST /api/v1/keystores "" -F "file=@mismatched.pem" -F "name=mismatched"
check_eq "a keystore whose key belongs to none of its certificates: 400 on file" "400 file" \
    "$status $(body .error.field)"
check_contains "saying so" "$(body .error.message)" "belongs to none of its certificates"
api POST /api/v1/certificates/import "" -F "file=@mismatched.pem"
check_eq "imported as a certificate: 400 on private_key" "400 private_key" "$status $(body .error.field)"
api GET "/api/v1/keystores?limit=1000"
check_eq "and nothing was stored" 0 "$(body '[.items[] | select(.name == "mismatched")] | length')"
api POST /api/v1/certificates '{"subject":{"common_name":"web.example"},"sans":["dns:web.example"],"name":"web"}'
check_eq "a certificate issued with a key certhub holds" "201 true" "$status $(body .has_private_key)"
web=$(body .id)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout partner.key -subj /CN=Partner \
    -days 30 -out partner.pem 2>/dev/null
api POST /api/v1/certificates/import "$(jq -n --rawfile c partner.pem '{name:"partner",certificate:$c}')"
check_eq "a certificate imported without its key" "201 false" "$status $(body .has_private_key)"
partner=$(body .id)
api POST /api/v1/tokens '{"role":"viewer","name":"viewer"}'
viewer=$(body .token)
api POST /api/v1/tokens '{"role":"operator","name":"operator"}'
operator=$(body .token)
# A truststore (certificates alone) exported by an operator as a JKS: there is no key in it,
# so no permission for keys is needed, and no key export is audited.
api POST "/api/v1/keystores?name=trust-only" "" -H "Content-Type: application/x-pem-file" --data-binary @partner.pem
trust_only=$(body .id)
TOKEN=$operator api POST "/api/v1/keystores/$trust_only/export" '{"format":"jks","password":"changeit"}'
check_eq "an operator exports a keystore without keys as JKS" 200 "$status"
keytool -list -keystore "$T/body" -storepass changeit 2>/dev/null | grep -q trustedCertEntry ||
    fail "keytool does not read the truststore exported"
api GET "/api/v1/audit?action=keystore.export_keys&object_id=$trust_only"
check_eq "and no key export is audited" 0 "$(body '.items | length')"
api POST /api/v1/tenants '{"name":"other"}'
api POST /api/v1/tokens '{"tenant":"other","role":"admin","name":"other admin"}'
other=$(body .token)
TOKEN=$other api POST /api/v1/certificates/import "$(jq -n --rawfile c partner.pem '{name:"theirs",certificate:$c}')"
theirs=$(body .id)

# ---- refused, nothing changed
TOKEN=$viewer api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$web\"}"
check_eq "a viewer adds no entry" 403 "$status"
TOKEN=$viewer api PATCH "/api/v1/keystores/$ks/entries/uploaded" '{"alias":"x"}'
check_eq "nor renames one" 403 "$status"
TOKEN=$viewer api DELETE "/api/v1/keystores/$ks/entries/uploaded"
check_eq "nor deletes one" 403 "$status"
TOKEN=$other api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$theirs\"}"
check_eq "another tenant's keystore is not found" 404 "$status"
TOKEN=$other api DELETE "/api/v1/keystores/$ks/entries/uploaded"
check_eq "not even to delete an entry" 404 "$status"
api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$theirs\"}"
check_eq "another tenant's certificate is not found" "404 certificate_id" "$status $(body .error.field)"
api POST "/api/v1/keystores/$ks/entries" '{"alias":"x"}'
check_eq "no certificate_id: 400" "400 certificate_id" "$status $(body .error.field)"
api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$web\",\"colour\":\"red\"}"
check_eq "an unknown field: 400" "400 colour" "$status $(body .error.field)"
api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$web\",\"alias\":\"UPLOADED\"}"
check_eq "an alias taken in another case: 409" "409 alias" "$status $(body .error.field)"
check_contains "the message says aliases are compared without regard to case" "$(body .error.message)" \
    "without regard to case"
api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$web\",\"alias\":\"a\\u0007b\"}"
check_eq "an alias with a control character: 400" "400 alias" "$status $(body .error.field)"
api PATCH "/api/v1/keystores/$ks/entries/nope" '{"alias":"x"}'
check_eq "renaming no such entry: 404" "404 alias" "$status $(body .error.field)"
api PATCH "/api/v1/keystores/$ks/entries/uploaded" '{"alias":""}'
check_eq "renaming to nothing: 400" "400 alias" "$status $(body .error.field)"
api DELETE "/api/v1/keystores/$ks/entries/nope"
check_eq "deleting no such entry: 404" "404 alias" "$status $(body .error.field)"
api POST "/api/v1/keystores/kst_none/entries" "{\"certificate_id\":\"$web\"}"
check_eq "no such keystore: 404" 404 "$status"
check_eq "the keystore as it was" "uploaded:true" "$(entries "$ks")"
check_eq "and nothing audited" 0 "$(entry_audits)"

# ---- added, renamed, deleted
TOKEN=$operator api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$web\"}"
check_eq "an operator adds a certificate with its key, under its name" "201 web true added" \
    "$status $(body '.alias + " " + (.has_private_key | tostring) + " " + .origin')"
api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$partner\",\"alias\":\"Partner CA\"}"
check_eq "one without a key, under an alias chosen" "201 Partner CA false" \
    "$status $(body '.alias + " " + (.has_private_key | tostring)')"
api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$partner\",\"alias\":\"old/partner\"}"
check_eq "an alias with a slash" 201 "$status"
api GET "/api/v1/keystores/$ks/entries/web"
check_eq "the added entry carries its CA's chain" 2 "$(body '.chain | length')"
api PATCH "/api/v1/keystores/$ks/entries/uploaded" '{"alias":"PARTNER ca"}'
check_eq "renaming to an alias taken in another case: 409" "409 alias" "$status $(body .error.field)"
api PATCH "/api/v1/keystores/$ks/entries/uploaded" '{"alias":"Tomcat"}'
check_eq "renamed" "200 Tomcat true" "$status $(body '.alias + " " + (.has_private_key | tostring)')"
api DELETE "/api/v1/keystores/$ks/entries/old%2Fpartner"
check_eq "an entry deleted (its alias %-escaped)" "200 true" "$status $(body .deleted)"
api GET "/api/v1/certificates/$partner"
check_eq "its certificate stays in the inventory" 200 "$status"
check_eq "the keystore as edited, in its order" "Tomcat:true web:true Partner CA:false" "$(entries "$ks")"
check_eq "each change audited" 5 "$(entry_audits)"
api GET "/api/v1/audit?action=keystore.entry_rename&limit=10"
check_eq "the rename's audit row says from what to what" "uploaded Tomcat $ks" \
    "$(body '.items[0].detail.from + " " + .items[0].detail.alias + " " + .items[0].object_id')"

# ---- exports reflect the edits
api POST "/api/v1/keystores/$ks/export" '{"format":"jks","password":"changeit"}'
cp "$T/body" edited.jks
check_eq "keytool lists the JKS as edited" "partner ca,trustedCertEntry tomcat,PrivateKeyEntry web,PrivateKeyEntry" \
    "$(kt_entries edited.jks changeit)"
check_contains "the added key entry holds its chain" "$(kt -list -v -keystore edited.jks -storepass changeit -alias web)" \
    "Certificate chain length: 3"
api POST "/api/v1/keystores/$ks/export" '{"format":"p12","password":"changeit"}'
cp "$T/body" edited.p12
check_eq "keytool lists the p12 as edited" "partner ca,trustedCertEntry tomcat,PrivateKeyEntry web,PrivateKeyEntry" \
    "$(kt_entries edited.p12 changeit -storetype PKCS12)"
check_contains "openssl reads the new alias" "$(p12_names edited.p12 changeit)" "Tomcat"
check_eq "and the key of the renamed entry is its own" "$(openssl pkey -in up.key -pubout)" \
    "$(openssl pkcs12 -in edited.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null |
        awk '/friendlyName: Tomcat/ { p = 1 } p' | openssl pkey -pubout)"
# Aliases compared as Java compares them, beyond ASCII: keytool keeps one of "Ärger" and
# "ärger" (it lowers both), and the other entry was lost in the exports.
api POST "/api/v1/keystores?name=unicode" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" \
    --data-binary @up.p12
uks=$(body .id)
api POST "/api/v1/keystores/$uks/entries" "{\"certificate_id\":\"$partner\",\"alias\":\"Ärger\"}"
check_eq "an alias beyond ASCII" 201 "$status"
api POST "/api/v1/keystores/$uks/entries" "{\"certificate_id\":\"$partner\",\"alias\":\"ärger\"}"
check_eq "the same in lower case: 409, naming the entry" "409 alias true" \
    "$status $(body .error.field) $(body '.error.message | contains("already has an entry \"Ärger\" (the same in another case)")')"
api POST "/api/v1/keystores/$uks/entries" "{\"certificate_id\":\"$partner\",\"alias\":\"K\"}"
api POST "/api/v1/keystores/$uks/entries" "{\"certificate_id\":\"$partner\",\"alias\":\"\u212a\"}"
check_eq "the Kelvin sign is a k to Java: 409" 409 "$status"
api GET "/api/v1/keystores/$uks/entries/%C3%84RGER"
check_eq "read in another case, as PATCH and DELETE find it" "200 Ärger" "$status $(body .alias)"
api POST "/api/v1/keystores/$uks/export" '{"format":"jks","password":"changeit"}'
cp "$T/body" unicode.jks
check_eq "keytool lists every entry, in Java's lower case" "k,trustedCertEntry uploaded,PrivateKeyEntry ärger,trustedCertEntry" \
    "$(kt_entries unicode.jks changeit)"
api DELETE "/api/v1/keystores/$uks/entries/%C3%A4rger"
check_eq "deleted in another case: the answer names the alias deleted" "200 Ärger" "$status $(body .alias)"
api DELETE "/api/v1/keystores/$uks/entries/K" '{"cascade":true}'
check_eq "a DELETE with a field: 400, nothing deleted" "400 cascade 2" \
    "$status $(body .error.field) $(api GET "/api/v1/keystores/$uks/entries"; body '.items | length')"

# DER is one certificate: the first entry's alone was written, the others lost without a word.
api POST "/api/v1/keystores/$ks/export" '{"format":"der"}'
check_eq "a keystore of three entries as der: 400 on format, naming what holds them all" "400 format true" \
    "$status $(body .error.field) $(body '.error.message | contains("has 3 entries: pem or p7b hold every certificate")')"
api POST "/api/v1/keystores?name=one" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" \
    --data-binary @up.p12
api POST "/api/v1/keystores/$(body .id)/export" '{"format":"der"}'
check_eq "one of one entry as der: its certificate" "200 $(openssl x509 -in up.pem -outform DER | sha256sum)" \
    "$status $(sha256sum < "$T/body")"

# ---- pages: the cursor is the position of the page's last entry, which renaming or deleting
# that entry between two pages leaves as it was (by its alias, the walk ended there).
for a in e1 e2 e3 e4 e5 e6; do
    keytool -genkeypair -keystore six.jks -storetype JKS -storepass changeit -keypass changeit -alias "$a" \
        -keyalg EC -groupname secp256r1 -dname "CN=$a" -validity 10 >/dev/null 2>&1
done
api POST "/api/v1/keystores?name=six" "" -H "Content-Type: application/x-java-keystore" -H "Certhub-Password: changeit" \
    --data-binary @six.jks
check_eq "a keystore of six entries" 201 "$status"
six=$(body .id)
api GET "/api/v1/keystores/$six/entries?limit=1000"
read -r -a all <<<"$(body '[.items[].alias] | join(" ")')"
check_eq "six entries" 6 "${#all[@]}"
api GET "/api/v1/keystores/$six/entries?limit=2"
walked=$(body '[.items[].alias] | join(" ")')
cursor=$(body .next_cursor)
api PATCH "/api/v1/keystores/$six/entries/${all[1]}" '{"alias":"renamed"}'
check_eq "the cursor's entry renamed" 200 "$status"
api GET "/api/v1/keystores/$six/entries?limit=2&cursor=$cursor"
check_eq "the next page after a rename" 200 "$status"
walked="$walked $(body '[.items[].alias] | join(" ")')"
cursor=$(body .next_cursor)
api DELETE "/api/v1/keystores/$six/entries/${all[3]}"
check_eq "the cursor's entry deleted" 2 "${status:0:1}"
api GET "/api/v1/keystores/$six/entries?limit=2&cursor=$cursor"
walked="$walked $(body '[.items[].alias] | join(" ")')"
check_eq "every entry walked once, in order" "${all[*]}" "$walked"
check_eq "and the walk ends there" null "$(body .next_cursor)"
api GET "/api/v1/keystores/$six/entries?limit=2&cursor=$(printf %s "${all[1]}" | od -An -tx1 | tr -d " \n")"
check_eq "a cursor that is no position: 400 on cursor" "400 cursor" "$status $(body .error.field)"
api GET "/api/v1/keystores/$six/entries?limit=2&cursor=p2147483647"
check_eq "a cursor at the last position a keystore numbers: an empty page" "200 0" "$status $(body '.items | length')"
api GET "/api/v1/keystores/$six/entries?limit=2&cursor=p2147483648"
check_eq "one past it: 400 on cursor" "400 cursor" "$status $(body .error.field)"
# The cursor's entry and every one after it deleted, then one added: it goes past every
# position handed out before (one past those left was behind the cursor, and the walk never
# saw it), and the walk goes on to it.
api GET "/api/v1/keystores/$six/entries?limit=1000"
read -r -a left <<<"$(body '[.items[].alias] | join(" ")')"
highest=$(body '[.items[].position] | max')
api GET "/api/v1/keystores/$six/entries?limit=2"
walked=$(body '[.items[].alias] | join(" ")')
cursor=$(body .next_cursor)
for a in "${left[@]:1}"; do
    api DELETE "/api/v1/keystores/$six/entries/$a"
    check_eq "deleted $a (the cursor's entry or one after it)" 200 "$status"
done
api POST "/api/v1/keystores/$six/entries" "{\"certificate_id\":\"$partner\",\"alias\":\"late\"}"
check_eq "an entry added after them" 201 "$status"
check_eq "its position is past every one handed out before" true "$(body ".position > $highest")"
api GET "/api/v1/keystores/$six/entries?limit=2&cursor=$cursor"
walked="$walked $(body '[.items[].alias] | join(" ")')"
check_eq "the walk started before finds it" "${left[0]} ${left[1]} late" "$walked"
check_eq "and ends there" null "$(body .next_cursor)"

# ---- a keystore made here of a certificate held here (the destination seed's Generate, of a
# keystore type): its one entry with the chain and key, stored with the keystore or not at all
made() { api GET /api/v1/keystores; body '[.items[] | select(.name == "made-here")] | length'; }
TOKEN=$viewer api POST /api/v1/keystores "{\"name\":\"made-here\",\"format\":\"jks\",\"certificate_id\":\"$web\"}"
check_eq "a viewer makes no keystore" "403 0" "$status $(made)"
api POST /api/v1/keystores "{\"name\":\"made-here\",\"format\":\"pem\",\"certificate_id\":\"$web\"}"
check_eq "a keystore made here is p12 or jks" "400 format 0" "$status $(body .error.field) $(made)"
api POST /api/v1/keystores "{\"name\":\"made-here\",\"format\":\"jks\",\"certificate_id\":\"$theirs\"}"
check_eq "of another tenant's certificate: not found, nothing made" "404 certificate_id 0" "$status $(body .error.field) $(made)"
api POST /api/v1/keystores "{\"name\":\"made-here\",\"format\":\"jks\",\"certificate_id\":\"$web\",\"alias\":\"a\\u0001\"}"
check_eq "an alias with a control character: refused, nothing made" "400 alias 0" "$status $(body .error.field) $(made)"
api POST /api/v1/keystores "{\"name\":\"made-here\",\"format\":\"jks\",\"certificate_id\":\"$web\",\"password\":\"x\"}"
check_eq "a password with it (an upload's) is refused" "400 password 0" "$status $(body .error.field) $(made)"
api POST /api/v1/keystores '{"name":"up","format":"jks","data":"AAAA"}'
check_eq "a format with an upload is refused (the file's is its own)" "400 format" "$status $(body .error.field)"
before=$(entry_audits)
TOKEN=$operator api POST /api/v1/keystores "{\"name\":\"made-here\",\"format\":\"jks\",\"certificate_id\":\"$web\"}"
check_eq "an operator makes a JKS keystore of a certificate held here" "201 jks" "$status $(body .format)"
made_id=$(body .id)
api GET "/api/v1/keystores/$made_id"
check_eq "its one entry: the certificate's name as alias, its key, made here" "web:true:generated:$web" \
    "$(body '[.entries[] | "\(.alias):\(.has_private_key):\(.origin):\(.certificate_id)"] | join(" ")')"
check_eq "the keystore listed with its format" "jks" "$(api GET /api/v1/keystores; body '.items[] | select(.id == "'"$made_id"'") | .format')"
api GET "/api/v1/audit?action=keystore.create&limit=1000"
check_eq "audited: made (once), and its entry added" "1 $made_id $((before + 1))" \
    "$(body '.items | length') $(body '.items[0].object_id') $(entry_audits)"
api POST "/api/v1/keystores/$made_id/export" '{"format":"jks","password":"changeit"}'
cp "$T/body" made.jks
check_eq "exported, keytool lists its key entry" "web,PrivateKeyEntry" "$(kt_entries made.jks changeit)"
api POST /api/v1/keystores "{\"name\":\"made-p12\",\"format\":\"p12\",\"certificate_id\":\"$partner\",\"alias\":\"Partner Cert\"}"
check_eq "a PKCS#12 keystore of a certificate held without its key, under the alias given" "201 p12" "$status $(body .format)"
api GET "/api/v1/keystores/$(body .id)"
check_eq "its entry: the certificate only" "Partner Cert:false:generated" \
    "$(body '[.entries[] | "\(.alias):\(.has_private_key):\(.origin)"] | join(" ")')"
api POST /api/v1/keystores "{\"format\":\"p12\",\"certificate_id\":\"$web\"}"
check_eq "one made without a name has the certificate's" "201 web" "$status $(body .name)"

# ---- the CLI
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
echo "$viewer" > viewer-token && chmod 600 viewer-token
expect_error "keystore entry-add by a viewer: refused" "operator role" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file viewer-token --ca-file "$data/ca.pem" \
    keystore entry-add "$ks" --certificate "$partner" --alias viewer
expect_usage "keystore entry-add without --certificate" "--certificate ID is required" -- remote keystore entry-add "$ks"
expect_error "keystore entry-add under an alias taken in another case" "without regard to case" -- \
    remote keystore entry-add "$ks" --certificate "$partner" --alias TOMCAT
check_contains "keystore entry-add: the certificate under the alias given, without a key" \
    "$(remote keystore entry-add "$ks" --certificate "$partner" --alias partner2)" "partner2  $partner  the certificate only"
check_contains "keystore entry-rename" "$(remote keystore entry-rename "$ks" web Web-Server)" "Web-Server  $web  with its private key"
expect_error "keystore entry-rename of an alias it lacks" 'no entry with the alias "web"' -- \
    remote keystore entry-rename "$ks" web other
check_contains "keystore entry-delete (an alias with a space)" "$(remote keystore entry-delete "$ks" "Partner CA")" \
    "deleted entry Partner CA of $ks"
check_eq "the keystore as the CLI left it" "Tomcat:true Web-Server:true partner2:false" "$(entries "$ks")"
remote keystore export "$ks" --format jks --password-file <(echo changeit) --out cli.jks
check_eq "keytool lists the JKS as the CLI left it" \
    "partner2,trustedCertEntry tomcat,PrivateKeyEntry web-server,PrivateKeyEntry" "$(kt_entries cli.jks changeit)"
remote keystore export "$ks" --format p12 --password-file <(echo changeit) --out cli.p12
check_eq "openssl reads the p12's aliases as the CLI left them" "Tomcat,Web-Server,partner2" "$(p12_names cli.p12 changeit)"
# ---- keystore create: the same made from the CLI, named after the certificate unless told
kept() { api GET "/api/v1/keystores?limit=1000"; body '.items | length'; }
n=$(kept)
expect_usage "keystore create without --certificate" "--certificate is required" -- remote keystore create --format jks
expect_usage "keystore create without --format" "--format is required" -- remote keystore create --certificate "$web"
expect_error "keystore create --format pem: the formats it takes named" "--format takes p12 (pfx, pkcs12) or jks" -- \
    remote keystore create --certificate "$web" --format pem --name x
expect_error "keystore create of another tenant's certificate" "in the inventory (HTTP 404)" -- \
    remote keystore create --certificate "$theirs" --format jks --name x
expect_error "keystore create by a viewer" "operator role" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file viewer-token --ca-file "$data/ca.pem" \
    keystore create --certificate "$web" --format jks --name x
expect_error "keystore create under an alias with a control character" "alias" -- \
    remote keystore create --certificate "$web" --format jks --alias "$(printf 'a\001')"
check_eq "none of them made a keystore" "$n" "$(kept)"
jks_id=$(remote keystore create --certificate "$web" --format jks)
check_eq "keystore create prints the new keystore's id" kst_ "${jks_id:0:4}"
api GET "/api/v1/keystores/$jks_id"
check_eq "named after the certificate, its one entry the certificate's with its key, made here" \
    "web jks web:true:generated:$web" \
    "$(body .name) $(body .format) $(body '[.entries[] | "\(.alias):\(.has_private_key):\(.origin):\(.certificate_id)"] | join(" ")')"
remote keystore export "$jks_id" --format jks --password-file <(echo changeit) --out created.jks
check_eq "keytool lists the JKS keystore create made: a key entry" "web,PrivateKeyEntry" "$(kt_entries created.jks changeit)"
kt -list -v -keystore created.jks -storepass changeit > created.list
check_eq "its chain: the certificate, the issuing CA, the root" 3 "$(sed -n 's/^Certificate chain length: //p' created.list)"
check_eq "and it ends at certhubd's root" "$(openssl x509 -in "$data/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)" \
    "$(sed -n 's/^[[:space:]]*SHA256: //p' created.list | tail -1)"
remote --output json keystore create --certificate "$web" --format PFX --name "web p12" --alias tls > created.json
check_eq "--output json: the keystore as the server answered, pfx taken as p12" "web p12 p12" \
    "$(jq -r '"\(.name) \(.format)"' created.json)"
remote keystore export "$(jq -r .id created.json)" --format p12 --password-file <(echo changeit) --out created.p12
check_eq "openssl reads the p12 under the alias given" tls "$(p12_names created.p12 changeit)"
openssl pkcs12 -in created.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout > created-key.pub
openssl pkcs12 -in created.p12 -passin pass:changeit -nokeys -clcerts 2>/dev/null | openssl x509 -noout -pubkey \
    > created-cert.pub
check_eq "its key is the certificate's" "$(cat created-cert.pub)" "$(cat created-key.pub)"
check_contains "and it is web.example's" "$(openssl pkcs12 -in created.p12 -passin pass:changeit -nokeys -clcerts \
    2>/dev/null | openssl x509 -noout -subject)" "CN = web.example"
check_eq "two keystores made, no more" "$((n + 2))" "$(kept)"

# A keystore holding the key of a certificate held without one (partner, imported alone): the
# certificate gets the key, as an import of the two would give it; audited certificate.key_add.
openssl pkcs12 -export -in partner.pem -inkey partner.key -name partner -passout pass:s3cret -out partner.p12
api POST "/api/v1/keystores?name=partner%20store" "" -H "Content-Type: application/x-pkcs12" \
    -H "Certhub-Password: s3cret" --data-binary @partner.p12
check_eq "a keystore with the key of a certificate held without one" 201 "$status"
api GET "/api/v1/certificates/$partner"
check_eq "the certificate held has the key now" true "$(body .has_private_key)"
api GET "/api/v1/audit?action=certificate.key_add&object_id=$partner"
check_eq "audited as certificate.key_add, from the keystore's import" "1 keystore.import" \
    "$(body '.items | length') $(body '.items[0].detail | if type == "string" then fromjson else . end | .from')"
api POST "/api/v1/certificates/$partner/private-key" '{}'
check_eq "and its key is the keystore's" "200 $(openssl pkey -in partner.key -pubout)" \
    "$status $(openssl pkey -in "$T/body" -pubout 2>/dev/null || true)"

# ---- renewals: the entries that hold a certificate hold its renewal, under their aliases, with
# its chain and its key; keytool reads the JKS exported after it.
fingerprint() { api GET "/api/v1/certificates/$1"; body .pem | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2; }
public_key() { api GET "/api/v1/certificates/$1"; body .pem | openssl x509 -noout -pubkey; }
# leaf_of STORE ALIAS: "EntryType SHA256" of the entry's first certificate, as keytool lists it
leaf_of() {
    kt -list -v -keystore "$1" -storepass changeit -alias "$2" > leaf.list
    echo "$(sed -n 's/^Entry type: //p' leaf.list) $(sed -n 's/^[[:space:]]*SHA256: //p' leaf.list | head -1)"
}
api POST /api/v1/certificates '{"subject":{"common_name":"renewed.example"},"sans":["dns:renewed.example"],"name":"rw"}'
rw=$(body .id)
rw_store=$(remote keystore create --certificate "$rw" --format jks --alias tomcat)
api POST "/api/v1/keystores/$ks/entries" "{\"certificate_id\":\"$rw\",\"alias\":\"rw-added\"}"
check_eq "the certificate added to the edited keystore too" 201 "$status"
api GET "/api/v1/certificates/$rw"
body .pem > rw.pem
api POST "/api/v1/keystores?name=rw-trust" "" -H "Content-Type: application/x-pem-file" --data-binary @rw.pem
check_eq "and uploaded alone: a trusted entry" 201 "$status"
rw_trust=$(body .id)
remote keystore export "$rw_store" --format jks --password-file <(echo changeit) --out rw-before.jks
check_eq "before: the JKS holds the certificate" "PrivateKeyEntry $(fingerprint "$rw")" "$(leaf_of rw-before.jks tomcat)"
before=$(api GET "/api/v1/audit?action=keystore.entry_renew&limit=1000"; body '.items | length')

r1=$(remote cert renew "$rw")
check_eq "cert renew prints the renewal's id" crt_ "${r1:0:4}"
remote keystore export "$rw_store" --format jks --password-file <(echo changeit) --out rw-after.jks
check_eq "after cert renew, keytool reads the renewal in the JKS, as a key entry under its alias" \
    "PrivateKeyEntry $(fingerprint "$r1")" "$(leaf_of rw-after.jks tomcat)"
check_eq "with the renewal's whole chain" 3 "$(sed -n 's/^Certificate chain length: //p' leaf.list)"
check_eq "the keystore's entries: the alias kept, the renewal's id" "tomcat:true:generated:$r1" \
    "$(api GET "/api/v1/keystores/$rw_store"; body '[.entries[] | "\(.alias):\(.has_private_key):\(.origin):\(.certificate_id)"] | join(" ")')"
remote keystore export "$rw_store" --format p12 --password-file <(echo changeit) --out rw-after.p12
check_eq "and the key with it is the renewal's (a new one)" "$(public_key "$r1")" \
    "$(openssl pkcs12 -in rw-after.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
[ "$(public_key "$r1")" != "$(public_key "$rw")" ] || fail "the renewal kept the key: the test shows nothing"
api POST "/api/v1/keystores/$ks/export" '{"format":"jks","password":"changeit"}'
cp "$T/body" edited-after.jks
check_eq "the entry added to another keystore moved too" \
    "PrivateKeyEntry $(fingerprint "$r1")" "$(leaf_of edited-after.jks rw-added)"
check_eq "its other entries as they were" "Tomcat:true Web-Server:true partner2:false rw-added:true" "$(entries "$ks")"
api GET "/api/v1/keystores/$rw_trust"
trust_alias=$(body '.entries[0].alias')
api POST "/api/v1/keystores/$rw_trust/export" '{"format":"jks","password":"changeit"}'
cp "$T/body" trust-after.jks
check_eq "the uploaded certificate alone: a trusted entry still, of the renewal" \
    "trustedCertEntry $(fingerprint "$r1")" "$(leaf_of trust-after.jks "$trust_alias")"
api GET "/api/v1/audit?action=certificate.issue&object_id=$r1"
renewer=$(body '.items[0].actor')
api GET "/api/v1/audit?action=keystore.entry_renew&limit=1000"
check_eq "each entry moved audited, by who renewed, naming what it replaces" "$((before + 3)) $renewer $rw $r1" \
    "$(body '.items | length') $(body '.items[-1] | .actor + " " + .detail.replaces + " " + .detail.certificate_id')"

# The renewal renewed (through the API, its key kept): the entries move on again.
api POST "/api/v1/certificates/$r1/renew" '{"reuse_key":true}'
check_eq "the renewal renewed" 201 "$status"
r2=$(body .id)
remote keystore export "$rw_store" --format jks --password-file <(echo changeit) --out rw-again.jks
check_eq "keytool reads the renewal of the renewal" "PrivateKeyEntry $(fingerprint "$r2")" "$(leaf_of rw-again.jks tomcat)"
# Other tenants' keystores are not theirs to follow: theirs holds its own row of the certificate.
TOKEN=$other api POST "/api/v1/keystores?name=theirs" "" -H "Content-Type: application/x-pem-file" --data-binary @rw.pem
theirs_store=$(body .id)
api POST "/api/v1/certificates/$r2/renew"
check_eq "renewed a third time" 201 "$status"
TOKEN=$other api GET "/api/v1/keystores/$theirs_store"
theirs_cert=$(body '.entries[0].certificate_id')
TOKEN=$other api GET "/api/v1/certificates/$theirs_cert"
check_eq "another tenant's keystore of the same certificate is as it was" \
    "$(openssl x509 -in rw.pem -noout -fingerprint -sha256 | cut -d= -f2)" \
    "$(body .pem | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)"

# ---- an entry without a key that holds a chain (a CA bundle uploaded): exported as JKS or
# P12, each CA a trusted entry under its own name, as a truststore names them (the root was
# "Corp Issuing-2", named after the intermediate)
outside_ca
cat corp-issuing.pem corp-root.pem > bundle.pem
api POST "/api/v1/keystores?name=bundle" "" -H "Content-Type: application/x-pem-file" --data-binary @bundle.pem
bundle=$(body .id)
api POST "/api/v1/keystores/$bundle/export" '{"format":"jks","password":"changeit"}'
cp "$T/body" bundle.jks
check_eq "a bundle's JKS: the intermediate and the root, each under its own name" "corp issuing,corp root" \
    "$(keytool -list -keystore bundle.jks -storepass changeit 2>/dev/null | sed -n 's/^\([^,]*\), .*trustedCertEntry.*/\1/p' | sort | paste -sd,)"

# ---- a keystore renamed (its exports go out under its name)
api PATCH "/api/v1/keystores/$ks" '{"name":"payments-prod"}'
check_eq "renamed: the keystore as GET shows it" "200 payments-prod" "$status $(body .name)"
api POST "/api/v1/keystores/$ks/export" '{"format":"jks","password":"changeit"}' -D "$T/headers"
check_eq "its export offered under the new name" 'attachment; filename="payments-prod.jks"' \
    "$(tr -d '\r' <"$T/headers" | sed -n 's/^[Cc]ontent-[Dd]isposition: //p')"
api GET "/api/v1/audit?action=keystore.rename&object_id=$ks"
check_eq "audited with the old name" "edited payments-prod" "$(body '.items[0].detail | .old_name + " " + .name')"
api PATCH "/api/v1/keystores/$ks" '{"name":""}'
check_eq "an empty name: 400" "400 name" "$status $(body .error.field)"
api PATCH "/api/v1/keystores/$ks" '{"name":"x","format":"p12"}'
check_eq "a field it does not take: 400" "400 format" "$status $(body .error.field)"
TOKEN=$viewer api PATCH "/api/v1/keystores/$ks" '{"name":"viewer was here"}'
check_eq "a viewer may not rename it" 403 "$status"
TOKEN=$other api PATCH "/api/v1/keystores/$ks" '{"name":"theirs now"}'
check_eq "nor another tenant (404)" 404 "$status"
check_eq "certhub keystore rename" "$ks  edge-gateway" "$(remote keystore rename "$ks" edge-gateway)"
api GET "/api/v1/keystores/$ks"
check_eq "and it is so" edge-gateway "$(body .name)"
check_eq "a name that begins with a dash, after --" "$ks  -dash" "$(remote keystore rename "$ks" -- -dash)"
done_testing
