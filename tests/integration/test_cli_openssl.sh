#!/usr/bin/env bash
# certhub's offline tools checked by the real openssl: keys, CSRs, a root -> intermediate ->
# leaf chain for every profile, inspect against openssl's own view, verify and its reasons.
. "$(dirname "$0")/lib.sh"

# Keys of every type, read back by openssl.
for t in rsa2048 rsa3072 p256 p384 p521 ed25519; do
    "$CERTHUB" key create --type $t --out $t.key
    text=$(openssl pkey -in $t.key -noout -text 2>&1)
    case $t in
    rsa*) check_contains "$t key is RSA ${t#rsa} bits" "$text" "Private-Key: (${t#rsa} bit" ;;
    p256) check_contains "p256 key curve" "$text" "NIST CURVE: P-256" ;;
    p384) check_contains "p384 key curve" "$text" "NIST CURVE: P-384" ;;
    p521) check_contains "p521 key curve" "$text" "NIST CURVE: P-521" ;;
    ed25519) check_contains "ed25519 key" "$text" "ED25519 Private-Key" ;;
    esac
    check_eq "$t key file mode" 600 "$(stat -c %a $t.key)"
done

# An encrypted key is read by openssl with the same password, and not without it.
printf 's3cret\n' > pw
"$CERTHUB" key create --type p256 --out enc.key --password-file pw
check_contains "encrypted key is PKCS#8" "$(head -1 enc.key)" "ENCRYPTED PRIVATE KEY"
if openssl pkey -in enc.key -passin pass:s3cret -noout; then ok "openssl opens the encrypted key"; else fail "not so: openssl opens the encrypted key"; fi
if openssl pkey -in enc.key -passin pass:wrong -noout 2>/dev/null; then fail "wrong password accepted"; fi
ok "openssl refuses the wrong password"

# Keys written by openssl in every form are read by certhub.
openssl genrsa -traditional -aes256 -passout pass:s3cret -out legacy-rsa.key 2048 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out legacy-ec.key
openssl pkcs8 -topk8 -in legacy-ec.key -v2 aes-256-cbc -passout pass:s3cret -out p8.key
openssl pkcs8 -topk8 -in legacy-ec.key -scrypt -passout pass:s3cret -out scrypt.key
openssl pkey -in legacy-ec.key -outform DER -out der.key
for k in legacy-rsa legacy-ec p8 scrypt der; do
    "$CERTHUB" inspect $k.key --password-file pw >/dev/null
    ok "certhub reads openssl's $k key"
done
check_contains "an encrypted key opened with --key-password-file as well" \
    "$("$CERTHUB" inspect p8.key --key-password-file pw)" "EC 256"

# A CSR with SANs verifies and carries them.
"$CERTHUB" csr create --key p256.key --subject "CN=dev1,O=Acme,C=DE" --san dns:a.example,ip:127.0.0.1,email:ops@example.com --out req.csr
if openssl req -in req.csr -verify -noout 2>/dev/null; then ok "openssl verifies the CSR signature"; else fail "not so: openssl verifies the CSR signature"; fi
text=$(openssl req -in req.csr -noout -text)
check_contains "CSR has the DNS SAN" "$text" "DNS:a.example"
check_contains "CSR has the IP SAN" "$text" "IP Address:127.0.0.1"
check_contains "CSR subject" "$(openssl req -in req.csr -noout -subject -nameopt RFC2253)" "CN=dev1,O=Acme,C=DE"

# Root -> intermediate -> leaves of every profile.
"$CERTHUB" cert create --profile root-ca --subject "CN=Test Root,O=Acme" --key p384.key --out root.pem
"$CERTHUB" cert create --profile intermediate-ca --subject "CN=Issuing CA,O=Acme" --key-type p256 --key-out inter.key --ca root.pem --ca-key p384.key --days 1800 --out inter.pem
if openssl verify -CAfile root.pem inter.pem >/dev/null; then ok "openssl verifies the intermediate"; else fail "not so: openssl verifies the intermediate"; fi
text=$(openssl x509 -in root.pem -noout -text)
check_contains "root is a CA" "$text" "CA:TRUE"
check_eq "root key usage: certificate and CRL signing alone (as Vault's and step-ca's roots)" \
    "Certificate Sign, CRL Sign" "$(openssl x509 -in root.pem -noout -ext keyUsage | tail -1 | sed 's/^ *//')"
