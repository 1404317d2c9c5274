#!/usr/bin/env bash
# What users of keystores ask of an export beyond its format, read back by keytool and
# openssl: the alias of a certificate's entry (Tomcat's "tomcat"), a PKCS#12 without a
# password (the empty one, as Windows and Kubernetes secrets use it), a JKS key password apart
# from the store's (keytool -keypass); and each of them refused with a 400 naming it where it
# has no place, changing nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/keytool.sh"

pub_of_cert() { openssl x509 -in "$1" -pubkey -noout; }

start_daemon
TOKEN=$(cat "$data/admin-token")
api POST /api/v1/certificates '{"subject":{"common_name":"tomcat.example"},"sans":["dns:tomcat.example"],"name":"web"}'
check_eq "a certificate issued with a key certhub holds" "201 true" "$status $(body .has_private_key)"
id=$(body .id)
api GET "/api/v1/certificates/$id/export?format=pem"
openssl x509 -in "$T/body" -out web.pem
key_exports() { api GET "/api/v1/audit?action=key.export&limit=1000"; body '.items | length'; }

# ---- alias
api POST "/api/v1/certificates/$id/export" '{"format":"p12","password":"changeit","alias":"Tomcat"}'
cp "$T/body" alias.p12
check_eq "p12 with an alias: 200" 200 "$status"
check_eq "keytool lists the alias chosen (in lower case, as Java keeps every alias)" "tomcat,PrivateKeyEntry" \
    "$(kt_entries alias.p12 changeit -storetype PKCS12)"
check_contains "and the PKCS#12 holds it as given, its friendly name" \
    "$(openssl pkcs12 -in alias.p12 -passin pass:changeit -nokeys -info 2>&1)" "friendlyName: Tomcat"
api POST "/api/v1/certificates/$id/export" '{"format":"jks","password":"changeit","alias":"tomcat"}'
cp "$T/body" alias.jks
check_eq "jks with an alias: keytool lists it" "200 tomcat,PrivateKeyEntry" "$status $(kt_entries alias.jks changeit)"
kt -list -keystore alias.jks -storepass changeit -alias tomcat >/dev/null || fail "keytool -alias tomcat: not found"
ok "keytool -alias tomcat finds the entry"
api POST "/api/v1/certificates/$id/export" '{"format":"jks","password":"changeit"}'
check_eq "without an alias, the certificate's name" "web,PrivateKeyEntry" "$(kt_entries "$T/body" changeit)"
# Any script, and characters beyond U+FFFF (an emoji), which Java writes as surrogate pairs.
for f in p12 jks; do
    api POST "/api/v1/certificates/$id/export" "{\"format\":\"$f\",\"password\":\"changeit\",\"alias\":\"Zertifikat für Müller ✓ 証明書 🔒\"}"
    cp "$T/body" "any.$f"
    check_eq "$f: an alias in any script, an emoji too, listed by keytool" \
        "200 zertifikat für müller ✓ 証明書 🔒,PrivateKeyEntry" "$status $(kt_entries "any.$f" changeit)"
done
check_eq "and read back by certhub as given" "Zertifikat für Müller ✓ 証明書 🔒" \
    "$(echo changeit > pw && "$CERTHUB" inspect any.p12 --password-file pw --json | jq -r '.entries[0].alias')"
# A truststore of the certificate: its own entry under the alias, its CAs under their names.
api POST "/api/v1/certificates/$id/export" '{"format":"jks","password":"changeit","truststore":true,"alias":"my-web"}'
check_contains "a truststore with an alias: the certificate's trusted entry under it" \
    "$(kt_entries "$T/body" changeit)" "my-web,trustedCertEntry"

# ---- a PKCS#12 without a password
api POST "/api/v1/certificates/$id/export" '{"format":"p12","password":""}'
cp "$T/body" nopw.p12
check_eq "p12 with \"password\": \"\": 200" 200 "$status"
openssl pkcs12 -in nopw.p12 -passin pass: -nocerts -nodes 2>/dev/null | openssl pkey -pubout > nopw-key.pub
check_eq "openssl -passin pass: opens its key, the certificate's" "$(pub_of_cert web.pem)" "$(cat nopw-key.pub)"
check_eq "keytool opens it with an empty store password" "web,PrivateKeyEntry" \
    "$(kt_entries nopw.p12 '' -storetype PKCS12)"
