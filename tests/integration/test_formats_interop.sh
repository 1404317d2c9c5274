#!/usr/bin/env bash
# Keystores made by keytool and openssl are read with the right aliases, chains and keys, and
# certhub's JKS and PKCS#12 are read back by keytool and openssl with the same certificates
# and keys.
. "$(dirname "$0")/lib.sh"

command -v keytool >/dev/null || fail "keytool is missing (scripts/deps.sh installs it)"
echo changeit > pw
echo keypass1 > kpw
echo wrong > bad

kt() { keytool "$@" >/dev/null 2>&1 || fail "keytool $*"; }
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2 | tr -d : | tr A-F a-f; }

# A CA of our own, imported as a trusted entry everywhere.
"$CERTHUB" cert create --profile root-ca --subject "CN=Interop Root" --key-type p256 --key-out root.key --out root.pem
root_fp=$(fp root.pem)

# JKS: RSA and EC key entries (one with its own key password) and a trusted entry.
kt -genkeypair -keystore a.jks -storetype JKS -storepass changeit -keypass changeit -alias rsa-entry -keyalg RSA -keysize 2048 -dname "CN=jks rsa" -validity 30
kt -genkeypair -keystore a.jks -storetype JKS -storepass changeit -keypass keypass1 -alias ec-entry -keyalg EC -groupname secp256r1 -dname "CN=jks ec" -validity 30
kt -importcert -noprompt -keystore a.jks -storetype JKS -storepass changeit -alias our-root -file root.pem
check_contains "JKS key with its own password: listed, its key not opened without it" \
    "$("$CERTHUB" inspect a.jks --password-file pw)" 'the key of entry "ec-entry" was not opened'
expect_error "and a conversion writing keys needs it" 'wrong password for the key of entry "ec-entry"' -- \
    "$CERTHUB" convert a.jks --in-password-file pw --to p12 --password-file pw --out needs-key.p12
expect_error "a keystore read without its password: --password-file (of what is written) is not it" \
    "a password is needed to open the keystore: give it with --in-password-file F (--password-file is that of the file written)" -- \
    "$CERTHUB" convert a.jks --password-file pw --to pem --out no-in-password.pem
expect_error "and without either, the option that gives it is named" \
    "a password is needed to open the keystore: give it with --in-password-file F" -- \
    "$CERTHUB" convert a.jks --to pem --out no-in-password.pem
if [ ! -e no-in-password.pem ]; then ok "and nothing is written"; else fail "not so: and nothing is written"; fi
kt -keypasswd -keystore a.jks -storetype JKS -storepass changeit -alias ec-entry -keypass keypass1 -new changeit
json=$("$CERTHUB" inspect a.jks --password-file pw --json)
check_contains "JKS alias rsa-entry" "$json" '"alias": "rsa-entry"'
check_contains "JKS alias ec-entry" "$json" '"alias": "ec-entry"'
check_contains "JKS trusted entry" "$json" '"alias": "our-root"'
check_contains "JKS trusted certificate is ours" "$json" "\"sha256\": \"$root_fp\""
expect_error "JKS wrong store password" "wrong password for keystore" -- "$CERTHUB" inspect a.jks --password-file bad
# Without its password, as keytool -list: the certificates (in clear in a JKS) listed, said to
# be unchecked, every key closed; certificates converted; a keystore cut short still refused.
out=$(env -u CERTHUB_PASSWORD -u CERTHUB_IN_PASSWORD "$CERTHUB" inspect a.jks) || fail "inspect a.jks without a password failed"
check_contains "JKS without its password: listed" "$out" "our-root"
check_contains "said to be unchecked" "$out" "the keystore's integrity was not checked: no password was given"
check_contains "its keys not opened" "$out" 'the key of entry "rsa-entry" was not opened: no password was given'
env -u CERTHUB_PASSWORD -u CERTHUB_IN_PASSWORD "$CERTHUB" convert a.jks --no-key --to pem --out nopw.pem 2>nopw.err
check_eq "convert --no-key without the password: its three certificates" 3 "$(grep -c 'BEGIN CERTIFICATE' nopw.pem)"
check_contains "with the note on stderr" "$(cat nopw.err)" "integrity was not checked"
head -c 200 a.jks > cut.jks
expect_error "a JKS cut short, without a password: refused as cut short" "the keystore is cut short" -- \
    env -u CERTHUB_PASSWORD -u CERTHUB_IN_PASSWORD "$CERTHUB" inspect cut.jks

