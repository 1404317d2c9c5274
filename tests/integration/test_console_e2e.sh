#!/usr/bin/env bash
# The web console end to end: certhubd serves it, Debian's Chromium (headless) drives it with
# playwright-core (npm; no browser is downloaded).  Screenshots of each screen go to
# tests/e2e/screenshots/.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

[ -x /usr/bin/chromium ] || fail "Debian's chromium is missing (scripts/deps.sh installs it)"
command -v node >/dev/null || fail "node is missing"
e2e="$(dirname "$CERTHUBD")/e2e"
mkdir -p "$e2e"
cp "$CERTHUB_SOURCE_DIR/tests/e2e/package.json" "$CERTHUB_SOURCE_DIR/tests/e2e/console.mjs" "$e2e/"
if [ ! -d "$e2e/node_modules/playwright-core" ]; then
    (cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent >/dev/null 2>&1) ||
        fail "npm install of playwright-core failed"
fi
shots="$CERTHUB_SOURCE_DIR/tests/e2e/screenshots"
mkdir -p "$shots"

start_daemon
ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -subj "$2" -days 30 \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem" 2>/dev/null
}
ca fleet "/CN=Fleet Root CA/O=Example"
ca xss "/CN=<img src=x onerror=alert(1)>"
# A leaf of the fleet CA, whose certificate the inventory does not hold: imported without its chain.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout orphan.key -subj /CN=orphan.example -out orphan.csr 2>/dev/null
openssl x509 -req -in orphan.csr -CA fleet.pem -CAkey fleet.key -days 20 -out orphan.pem 2>/dev/null
# The CSR of an intermediate whose key stays with its holder.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout partner-sub.key -subj "/CN=Partner Sub CA" \
    -out partner-sub.csr 2>/dev/null
# A leaf and a CA in one file, for the trusted certificates' bulk upload.
ca chainroot "/CN=Chain Root CA"
cat orphan.pem chainroot.pem > chain.pem
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout v1.key -subj /CN=v1 -out v1.csr 2>/dev/null
openssl x509 -req -in v1.csr -signkey v1.key -days 5 -out v1.pem 2>/dev/null
echo "this is not a certificate" > garbage.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout imp.key -subj /CN=imported.example -days 30 -out imp.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bundle.key -subj /CN=bundled.example -days 30 -out bundle.pem 2>/dev/null
openssl pkcs12 -export -in bundle.pem -inkey bundle.key -name bundled -passout pass:bundle-pw -out bundle.p12
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj /CN=leaf -days 30 \
    -addext "basicConstraints=critical,CA:FALSE" -out leaf.pem 2>/dev/null
ft=$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)
LD_PRELOAD=$ft FAKETIME="@2020-01-01 00:00:00" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout old.key -subj /CN=old -days 30 -out old.pem 2>/dev/null
LD_PRELOAD=$ft FAKETIME="+400d" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout future.key -subj /CN=future -days 30 -out future.pem 2>/dev/null
keytool -genkeypair -alias tomcat -keyalg EC -groupname secp256r1 -dname CN=tomcat.example -validity 30 \
    -keystore store.jks -storetype JKS -storepass changeit -keypass changeit >/dev/null 2>&1 || fail "keytool failed"
keytool -genkeypair -alias apart -keyalg EC -groupname secp256r1 -dname CN=apart.example -validity 30 \
    -keystore apart.jks -storetype JKS -storepass changeit -keypass key-of-its-own >/dev/null 2>&1 || fail "keytool failed"
# A truststore by the name a JDK gives its own, without an extension.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout trust-only.key -subj /CN=jdk-anchor.example \
    -days 30 -out trust-only.pem 2>/dev/null
keytool -importcert -noprompt -alias entry -file trust-only.pem -keystore cacerts -storetype JKS -storepass changeit \
    >/dev/null 2>&1 || fail "keytool failed"
keytool -genkeypair -alias own -keyalg EC -groupname secp256r1 -dname CN=own-keypass.example -validity 30 \
    -keystore own-keypass.jks -storetype JKS -storepass changeit -keypass own-key-pw >/dev/null 2>&1 || fail "keytool failed"