rm -f nopw-copy.jks
kt -importkeystore -srckeystore nopw.p12 -srcstoretype PKCS12 -srcstorepass '' -destkeystore nopw-copy.jks \
    -deststoretype JKS -deststorepass changeit -noprompt >/dev/null
check_eq "and Java reads its key (copied into a JKS by keytool)" "web,PrivateKeyEntry" "$(kt_entries nopw-copy.jks changeit)"
out=$(openssl pkcs12 -in nopw.p12 -passin pass:changeit -nokeys 2>&1) && fail "a p12 without a password opened with one"
check_contains "not with another password" "$out" "Mac verify error"
api POST "/api/v1/certificates/$id/export" '{"format":"p12","password":"","legacy":true}'
check_eq "legacy too: openssl -legacy -passin pass: reads its key" "200 $(cat nopw-key.pub)" \
    "$status $(openssl pkcs12 -legacy -in "$T/body" -passin pass: -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
api GET "/api/v1/audit?action=key.export&order=desc&limit=1"
check_eq "audited as a key exported without a password" '{"format":"p12","encrypted":false}' \
    "$(body '.items[0].detail' | jq -c .)"
for pw in '' s3cret; do
    api POST "/api/v1/certificates/$id/private-key" "$(jq -nc --arg p "$pw" 'if $p == "" then {} else {password:$p} end')"
    api GET "/api/v1/audit?action=key.export&order=desc&limit=1"
    check_eq "the key as PEM ${pw:+under a password }audited with its format too" \
        "{\"format\":\"pem\",\"encrypted\":$([ -n "$pw" ] && echo true || echo false)}" "$(body '.items[0].detail' | jq -c .)"
done

# ---- a JKS key password apart from the store's
api POST "/api/v1/certificates/$id/export" '{"format":"jks","password":"storepw","key_password":"keypw1","alias":"tomcat"}'
cp "$T/body" keypw.jks
check_eq "jks with a key password: 200, the entry listed with the store's password" "200 tomcat,PrivateKeyEntry" \
    "$status $(kt_entries keypw.jks storepw)"
rm -f wrong.p12 right.p12
out=$(keytool -importkeystore -srckeystore keypw.jks -srcstorepass storepw -srcalias tomcat -srckeypass storepw \
    -destkeystore wrong.p12 -deststoretype PKCS12 -deststorepass changeit -noprompt </dev/null 2>&1) &&
    fail "keytool opened the key with the store's password"
check_contains "keytool does not open the key with the store's password" "$out" "Cannot recover key"
kt -importkeystore -srckeystore keypw.jks -srcstorepass storepw -srcalias tomcat -srckeypass keypw1 \
    -destkeystore right.p12 -deststoretype PKCS12 -deststorepass changeit -noprompt </dev/null >/dev/null ||
    fail "keytool did not open the key with its key password"
check_eq "it opens it with the key password: the certificate's key" "$(pub_of_cert web.pem)" \
    "$(openssl pkcs12 -in right.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
api POST "/api/v1/certificates/$id/export" '{"format":"p12","password":"same-pw","key_password":"same-pw"}'
check_eq "p12 with the key password its password: 200 (its one password)" "200 web,PrivateKeyEntry" \
    "$status $(kt_entries "$T/body" same-pw -storetype PKCS12)"
# A keystore's export: every key entry under the key password.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout up.key -subj /CN=up.example -days 30 \
    -out up.pem 2>/dev/null
openssl pkcs12 -export -in up.pem -inkey up.key -name uploaded -passout pass:s3cret -out up.p12
api POST "/api/v1/keystores?name=up" "" -H "Content-Type: application/x-pkcs12" -H "Certhub-Password: s3cret" \
    --data-binary @up.p12
check_eq "a keystore uploaded" 201 "$status"
ks=$(body .id)
api POST "/api/v1/keystores/$ks/export" '{"format":"jks","password":"storepw","key_password":"keypw1"}'
cp "$T/body" ks.jks
rm -f ks.p12
kt -importkeystore -srckeystore ks.jks -srcstorepass storepw -srcalias uploaded -srckeypass keypw1 \
    -destkeystore ks.p12 -deststoretype PKCS12 -deststorepass changeit -noprompt </dev/null >/dev/null ||
    fail "keytool did not open the keystore's key with the key password"