# JCEKS with a key password different from the store password.
kt -genkeypair -keystore b.jceks -storetype JCEKS -storepass changeit -keypass keypass1 -alias jceks-ec -keyalg EC -groupname secp384r1 -dname "CN=jceks ec" -validity 30
kt -importcert -noprompt -keystore b.jceks -storetype JCEKS -storepass changeit -alias our-root -file root.pem
json=$("$CERTHUB" inspect b.jceks --password-file pw --key-password-file kpw --json)
check_contains "JCEKS key entry" "$json" '"alias": "jceks-ec"'
check_contains "JCEKS trusted entry" "$json" "\"sha256\": \"$root_fp\""
expect_error "JCEKS wrong key password" "wrong password for the key of entry" -- \
    "$CERTHUB" convert b.jceks --in-password-file pw --key-password-file bad --to jks --password-file pw --out bad-key.jks
check_contains "(inspect lists it, the key not opened)" \
    "$("$CERTHUB" inspect b.jceks --password-file pw --key-password-file bad)" "neither the key password nor the keystore's opens it"

# JCEKS secret keys (AES and HMAC keys of Java applications, between and around the entries
# certhub holds): the other entries are read, each secret key is left out and said to be.
kt -genseckey -keystore s.jceks -storetype JCEKS -storepass changeit -keypass changeit -alias aes-key -keyalg AES -keysize 128
kt -genkeypair -keystore s.jceks -storetype JCEKS -storepass changeit -keypass changeit -alias s-ec -keyalg EC -groupname secp256r1 -dname "CN=beside secrets" -validity 30
kt -genseckey -keystore s.jceks -storetype JCEKS -storepass changeit -keypass changeit -alias hmac-key -keyalg HmacSHA256 -keysize 256
kt -importcert -noprompt -keystore s.jceks -storetype JCEKS -storepass changeit -alias our-root -file root.pem
json=$("$CERTHUB" inspect s.jceks --password-file pw --json)
check_eq "JCEKS with secret keys: the key and trusted entries read" "our-root,s-ec" \
    "$(echo "$json" | jq -r '[.entries[].alias] | sort | join(",")')"
check_eq "each secret key said to be left out" 2 "$(echo "$json" | jq '[.notes[] | select(test("is a secret key, which certhub does not hold: left out"))] | length')"
"$CERTHUB" convert s.jceks --in-password-file pw --to p12 --password-file pw --out s.p12 2>s.err
check_eq "converted to PKCS#12, keytool lists what was read" "our-root s-ec" \
    "$(keytool -list -keystore s.p12 -storepass changeit 2>/dev/null | grep -oE '^(our-root|s-ec)' | sort | paste -sd' ')"
check_contains "and convert says what it left out" "$(cat s.err)" 'entry "hmac-key" is a secret key'
size=$(stat -c %s s.jceks)
for len in $(seq 40 53 $((size - 1))); do
    head -c $len s.jceks > cut.jceks
    "$CERTHUB" inspect cut.jceks --password-file pw >/dev/null 2>cut.err && fail "JCEKS cut to $len bytes was read"
    grep -q "cut short" cut.err || fail "JCEKS cut to $len bytes: $(cat cut.err)"
done
ok "a JCEKS with secret keys cut anywhere is said to be cut short"

# PKCS#12 by keytool, by openssl (modern) and by openssl -legacy (RC2/3DES, needs the legacy provider).
kt -genkeypair -keystore c.p12 -storetype PKCS12 -storepass changeit -alias p12-rsa -keyalg RSA -dname "CN=p12 rsa" -validity 30
check_contains "keytool PKCS#12 key entry" "$("$CERTHUB" inspect c.p12 --password-file pw --json)" '"alias": "p12-rsa"'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj "/CN=openssl leaf" -days 5 -out leaf.pem 2>/dev/null
openssl pkcs12 -export -in leaf.pem -inkey leaf.key -certfile root.pem -name "openssl entry" -passout pass:changeit -out modern.p12
openssl pkcs12 -export -legacy -in leaf.pem -inkey leaf.key -name "legacy entry" -passout pass:changeit -out legacy.p12
check_contains "openssl PKCS#12 alias" "$("$CERTHUB" inspect modern.p12 --password-file pw --json)" '"alias": "openssl entry"'
check_contains "openssl -legacy PKCS#12 alias" "$("$CERTHUB" inspect legacy.p12 --password-file pw --json)" '"alias": "legacy entry"'
expect_error "PKCS#12 wrong password" "wrong password for keystore" -- "$CERTHUB" inspect modern.p12 --password-file bad
expect_error "PKCS#12 without a password: said to need one (its certificates are encrypted)" \
    "a password is needed to open the keystore" -- \
    env -u CERTHUB_PASSWORD -u CERTHUB_IN_PASSWORD "$CERTHUB" inspect modern.p12