text=$(openssl x509 -in inter.pem -noout -text)
check_contains "intermediate path length 0" "$text" "CA:TRUE, pathlen:0"
root_ski=$(openssl x509 -in root.pem -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
inter_aki=$(openssl x509 -in inter.pem -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/^keyid://')
check_eq "intermediate AKI is the root's SKI" "$root_ski" "$inter_aki"

for p in tls-server tls-client tls-server-client device code-signing; do
    san="--san dns:$p.example"
    [ $p = code-signing ] && san=""
    "$CERTHUB" cert create --profile $p --subject "CN=$p.example" $san --key-type p256 --key-out $p.key --ca inter.pem --ca-key inter.key --days 30 --out $p.pem
    if openssl verify -CAfile root.pem -untrusted inter.pem $p.pem >/dev/null; then ok "openssl verifies the $p leaf"; else fail "not so: openssl verifies the $p leaf"; fi
    text=$(openssl x509 -in $p.pem -noout -text)
    check_contains "$p is not a CA" "$text" "CA:FALSE"
    case $p in
    tls-server) check_contains "$p EKU" "$text" "TLS Web Server Authentication" ;;
    tls-client | device) check_contains "$p EKU" "$text" "TLS Web Client Authentication" ;;
    tls-server-client) check_contains "$p EKU" "$text" "TLS Web Server Authentication, TLS Web Client Authentication" ;;
    code-signing) check_contains "$p EKU" "$text" "Code Signing" ;;
    esac
    serial=$(openssl x509 -in $p.pem -noout -serial | cut -d= -f2)
    check_eq "$p serial is 16 bytes" 32 "${#serial}"
done

# A leaf from a CSR made by openssl.
openssl req -new -newkey rsa:2048 -nodes -keyout web.key -subj "/CN=web.example" -addext "subjectAltName=DNS:web.example,DNS:www.web.example" -out web.csr 2>/dev/null
"$CERTHUB" cert create --profile tls-server --csr web.csr --ca inter.pem --ca-key inter.key --days 90 --out web.pem
if openssl verify -CAfile root.pem -untrusted inter.pem web.pem >/dev/null; then ok "openssl verifies the leaf from an openssl CSR"; else fail "not so: openssl verifies the leaf from an openssl CSR"; fi
text=$(openssl x509 -in web.pem -noout -text)
check_contains "SANs copied from the CSR" "$text" "DNS:web.example, DNS:www.web.example"
check_contains "RSA leaf gets keyEncipherment" "$text" "Digital Signature, Key Encipherment"