check_eq "a keystore as jks with a key password: keytool opens its key with it" "$(openssl pkey -in up.key -pubout)" \
    "$(openssl pkcs12 -in ks.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
api POST "/api/v1/keystores/$ks/export" '{"format":"p12","password":""}'
check_eq "a keystore as p12 without a password: openssl opens it" "200 $(openssl pkey -in up.key -pubout)" \
    "$status $(openssl pkcs12 -in "$T/body" -passin pass: -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"

# ---- misuse: 400 naming the field, nothing exported (no key.export in the audit log)
before=$(key_exports)
long=$(printf 'a%.0s' $(seq 1 129))
while IFS='|' read -r what path json field says; do
    api POST "$path" "$json"
    check_eq "$what: 400 $field" "400 $field" "$status $(body .error.field)"
    check_contains "$what: says why" "$(body .error.message)" "$says"
done <<EOF
alias on a keystore's export|/api/v1/keystores/$ks/export|{"format":"p12","password":"pw","alias":"tomcat"}|alias|keep the aliases they are stored under
alias with pem|/api/v1/certificates/$id/export|{"format":"pem","include_key":true,"alias":"tomcat"}|alias|pem, der and p7b have no aliases
alias with der|/api/v1/certificates/$id/export|{"format":"der","alias":"tomcat"}|alias|pem, der and p7b have no aliases
alias with p7b|/api/v1/certificates/$id/export|{"format":"p7b","alias":"tomcat"}|alias|pem, der and p7b have no aliases
an empty alias|/api/v1/certificates/$id/export|{"format":"jks","password":"changeit","alias":""}|alias|1 to 128 characters
an alias with a control character|/api/v1/certificates/$id/export|{"format":"jks","password":"changeit","alias":"tom\u001bcat"}|alias|control character
an alias of 129 characters|/api/v1/certificates/$id/export|{"format":"p12","password":"changeit","alias":"$long"}|alias|longer than 128 characters
an alias that is no string|/api/v1/certificates/$id/export|{"format":"p12","password":"changeit","alias":7}|alias|must be a string
p12 without a password|/api/v1/certificates/$id/export|{"format":"p12"}|password|("" for a PKCS#12 without one)
a keystore as p12 without a password|/api/v1/keystores/$ks/export|{"format":"p12"}|password|("" for a PKCS#12 without one)
jks without a password|/api/v1/certificates/$id/export|{"format":"jks"}|password|a jks needs a password
jks with an empty password|/api/v1/certificates/$id/export|{"format":"jks","password":""}|password|keytool refuses an empty one
p12 with a key password of its own|/api/v1/certificates/$id/export|{"format":"p12","password":"changeit","key_password":"keypw1"}|key_password|a p12 has one password
a key password with pem|/api/v1/certificates/$id/export|{"format":"pem","include_key":true,"key_password":"keypw1"}|key_password|goes with jks
a key password with pem alone|/api/v1/certificates/$id/export|{"format":"pem","key_password":"keypw1"}|key_password|goes with jks
a key password with der|/api/v1/certificates/$id/export|{"format":"der","key_password":"keypw1"}|key_password|goes with jks
a key password with a truststore|/api/v1/certificates/$id/export|{"format":"jks","password":"changeit","truststore":true,"key_password":"keypw1"}|key_password|a truststore holds no key
an empty jks key password|/api/v1/certificates/$id/export|{"format":"jks","password":"changeit","key_password":""}|key_password|cannot be empty
a keystore's empty jks key password|/api/v1/keystores/$ks/export|{"format":"jks","password":"changeit","key_password":""}|key_password|cannot be empty
EOF
check_eq "and none of them exported a key" "$before" "$(key_exports)"

# ---- the CLI: cert export and keystore export
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }
echo storepw > spw
echo keypw1 > kpw
: > empty
remote cert export "$id" --format jks --password-file spw --key-password-file kpw --alias Tomcat --out cli.jks
check_eq "cert export --alias --key-password-file: keytool lists the alias" "tomcat,PrivateKeyEntry" \
    "$(kt_entries cli.jks storepw)"
rm -f cli-key.p12
kt -importkeystore -srckeystore cli.jks -srcstorepass storepw -srcalias tomcat -srckeypass keypw1 \
    -destkeystore cli-key.p12 -deststoretype PKCS12 -deststorepass changeit -noprompt </dev/null >/dev/null ||
    fail "keytool did not open the key of cert export --key-password-file with it"
check_eq "and opens its key with the key password" "$(pub_of_cert web.pem)" \
    "$(openssl pkcs12 -in cli-key.p12 -passin pass:changeit -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
check_eq "downloaded for its owner alone" 600 "$(stat -c %a cli.jks)"
env -u CERTHUB_PASSWORD "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" \
    --ca-file "$data/ca.pem" cert export "$id" --format p12 --no-password --alias tomcat --out cli-nopw.p12
check_eq "cert export --no-password: openssl opens it with an empty password" "$(pub_of_cert web.pem)" \
    "$(openssl pkcs12 -in cli-nopw.p12 -passin pass: -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
check_eq "CERTHUB_PASSWORD set does not override --no-password" "tomcat,PrivateKeyEntry" \
    "$(CERTHUB_PASSWORD=other remote cert export "$id" --format p12 --no-password --alias tomcat --out - |
        cat > env-nopw.p12 && kt_entries env-nopw.p12 '' -storetype PKCS12)"