openssl pkcs12 -export -in leaf.pem -inkey leaf.key -nomac -passout pass:changeit -out nomac.p12
expect_error "one without a MAC too (it was said to be a wrong password)" \
    "a password is needed to open the keystore" -- \
    env -u CERTHUB_PASSWORD -u CERTHUB_IN_PASSWORD "$CERTHUB" inspect nomac.p12

# certhub's JKS, read back by keytool: same aliases and certificates, keys usable.
"$CERTHUB" convert a.jks --in-password-file pw --to jks --password-file pw --out out.jks
list=$(keytool -list -v -keystore out.jks -storepass changeit 2>/dev/null)
check_contains "keytool lists rsa-entry" "$list" "Alias name: rsa-entry"
check_contains "keytool lists ec-entry as a key entry" "$list" "Entry type: PrivateKeyEntry"
check_contains "keytool lists the trusted root" "$list" "Entry type: trustedCertEntry"
root_colon=$(openssl x509 -noout -fingerprint -sha256 -in root.pem | cut -d= -f2)
check_contains "keytool sees the same root certificate" "$list" "$root_colon"
kt -importkeystore -srckeystore out.jks -srcstorepass changeit -destkeystore via-keytool.p12 -deststoretype PKCS12 -deststorepass changeit -noprompt
check_eq "keytool opens both keys of certhub's JKS" 2 "$(openssl pkcs12 -in via-keytool.p12 -nocerts -nodes -passin pass:changeit 2>/dev/null | grep -c 'BEGIN PRIVATE KEY')"

# keytool's PKCS#12 of two keys whose chains carry the same CA, and that CA as a named trusted
# entry: read as keytool reads it (three entries, each alias on its own certificate), not the
# chains' copies of the CA as entries of their own.
printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n' > ica.ext
for n in k1 k2; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" -subj "/CN=$n" -out "$n.csr" 2>/dev/null
    openssl x509 -req -in "$n.csr" -CA root.pem -CAkey root.key -CAcreateserial -days 5 -out "$n.pem" 2>/dev/null
    openssl pkcs12 -export -in "$n.pem" -inkey "$n.key" -certfile root.pem -name "$n" -passout pass:changeit -out "$n.p12"
    kt -importkeystore -srckeystore "$n.p12" -srcstoretype PKCS12 -srcstorepass changeit -destkeystore multi.p12 \
        -deststoretype PKCS12 -deststorepass changeit -noprompt
done
kt -importcert -noprompt -keystore multi.p12 -storetype PKCS12 -storepass changeit -alias our-root -file root.pem
check_eq "keytool's PKCS#12 of two keys and a trusted CA: the same three entries" \
    "$(keytool -list -keystore multi.p12 -storepass changeit 2>/dev/null | grep -o '^[a-z0-9-]*, [^,]*, [^,]*, [A-Za-z]*Entry' | cut -d, -f1,4 | tr -d ' ' | sort | paste -sd' ')" \
    "$("$CERTHUB" inspect multi.p12 --password-file pw --json | jq -r '.entries[] | .alias + "," + (if .type == "private_key_entry" then "PrivateKeyEntry" else "trustedCertEntry" end)' | sort | paste -sd' ')"
# openssl pkcs12 -nodes writes each block's friendlyName before it ("Bag Attributes"): the alias
# comes through PEM.
openssl pkcs12 -in k1.p12 -nodes -passin pass:changeit -out k1-bags.pem 2>/dev/null
"$CERTHUB" convert k1-bags.pem --to jks --password-file pw --out k1-bags.jks 2>/dev/null
check_eq "PEM with openssl's Bag Attributes: the friendly name is the alias" "k1" \
    "$(keytool -list -keystore k1-bags.jks -storepass changeit 2>/dev/null | grep PrivateKeyEntry | cut -d, -f1)"