# inspect --json agrees with openssl.
json=$("$CERTHUB" inspect web.pem --json)
serial=$(openssl x509 -in web.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
sha=$(openssl x509 -in web.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d ':' | tr 'A-F' 'a-f')
subject=$(openssl x509 -in web.pem -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
check_contains "inspect serial matches openssl" "$json" "\"serial\": \"$serial\""
check_contains "inspect sha256 matches openssl" "$json" "\"sha256\": \"$sha\""
check_contains "inspect subject matches openssl" "$json" "\"subject\": \"$subject\""
# The policies and the AIA's addresses a certificate carries, as openssl writes them.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout aia.key -subj /CN=aia.example -days 3 \
    -addext "certificatePolicies=1.2.3.4.5,2.23.140.1.2.1" \
    -addext "authorityInfoAccess=caIssuers;URI:http://ca.example/issuer.der,OCSP;URI:http://ocsp.example" \
    -out aia.pem 2>/dev/null
check_eq "inspect --json: the policies, the CA issuers' and OCSP addresses" \
    '["1.2.3.4.5","2.23.140.1.2.1"] ["http://ca.example/issuer.der"] ["http://ocsp.example"]' \
    "$("$CERTHUB" inspect aia.pem --json | jq -c '.[0] | .policies, .ca_issuers, .ocsp_urls' | paste -sd' ')"
check_contains "and in text" "$("$CERTHUB" inspect aia.pem)" "Policies:            1.2.3.4.5, 2.23.140.1.2.1"
keyjson=$("$CERTHUB" inspect web.key --json)
check_contains "inspect describes the key" "$keyjson" "\"type\": \"private_key\""
if grep -q "PRIVATE KEY" <<<"$("$CERTHUB" inspect web.key)"; then fail "inspect printed a key"; fi
ok "inspect never prints the key"

# verify: good chain, and each failure with its reason.
"$CERTHUB" verify web.pem --ca root.pem --untrusted inter.pem --hostname web.example --purpose server >out
check_eq "verify says OK" OK "$(cat out)"
expect_error "expired at a later time" "certificate has expired" -- "$CERTHUB" verify web.pem --ca root.pem --untrusted inter.pem --at 2040-01-01T00:00:00Z
expect_error "not yet valid at an earlier time" "not yet valid" -- "$CERTHUB" verify web.pem --ca root.pem --untrusted inter.pem --at 2001-01-01T00:00:00Z
expect_error "wrong host name" "host name mismatch" -- "$CERTHUB" verify web.pem --ca root.pem --untrusted inter.pem --hostname other.example
expect_error "wrong purpose" "wrong key usage for client authentication" -- "$CERTHUB" verify web.pem --ca root.pem --untrusted inter.pem --purpose client
# PKCS#7 in PEM, and a PEM chain cut short.
cat web.pem inter.pem root.pem > full.pem
openssl crl2pkcs7 -nocrl -certfile full.pem -out full-p7.pem
check_contains "inspect reads PKCS#7 in PEM (BEGIN PKCS7)" "$("$CERTHUB" inspect full-p7.pem)" "Chain length:        3"
head -c $(( $(stat -c %s full.pem) - 100 )) full.pem > cut.pem
expect_error "a PEM chain cut short is said to be, not shown as if whole" "truncated or damaged after block 2" -- \
    "$CERTHUB" inspect cut.pem
# An address given as the host name is matched against the IP SANs (as openssl's -verify_ip).
"$CERTHUB" cert create --profile tls-server --subject CN=addr.example --san dns:addr.example,ip:10.0.0.5 --key-type p256 \
    --key-out addr.key --ca inter.pem --ca-key inter.key --days 30 --out addr.pem
check_eq "verify --hostname with the certificate's IP address" OK \
    "$("$CERTHUB" verify addr.pem --ca root.pem --untrusted inter.pem --hostname 10.0.0.5)"
expect_error "another address: an IP address mismatch" "IP address mismatch" -- \
    "$CERTHUB" verify addr.pem --ca root.pem --untrusted inter.pem --hostname 10.0.0.6
"$CERTHUB" cert create --profile root-ca --subject "CN=Other Root" --key-type p256 --key-out other.key --out other.pem
expect_error "unknown issuer" "unknown issuer" -- "$CERTHUB" verify web.pem --ca other.pem --untrusted inter.pem
openssl verify -CAfile other.pem -untrusted inter.pem web.pem >/dev/null 2>&1 && fail "openssl accepted the wrong root"
ok "openssl agrees the other root does not verify"

# The extension switches (a create wizard's Extra Constraints): what openssl reads of each.
# exts FILE: the four switched extensions, each "name" or "name:critical".
exts() {
    openssl x509 -in "$1" -noout -text | sed -n 's/^ *X509v3 \(Basic Constraints\|Key Usage\|Extended Key Usage\|Authority Key Identifier\): *\(critical\)\{0,1\}$/\1:\2/p' |
        sed 's/:$//; s/ /_/g' | paste -sd, -
}
"$CERTHUB" cert create --profile tls-server --subject CN=sw.example --key-type p256 --key-out sw.key --ca inter.pem \
    --ca-key inter.key --days 30 --out sw.pem --basic-constraints off --authority-key-id off --critical key_usage,ext_key_usage
check_eq "cert create --basic-constraints off --authority-key-id off --critical: as openssl reads it" \
    "Key_Usage:critical,Extended_Key_Usage:critical" "$(exts sw.pem)"
check_eq "and inspect agrees (no authority key id line)" "absent 0" \
    "$("$CERTHUB" inspect sw.pem | sed -n 's/^ *Basic constraints: *//p') $("$CERTHUB" inspect sw.pem | grep -c 'Authority key id' || true)"
"$CERTHUB" cert create --profile device --subject CN=bare --key-type p256 --key-out bare.key --ca inter.pem \
    --ca-key inter.key --days 30 --out bare.pem --key-usage none --ext-key-usage none --critical none
check_eq "--key-usage none --ext-key-usage none --critical none" "Basic_Constraints,Authority_Key_Identifier" "$(exts bare.pem)"
if openssl verify -CAfile root.pem -untrusted inter.pem sw.pem >/dev/null; then ok "a leaf without AKI verifies with openssl"; else fail "not so: a leaf without AKI verifies with openssl"; fi
expect_error "Basic Constraints off for a CA: refused, saying why" "RFC 5280 4.2.1.9" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=NoBC --key-type p256 --key-out nobc.key --out nobc.pem \
    --basic-constraints off
[ ! -e nobc.key ] && [ ! -e nobc.pem ] || fail "a refused cert create wrote a file"
ok "(and nothing written)"
expect_error "a critical AKI: refused" "RFC 5280 4.2.1.1" -- "$CERTHUB" cert create --profile tls-server --subject CN=x \
    --key-type p256 --key-out x.key --ca inter.pem --ca-key inter.key --out x.pem --critical authority_key_id
expect_error "an unknown extension" "accepted: basic_constraints" -- "$CERTHUB" cert create --profile tls-server \
    --subject CN=x --key-type p256 --key-out x.key --ca inter.pem --ca-key inter.key --out x.pem --critical subject_key_id
expect_error "an empty --key-usage is no \"none\"" "is empty" -- "$CERTHUB" cert create --profile tls-server \
    --subject CN=x --key-type p256 --key-out x.key --ca inter.pem --ca-key inter.key --out x.pem --key-usage ""
expect_error "none among usages: said to stand alone" "none stands alone (the extension left out)" -- "$CERTHUB" cert create \
    --profile tls-server --subject CN=x --key-type p256 --key-out x.key --ca inter.pem --ca-key inter.key --out x.pem \
    --key-usage none,digital_signature
expect_error "none among the critical" "none stands alone (no extension critical)" -- "$CERTHUB" cert create \
    --profile tls-server --subject CN=x --key-type p256 --key-out x.key --ca inter.pem --ca-key inter.key --out x.pem \
    --critical "key_usage, none"
expect_error "key_encipherment for an Ed25519 key (RFC 8410: signatures only)" \
    "key_encipherment does not apply to an Ed25519 key (RFC 8410), which takes digital_signature, non_repudiation" -- \
    "$CERTHUB" cert create --profile tls-client --subject CN=x --key-type ed25519 --key-out x.key --ca inter.pem \
    --ca-key inter.key --out x.pem --key-usage digital_signature,key_encipherment
"$CERTHUB" key create --type p256 --out ec.key
[ ! -e x.key ] && [ ! -e x.pem ] || fail "a refused cert create wrote a file"
ok "(and nothing written)"
"$CERTHUB" cert create --profile tls-server --subject CN=ec.example --key ec.key --ca inter.pem --ca-key inter.key \
    --days 30 --out ec.pem
check_eq "a profile's key_encipherment is left out for an EC key" "Digital Signature" \
    "$(openssl x509 -in ec.pem -noout -ext keyUsage | tail -1 | sed 's/^ *//')"

done_testing