remote keystore export "$ks" --format jks --password-file spw --key-password-file kpw --out cli-ks.jks
rm -f cli-ks.p12
kt -importkeystore -srckeystore cli-ks.jks -srcstorepass storepw -srcalias uploaded -srckeypass keypw1 \
    -destkeystore cli-ks.p12 -deststoretype PKCS12 -deststorepass changeit -noprompt </dev/null >/dev/null ||
    fail "keytool did not open the key of keystore export --key-password-file with it"
ok "keystore export --key-password-file: keytool opens its key with it"
remote keystore export "$ks" --format p12 --no-password --out cli-ks-nopw.p12
check_eq "keystore export --no-password: openssl opens it with an empty password" "$(openssl pkey -in up.key -pubout)" \
    "$(openssl pkcs12 -in cli-ks-nopw.p12 -passin pass: -nocerts -nodes 2>/dev/null | openssl pkey -pubout)"
before=$(key_exports)
expect_usage "--alias with pem" "--alias names the certificate's entry in a p12 or jks" -- \
    remote cert export "$id" --alias tomcat --out never.pem
expect_usage "--no-password with jks" "--no-password goes with --format p12" -- \
    remote cert export "$id" --format jks --no-password --out never.jks
expect_usage "--no-password with --password-file" "without --password-file" -- \
    remote keystore export "$ks" --format p12 --no-password --password-file spw --out never.p12
expect_usage "--key-password-file with p12" "--key-password-file goes with --format jks" -- \
    remote cert export "$id" --format p12 --password-file spw --key-password-file kpw --out never.p12
expect_usage "--key-password-file with a truststore" "without --truststore" -- \
    remote keystore export "$ks" --format jks --password-file spw --key-password-file kpw --truststore --out never.jks
expect_usage "keystore export p12 without a password: the way to ask for none said" \
    "--format p12 needs --password-file; --no-password for a PKCS#12 without one" -- \
    remote keystore export "$ks" --format p12 --out never.p12
expect_usage "cert export jks without a password" "--format jks needs --password-file (or CERTHUB_PASSWORD)" -- \
    env -u CERTHUB_PASSWORD "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" \
    --ca-file "$data/ca.pem" cert export "$id" --format jks --out never.jks
expect_error "an empty password file is not taken for none" "--password-file gives an empty password: --no-password" -- \
    remote cert export "$id" --format p12 --password-file empty --out never.p12
expect_error "nor an empty key password file" "--key-password-file gives an empty password" -- \
    remote keystore export "$ks" --format jks --password-file spw --key-password-file empty --out never.jks
expect_usage "keystore export takes no --alias (its entries keep theirs)" "alias" -- \
    remote keystore export "$ks" --format jks --password-file spw --alias x --out never.jks