# A friendly name beyond U+07FF (a check mark, CJK, the euro sign) is kept.
openssl pkcs12 -export -in k1.pem -inkey k1.key -name "Zertifikat für Müller ✓ 証明書 €" -passout pass:changeit -out uni.p12
check_eq "a friendly name in any script is the alias" "Zertifikat für Müller ✓ 証明書 €" \
    "$("$CERTHUB" inspect uni.p12 --password-file pw --json | jq -r '.entries[0].alias')"
"$CERTHUB" convert multi.p12 --in-password-file pw --to jks --no-key --password-file pw --out multi-trust.jks 2>/dev/null
check_eq "as a truststore: each certificate once, the trusted CA under its own alias" "k1 k2 our-root" \
    "$(keytool -list -keystore multi-trust.jks -storepass changeit 2>/dev/null | grep trustedCertEntry | cut -d, -f1 | sort | paste -sd' ')"
"$CERTHUB" convert multi.p12 --in-password-file pw --to p7b --out multi.p7b 2>/dev/null
check_eq "as PKCS#7: each certificate once (two leaves, their one CA)" 3 \
    "$(openssl pkcs7 -in multi.p7b -inform DER -print_certs | grep -c 'BEGIN CERTIFICATE')"
# A truststore of a root and an intermediate, each named: each name on its own certificate.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ica.key -subj "/CN=Interop Intermediate" -out ica.csr 2>/dev/null
openssl x509 -req -in ica.csr -CA root.pem -CAkey root.key -CAcreateserial -days 5 -extfile ica.ext -out ica.pem 2>/dev/null
kt -importcert -noprompt -keystore ts.p12 -storetype PKCS12 -storepass changeit -alias root -file root.pem
kt -importcert -noprompt -keystore ts.p12 -storetype PKCS12 -storepass changeit -alias intermediate -file ica.pem
check_eq "a PKCS#12 truststore: each alias on its own certificate" "intermediate=CN=Interop Intermediate root=CN=Interop Root" \
    "$("$CERTHUB" inspect ts.p12 --password-file pw --json | jq -r '.entries[] | .alias + "=" + .chain[0].subject' | sort | paste -sd' ')"

# --no-key into JKS and PKCS#12: a truststore, certificates as trusted entries, no key.
for to in jks p12; do
    "$CERTHUB" convert a.jks --in-password-file pw --to $to --no-key --password-file pw --out "trust-only.$to"
    list=$(keytool -list -keystore "trust-only.$to" -storepass changeit 2>/dev/null)
    check_eq "convert --to $to --no-key: no key entry, every certificate trusted" "0 3" \
        "$(echo "$list" | grep -c PrivateKeyEntry) $(echo "$list" | grep -c trustedCertEntry)"
    check_eq "and readable by all, holding no secret" 644 "$(stat -c %a "trust-only.$to")"
done