TOKEN=$(cat "$data/admin-token")
api POST /api/v1/tenants '{"name":"acme"}'
check_eq "a second tenant, acme" 201 "$status"
# acme's own admin, who does not run the installation: an admin token of acme's, made by the
# installation's admin, and with it a console user of acme (a user is made in its token's tenant).
api POST /api/v1/tokens '{"tenant":"acme","role":"admin","name":"acme set-up"}'
check_eq "an admin token of acme" 201 "$status"
acme_token=$(body .token)
TOKEN=$acme_token api POST /api/v1/users '{"name":"acme-admin","role":"admin","password":"acme-admin-password-1"}'
check_eq "an admin user of acme, made with acme's token" 201 "$status"
TOKEN=$acme_token api GET /api/v1/session
check_eq "acme's admin is no installation admin" "acme admin false" \
    "$(body '.tenant + " " + .role + " " + (.installation_admin | tostring)')"
api POST /api/v1/users '{"name":"viewer","role":"viewer","password":"viewer-password-1"}'
check_eq "a viewer user is created through the API" 201 "$status"
api POST /api/v1/users '{"name":"weak","password":"short"}'
check_eq "a short password is refused" "400 password" "$status $(body .error.field)"

# Two devices registered through a trusted certificate, for the devices screen.
ca plant "/CN=Plant Root CA"
printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >pump.ext
api POST /api/v1/trusted-certificates "$(jq -n --arg c "$(cat plant.pem)" '{name:"Plant root", certificate:$c, auto_registration:true}')"
check_eq "a trusted certificate for the devices" 201 "$status"
for n in 1 2; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "pump-$n.key" -subj "/CN=pump-$n" \
        -out pump.csr 2>/dev/null
    openssl x509 -req -in pump.csr -CA plant.pem -CAkey plant.key -CAcreateserial -days 10 -extfile pump.ext \
        -out "pump-$n.pem" 2>/dev/null
    cat plant.pem >>"pump-$n.pem"
    api POST /api/v1/device-auth "$(jq -n --arg c "$(cat "pump-$n.pem")" --arg u "default/pump-$n" '{chain:$c, username:$u}')"
    check_eq "device pump-$n registered" "allow" "$(body .result)"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stranger.key -subj "/CN=stranger-1" \
    -days 10 -out stranger.pem 2>/dev/null
api POST /api/v1/device-auth "$(jq -n --arg c "$(cat stranger.pem)" '{chain:$c, username:"default/stranger-1"}')"
check_eq "a device no trusted certificate vouches for: refused" "deny" "$(body .result)"
# One naming a tenant that is not there: kept apart, for the installation's admins alone.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout lost.key -subj "/CN=lost-1" \
    -days 10 -out lost.pem 2>/dev/null
api POST /api/v1/device-auth "$(jq -n --arg c "$(cat lost.pem)" '{chain:$c, username:"nowhere/lost-1"}')"
check_eq "a device naming a tenant that is not there: refused" "deny unknown_tenant" "$(body '.result + " " + .reason')"

sed -n 's/^certhubd: root fingerprint (SHA-256) //p' "$log" > "$T/fingerprint"
# A failed automatic renewal, as the scheduler records it, for the details to show.
sqlite3 "$data/certhub.db" ".timeout 5000" \
    "UPDATE certificates SET renew_error = 'the issuing CA is gone (set by the test)' WHERE name = 'certhubd server'"
out=$(node "$e2e/console.mjs" "https://localhost:$port/" "$data" "$T" "$shots" 2>&1) || fail "the browser test failed: $out"
echo "$out"
check_contains "every browser check passed" "$out" "passed, 0 failed"
for s in overview trusted trusted-add-error certificate-wizard certificate-extensions certificates certificate-panel cas csrs \
        keystores keystore-entry devices audit trusted-phone certificate-panel-phone viewer; do
    [ -s "$shots/$s.png" ] || fail "no screenshot $s.png"
done
ok "screenshots of each screen are written"
[ ! -e "$data/admin-password" ] || fail "DATA_DIR/admin-password is still there after the password was changed"
ok "the first-start password file is gone once the password is changed"

done_testing