expect_error "an alias the server refuses: its message" "the alias contains a control character" -- \
    remote cert export "$id" --format jks --password-file spw --alias "$(printf 'tom\tcat')" --out never.jks
expect_error "an export to a directory that is not there: refused before asking" "cannot write" -- \
    remote cert export "$id" --format p12 --password-file spw --out nowhere/never.p12
ks_key_exports() { api GET "/api/v1/audit?action=keystore.export_keys&limit=1000"; body '.items | length'; }
ks_before=$(ks_key_exports)
expect_error "a keystore's export there too" "cannot write" -- \
    remote keystore export "$ks" --format jks --password-file spw --out nowhere/never.jks
check_eq "nothing written by the refusals" "" "$(ls never.* 2>/dev/null || true)"
check_eq "and no key exported by them" "$before $ks_before" "$(key_exports) $(ks_key_exports)"

# ---- the file's name and the p7b's encoding
# disposition FORMAT: the Content-Disposition of the certificate's export in that format.
disposition() {
    api GET "/api/v1/certificates/$id/export?format=$1" "" -D "$T/headers"
    [ "$status" = 200 ] || fail "export as $1: $status"
    tr -d '\r' <"$T/headers" | sed -n 's/^[Cc]ontent-[Dd]isposition: //p'
}
check_eq "an export is offered under the certificate's name" 'attachment; filename="web.pem"' "$(disposition pem)"
api PATCH "/api/v1/certificates/$id" '{"name":"Web Server (prod) é/1"}'
check_eq "a name made safe for a file, and given in UTF-8 too (RFC 6266 filename*)" \
    "attachment; filename=\"Web_Server_prod_1.der\"; filename*=UTF-8''Web%20Server%20%28prod%29%20%C3%A9_1.der" \
    "$(disposition der)"
api PATCH "/api/v1/certificates/$id" '{"name":"証明書"}'
check_eq "a name with no ASCII letter or digit: certificate, and the name in filename*" \
    "attachment; filename=\"certificate.p7b\"; filename*=UTF-8''%E8%A8%BC%E6%98%8E%E6%9B%B8.p7b" "$(disposition p7b)"
cp "$T/body" web.p7b
check_eq "p7b is DER (a SEQUENCE's tag first), as the spec says" "30" "$(head -c 1 web.p7b | od -An -tx1 | tr -d ' ')"
check_eq "and openssl reads it as DER PKCS#7: the certificate, its issuer and the root" 3 \
    "$(openssl pkcs7 -inform DER -in web.p7b -print_certs | grep -c '^subject=')"
api PATCH "/api/v1/certificates/$id" '{"name":"web.pem"}'
check_eq "a name that ends as a certificate file does: the export's own ending instead" \
    'attachment; filename="web.der"' "$(disposition der)"
api PATCH "/api/v1/certificates/$id" '{"name":"web.JCEKS"}'
check_eq "and as a keystore file does, a longer ending in any case (web.jceks was web.jceks.pem)" \
    'attachment; filename="web.pem"' "$(disposition pem)"
api PATCH "/api/v1/certificates/$id" '{"name":"web"}'
# A keystore's export under the keystore's name, and a trust bundle as NAME-bundle.
api POST "/api/v1/keystores/$ks/export" '{"format":"jks","password":"storepw"}' -D "$T/headers"
check_eq "a keystore's export is offered under its name" '200 attachment; filename="up.jks"' \
    "$status $(tr -d '\r' <"$T/headers" | sed -n 's/^[Cc]ontent-[Dd]isposition: //p')"
api GET "/api/v1/bundles/default" "" -D "$T/headers"
check_eq "the trust bundle as default-bundle.pem" '200 attachment; filename="default-bundle.pem"' \
    "$status $(tr -d '\r' <"$T/headers" | sed -n 's/^[Cc]ontent-[Dd]isposition: //p')"
api GET "/api/v1/bundles/default?format=p12" "" -H "Certhub-Password: pw" -D "$T/headers"
check_eq "as p12, default-bundle.p12" '200 attachment; filename="default-bundle.p12"' \
    "$status $(tr -d '\r' <"$T/headers" | sed -n 's/^[Cc]ontent-[Dd]isposition: //p')"

done_testing