# certhub's PKCS#12 (modern and legacy), read back by openssl: the key matches the certificate.
"$CERTHUB" convert modern.p12 --in-password-file pw --to p12 --password-file pw --out out.p12
info=$(openssl pkcs12 -in out.p12 -info -nodes -passin pass:changeit 2>&1)
check_contains "modern PKCS#12 MAC is SHA-256" "$info" "MAC: sha256"
check_contains "modern PKCS#12 uses AES-256 and PBKDF2" "$info" "PBES2, PBKDF2, AES-256-CBC"
check_contains "friendly name kept" "$info" "friendlyName: openssl entry"
openssl pkcs12 -in out.p12 -nocerts -nodes -passin pass:changeit 2>/dev/null | openssl pkey -pubout > key.pub
openssl pkcs12 -in out.p12 -clcerts -nokeys -passin pass:changeit 2>/dev/null | openssl x509 -pubkey -noout > cert.pub
check_eq "exported key belongs to exported certificate" "$(cat cert.pub)" "$(cat key.pub)"
check_eq "exported leaf is the same certificate" "$(fp leaf.pem)" "$(openssl pkcs12 -in out.p12 -clcerts -nokeys -passin pass:changeit 2>/dev/null | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)"
"$CERTHUB" convert modern.p12 --in-password-file pw --to p12 --legacy --password-file pw --out out-legacy.p12
check_contains "legacy PKCS#12 uses 3DES" "$(openssl pkcs12 -legacy -in out-legacy.p12 -info -noout -passin pass:changeit 2>&1)" "TripleDES"
if keytool -list -keystore out.p12 -storepass changeit -storetype PKCS12 >/dev/null 2>&1; then ok "keytool opens certhub's PKCS#12"; else fail "not so: keytool opens certhub's PKCS#12"; fi
# A JKS with a trusted root, as PKCS#12: Java still finds the root as a trusted entry.
"$CERTHUB" convert a.jks --in-password-file pw --to p12 --password-file pw --out trust.p12
list=$(keytool -list -v -keystore trust.p12 -storepass changeit -storetype PKCS12 2>/dev/null)
check_contains "keytool lists the root of certhub's PKCS#12 as trusted" "$list" "Entry type: trustedCertEntry"
check_contains "and the key entries beside it" "$list" "Entry type: PrivateKeyEntry"
check_eq "openssl reads its three certificates" 3 "$(openssl pkcs12 -in trust.p12 -nokeys -passin pass:changeit 2>/dev/null | grep -c 'BEGIN CERTIFICATE')"

# PEM, DER and P7B round trips keep the certificates.
"$CERTHUB" convert modern.p12 --in-password-file pw --to p7b --out out.p7b
check_contains "P7B holds both certificates" "$(openssl pkcs7 -inform DER -in out.p7b -print_certs -noout 2>&1)" "Interop Root"
"$CERTHUB" convert out.p7b --to pem --out out.pem
check_eq "P7B to PEM keeps two certificates" 2 "$(grep -c 'BEGIN CERTIFICATE' out.pem)"
"$CERTHUB" convert leaf.pem --to der --out leaf.der
check_eq "DER is the same certificate" "$(fp leaf.pem)" "$(openssl x509 -inform DER -in leaf.der -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)"
# A CA chain without a key (each certificate followed by its issuer) becomes a truststore of
# one trusted entry per certificate: a JKS trusted entry holds one, and the rest were dropped.
"$CERTHUB" cert create --profile intermediate-ca --subject "CN=Interop Issuing" --key-type p256 --ca root.pem \
    --ca-key root.key --key-out mid.key --out mid.pem
cat mid.pem root.pem > ca-chain.pem
"$CERTHUB" convert ca-chain.pem --to jks --password-file pw --out chain-trust.jks
# kt_fps STORE [keytool options]: the fingerprints of every certificate keytool lists, sorted
kt_fps() {
    rm -rf kt.d && mkdir kt.d
    keytool -list -rfc -keystore "$@" -storepass changeit 2>/dev/null |
        awk '/BEGIN CERTIFICATE/ { f = "kt.d/" ++n ".pem" } f { print > f } /END CERTIFICATE/ { f = "" }'
    for c in kt.d/*.pem; do fp "$c"; done | sort | paste -sd' '
}
check_eq "a keyless chain to JKS: each certificate its own trusted entry" \
    "2 $(printf '%s\n' "$(fp mid.pem)" "$root_fp" | sort | paste -sd' ')" \
    "$(keytool -list -keystore chain-trust.jks -storepass changeit 2>/dev/null | grep -c trustedCertEntry) $(kt_fps chain-trust.jks)"
"$CERTHUB" convert ca-chain.pem --to p12 --password-file pw --out chain-trust.p12
check_eq "and to PKCS#12: keytool lists both" 2 \
    "$(keytool -list -keystore chain-trust.p12 -storetype PKCS12 -storepass changeit 2>/dev/null | grep -c trustedCertEntry)"
check_contains "to DER, which holds one certificate: said, not dropped silently" \
    "$("$CERTHUB" convert ca-chain.pem --to der --out first.der 2>&1)" "DER holds one certificate: its chain is left out"
expect_error "to DER from a keystore of several entries: refused, as the server's export is" \
    "DER holds one certificate and multi.p12 has" -- \
    "$CERTHUB" convert multi.p12 --in-password-file pw --to der --out several.der
[ ! -e several.der ] || fail "convert wrote several.der"
# A key beside a certificate it does not belong to would be left out of what is written (the
# keystore written without a key, exit 0): refused, as the server refuses that file.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out stray.key 2>/dev/null
cat stray.key leaf.pem root.pem > wrong-key.pem
expect_error "a key that is none of the certificates': refused" \
    "wrong-key.pem holds 1 private key that belongs to none of its certificates" -- \
    "$CERTHUB" convert wrong-key.pem --to p12 --password-file pw --out wrong-key.p12
[ ! -e wrong-key.p12 ] || fail "convert wrote wrong-key.p12"
"$CERTHUB" convert wrong-key.pem --to p12 --no-key --password-file pw --out wrong-key-certs.p12 2>/dev/null
ok "the certificates alone with --no-key"
# A keystore with a key certhub does not take (RSA of 1024 bits): refused naming the entry;
# inspect lists it, and its certificates are taken out alone.
openssl req -x509 -newkey rsa:1024 -nodes -keyout weak.key -subj /CN=weak -days 3 -out weak.pem 2>/dev/null
openssl pkcs12 -export -inkey weak.key -in weak.pem -name weak-one -passout pass:changeit -out weak.p12
kt -importkeystore -srckeystore weak.p12 -srcstoretype PKCS12 -srcstorepass changeit -destkeystore weak.jks \
    -deststoretype JKS -deststorepass changeit -noprompt
for f in weak.p12 weak.jks; do
    expect_error "$f: the weak key refused, its entry named" \
        'the key of entry "weak-one": RSA key of 1024 bits is too weak: RSA keys must have at least 2048 bits; --no-key writes its certificates alone' -- \
        "$CERTHUB" convert "$f" --in-password-file pw --to p12 --password-file pw --out "w-$f.p12"
    check_contains "$f: inspect lists the entry, the key said to be left out" \
        "$("$CERTHUB" inspect "$f" --password-file pw 2>&1)" 'the key of entry "weak-one" was left out'
    check_contains "$f: as a key entry whose key is not opened (a PKCS#12's was listed as a trusted certificate)" \
        "$("$CERTHUB" inspect "$f" --password-file pw 2>&1)" "private key entry (key not opened: see the notes)"
    check_eq "$f: its certificate's key named as it is (it was \"unknown\", 0 bits)" "RSA 1024" \
        "$("$CERTHUB" inspect "$f" --password-file pw --json 2>/dev/null |
            jq -r '.entries[0].chain[0] | "\(.key_algorithm) \(.key_bits)"')"
    "$CERTHUB" convert "$f" --in-password-file pw --to pem --no-key --out "w-$f.pem" 2>/dev/null
    check_eq "$f: its certificate taken out with --no-key" "$(fp weak.pem)" "$(fp "w-$f.pem")"
done
openssl genrsa -out r3000.key 3000 2>/dev/null
check_contains "an RSA key's type names its size (3000 bits read rsa2048)" \
    "$("$CERTHUB" inspect r3000.key --json)" '"key_type": "rsa3000"'
# A key that was under a password goes to a PEM in clear only when asked.
expect_error "a PKCS#12's key to PEM without a password: refused, saying how" \
    "held its key under a password: give --password-file" -- \
    "$CERTHUB" convert modern.p12 --in-password-file pw --to pem --out clear.pem
"$CERTHUB" convert modern.p12 --in-password-file pw --to pem --no-password --out clear.pem 2>/dev/null
check_eq "with --no-password, in clear" 1 "$(grep -c 'BEGIN PRIVATE KEY' clear.pem)"
openssl pkcs8 -topk8 -in leaf.key -passout pass:changeit -out leaf-enc.key
cat leaf.pem leaf-enc.key > enc-bundle.pem
expect_error "an encrypted PEM key opened with --key-password-file, to PEM: refused the same" \
    "held its key under a password: give --password-file" -- \
    "$CERTHUB" convert enc-bundle.pem --key-password-file pw --to pem --out clear2.pem
[ ! -e clear2.pem ] || fail "convert wrote clear2.pem"
check_contains "to P7B from a keystore with a key: the key said to be left out" \
    "$("$CERTHUB" convert modern.p12 --in-password-file pw --to p7b --out nokey.p7b 2>&1)" "P7B holds certificates only: the private key is left out"
# A keystore whose key has a password of its own is listed with the store's alone (as keytool
# -list does), that key said to be closed; its certificates are taken out without it.
kt -genkeypair -keystore own.jks -storetype JKS -storepass changeit -keypass keypass1 -alias own-key -keyalg EC \
    -groupname secp256r1 -dname "CN=own key" -validity 30
out=$("$CERTHUB" inspect own.jks --password-file pw)
check_contains "inspect with the store password alone: the entry listed, its key said not opened" "$out" \
    "private key entry (key not opened: see the notes)"
check_contains "and why" "$out" "the key of entry \"own-key\" was not opened"
"$CERTHUB" convert own.jks --in-password-file pw --to pem --no-key --out own-certs.pem 2>/dev/null
check_eq "convert --no-key takes the certificate out without the key's password" "CN = own key" \
    "$(openssl x509 -in own-certs.pem -noout -subject | sed 's/^subject=//')"
expect_error "but a conversion that writes the key still needs it" 'wrong password for the key of entry "own-key"' -- \
    "$CERTHUB" convert own.jks --in-password-file pw --to p12 --password-file pw --out own.p12
check_eq "inspect --json: a keystore's key described as a key file's is" "private_key_entry EC 256 P-256" \
    "$("$CERTHUB" inspect modern.p12 --password-file pw --json | jq -r '.entries[0] | "\(.type) \(.algorithm) \(.bits) \(.curve)"')"
check_contains "inspect reads CERTHUB_IN_PASSWORD, as convert does" \
    "$(CERTHUB_IN_PASSWORD=changeit "$CERTHUB" inspect modern.p12)" "Keystore (p12)"
expect_error "unknown bytes name the accepted formats" "accepted: PEM, DER certificate" -- "$CERTHUB" convert pw --to pem --out x.pem
expect_error "writing PKCS#12 needs a password" "needs a password" -- "$CERTHUB" convert leaf.pem --to p12 --out x.p12
# A PKCS#12 without a password (the empty one), asked for by name: openssl and keytool open it
# with an empty password; an empty password file is not taken for one.
: > empty-pw
expect_error "an empty password file does not write an unprotected key" "whose first line is not empty" -- \
    "$CERTHUB" convert modern.p12 --in-password-file pw --to p12 --password-file empty-pw --out x.p12
expect_usage "--no-password goes with p12 alone" "--no-password goes with --to p12" -- \
    "$CERTHUB" convert modern.p12 --in-password-file pw --to jks --no-password --out x.jks
"$CERTHUB" convert modern.p12 --in-password-file pw --to p12 --no-password --out nopw.p12
openssl pkcs12 -in nopw.p12 -nocerts -nodes -passin pass: 2>/dev/null | openssl pkey -pubout > nopw-key.pub
check_eq "convert --no-password: openssl opens the key with an empty password" "$(openssl pkey -in leaf.key -pubout)" \
    "$(cat nopw-key.pub)"
check_eq "and keytool lists its entry with -storepass ''" "openssl entry" \
    "$(keytool -list -keystore nopw.p12 -storetype PKCS12 -storepass '' 2>/dev/null | grep PrivateKeyEntry | cut -d, -f1)"
check_eq "and certhub reads it back without a password" "openssl entry" \
    "$(env -u CERTHUB_PASSWORD -u CERTHUB_IN_PASSWORD "$CERTHUB" inspect nopw.p12 --json | jq -r '.entries[0].alias')"

# Truncations of a small keystore of each kind: refused, never a crash.
for f in a.jks modern.p12; do
    size=$(stat -c %s $f)
    for len in $(seq 0 13 $((size - 1))); do
        head -c $len $f > cut.bin
        rc=0
        "$CERTHUB" inspect cut.bin --password-file pw >/dev/null 2>cut.err || rc=$?
        [ $rc = 1 ] || fail "$f cut to $len bytes: exit $rc"
        # (a cut short of a JKS's 4-byte magic or a DER header is no keystore yet)
        [ $len -lt 4 ] || grep -q "cut short" cut.err || fail "$f cut to $len bytes: not said to be cut: $(cat cut.err)"
    done
    ok "$f truncated at every 13th length is refused cleanly, and said to be cut short"
done
printf 'garbage' | cat a.jks - > tail.jks
expect_error "garbage after a JKS" "wrong password for keystore" -- "$CERTHUB" inspect tail.jks --password-file pw

done_testing
