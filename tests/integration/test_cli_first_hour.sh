#!/usr/bin/env bash
# The mistakes and the first steps of a first hour with certhubd and the CLI as its client,
# each mistake said as what is wrong and what is taken: a misspelt option of certhubd, the wrong
# file as the token or as the CA file, the API's base URL given as the server, a folder import,
# a PFX, a CA hierarchy of one's own, a server's certificate with its chain, the audit log.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

# certhubd started with a misspelt option or setting: said as unknown, not as a bad value.
expect_exit 2 "certhubd --datadir" -- "$CERTHUBD" --datadir "$T/x"
check_contains "is said to be an unknown option" "$(cat "$T/stderr")" "unknown option --datadir ('certhubd --help' lists them)"
printf 'data_dir = %s\nthread = 2\n' "$T/x" > misspelt.conf
expect_exit 2 "a config file's misspelt setting" -- "$CERTHUBD" --config misspelt.conf
check_contains "is named with its line, and every setting" "$(cat "$T/stderr")" \
    "misspelt.conf:2: unknown setting thread; the settings are data_dir, listen, threads, workers, durability, server_names, tls_cert, tls_key, renew_check, job_interval, max_connections and request_timeout"
expect_exit 2 "a bad value of a setting" -- "$CERTHUBD" --data-dir "$T/x" --threads 99
check_contains "still says what it takes" "$(cat "$T/stderr")" 'bad setting threads = "99"; accepted:'
if [ ! -e "$T/x" ]; then ok "and none of them made the data directory"; else fail "not so: and none of them made the data directory"; fi

start_daemon
url="https://localhost:$port"
remote() { "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }

# The token: the console password beside it, a certificate, an empty file.
expect_error "the console password given as the token" \
    "$data/admin-password does not hold an API token: a token is one line beginning cht_" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-password" --ca-file "$data/ca.pem" ca list
expect_error "a certificate given as the token" "ca.pem does not hold an API token" -- \
    "$CERTHUB" --server "$url" --token-file "$data/ca.pem" --ca-file "$data/ca.pem" ca list
: > empty.token
expect_error "an empty token file" "empty.token does not hold an API token" -- \
    "$CERTHUB" --server "$url" --token-file empty.token --ca-file "$data/ca.pem" ca list
expect_error "CERTHUB_TOKEN holding something else" "CERTHUB_TOKEN does not hold an API token" -- \
    env CERTHUB_TOKEN="Bearer $(cat "$data/admin-token")" "$CERTHUB" --server "$url" --ca-file "$data/ca.pem" ca list
check_contains "CERTHUB_TOKEN with the newline of \$(cat) or an echo kept works" \
    "$(CERTHUB_TOKEN="$(cat "$data/admin-token")"$'\n' "$CERTHUB" --server "$url" --ca-file "$data/ca.pem" ca list)" \
    "Quickstart Issuing CA"

# The CA file: missing, a key, the root in DER.
expect_error "a CA file that is not there" "the CA file (--ca-file or CERTHUB_CA): cannot open no-such.pem" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file no-such.pem ca list
expect_error "an empty --ca-file: said as such, not as a file of no name" \
    'the CA file given (--ca-file or CERTHUB_CA) is an empty name: give --ca-file DATA-DIR/ca.pem' -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file "" ca list
expect_error "CERTHUB_CA set empty likewise" "the CA file given (--ca-file or CERTHUB_CA) is an empty name" -- \
    env CERTHUB_CA= "$CERTHUB" --server "$url" --token-file "$data/admin-token" ca list
"$CERTHUB" key create --type p256 --out some.key
expect_error "a key given as the CA file" "the CA file some.key holds no PEM certificate" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file some.key ca list
openssl x509 -in "$data/ca.pem" -outform DER -out ca.der
expect_error "the root in DER as the CA file" "the CA file ca.der is a DER certificate: --ca-file takes PEM" -- \
    "$CERTHUB" --server "$url" --token-file "$data/admin-token" --ca-file ca.der ca list
grep -q "cannot reach" "$T/stderr" && fail "a CA file refused before any connection is said as the server unreachable"
ok "and none of them is said as the server unreachable"

# The server as the API reference writes its base.
for base in "$url/api/v1" "$url/api/v1/"; do
    check_contains "--server $base names the same server" \
        "$("$CERTHUB" --server "$base" --token-file "$data/admin-token" --ca-file "$data/ca.pem" ca list)" \
        "Quickstart Issuing CA"
done

# A folder of old certificates: a PKCS#12 among them, a folder inside, a note.
mkdir -p old/older
for n in a b; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" -subj "/CN=$n.old.example" \
        -days 30 -out "old/$n.crt" 2>/dev/null
done
openssl pkcs12 -export -in old/b.crt -inkey b.key -passout pass:changeit -out old/b.p12
cp old/a.crt old/older/
echo "certificates of the old web servers" > old/README.txt
expect_error "a PKCS#12 without its password names the option that gives it" \
    "the file is protected by a password: give its password (HTTP 400); pass --password-file F" -- \
    remote cert import old/b.p12
grep -q "Certhub-Password" "$T/stderr" && fail "the API's header is named to a user of the CLI: $(cat "$T/stderr")"
ok "and not the API's header"
expect_exit 1 "a folder with a file that is no certificate" -- remote --output json cert import old/
cp "$T/stdout" import.json
check_eq "--output json: one JSON object of what became of each file" \
    '1 0 2 ["old/README.txt","failed"] ["old/a.crt","imported"] ["old/b.crt","imported"] ["old/b.p12","failed"] ["old/older","skipped"]' \
    "$(jq -r '"\(.failed - 1) \(.already_held) \(.imported)"' import.json) $(jq -c '.files | sort_by(.file)[] | [.file, .result]' import.json | tr '\n' ' ' | sed 's/ $//')"
check_eq "each imported file with its id" "2" "$(jq '[.files[] | select(.result == "imported") | .id | select(startswith("crt_"))] | length' import.json)"
check_contains "the PKCS#12's message names --password-file, in the JSON too" \
    "$(jq -r '.files[] | select(.file == "old/b.p12") | .message' import.json)" "pass --password-file F"
check_contains "the folder inside is said on stderr, not passed over" "$(cat "$T/stderr")" \
    "old/older: a folder, left as it is (certhub cert import old/older imports its files)"
check_contains "and the PKCS#12's password too" "$(cat "$T/stderr")" "old/b.p12: the file is protected by a password: give its password; pass --password-file F"
echo changeit > pw
expect_exit 1 "again with the password: what was imported is held already" -- remote --output json cert import old/ --password-file pw
check_eq "already held, and the PKCS#12 gives its certificate held without a key that key" \
    '["old/a.crt","already_held"] ["old/b.crt","already_held"] ["old/b.p12","key_added"]' \
    "$(jq -c '.files | sort_by(.file)[] | select(.file | test("old/(a|b)\\.")) | [.file, .result]' "$T/stdout" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the same certificate, by its id" 1 "$(jq '[.files[] | select(.file | test("old/b\\.")) | .id] | unique | length' "$T/stdout")"
check_eq "the table's summary line is unchanged" "imported 0, already held 3, failed 1 (of 4 files)" \
    "$(remote cert import old/ --password-file pw 2>/dev/null || true)"

# PFX, as Windows and the destination screens of integration platforms call a PKCS#12.
cid=$(remote cert issue --subject CN=pfx.example --san dns:pfx.example)
remote cert export "$cid" --format pfx --with-key --password-file pw --out web.pfx
check_eq "cert export --format pfx writes a PKCS#12 with the key" "2" \
    "$(openssl pkcs12 -in web.pfx -passin file:pw -nodes 2>/dev/null | grep -c -e 'BEGIN PRIVATE KEY' -e 'subject=CN = pfx.example')"
remote cert export "$cid" --format PKCS12 --no-password --out empty.p12
if openssl pkcs12 -in empty.p12 -passin pass: -nokeys >/dev/null 2>&1; then ok "--format PKCS12 --no-password likewise"; else fail "not so: --format PKCS12 --no-password likewise"; fi
remote ca bundle --format pfx --password-file pw --out bundle.pfx
if openssl pkcs12 -in bundle.pfx -passin file:pw -nokeys >/dev/null 2>&1; then ok "ca bundle --format pfx: a PKCS#12 truststore"; else fail "not so: ca bundle --format pfx: a PKCS#12 truststore"; fi
expect_error "ca bundle --format of no truststore: exit 1, the value said" '--format takes pem, jks or p12 (pfx, pkcs12), not "der"' -- \
    remote ca bundle --format der --out bundle.der
expect_error "a format of none still names those taken" 'not "pfx2"' -- remote cert export "$cid" --format pfx2 --out x
kid=$(remote --output json keystore upload web.pfx --password-file pw | jq -r .id)
expect_error "keystore export --format of none: the server names the value and pfx among the names it takes" \
    'unknown format "xyz"; format takes pem, der (cer, crt), p7b (p7c, pkcs7), p12 (pfx, pkcs12) or jks' -- \
    remote keystore export "$kid" --format xyz --out x

# A CA hierarchy of one's own beside the quickstart's: the refusals name the options that do it.
root=$(remote ca create --name acme-root --subject "CN=Acme Root,O=Acme" --key-type p384 --days 3650)
issuing=$(remote ca create --name acme-issuing --subject "CN=Acme Issuing,O=Acme" --parent "$root" --days 1825 --path-len 0)
expect_error "two issuing CAs: the option that names one and the setting that chooses one are named" \
    "ca_id (--ca-id) is required: 2 CAs of this tenant can sign" -- remote cert issue --subject CN=two.example
check_contains "and the command of the setting" "$(cat "$T/stderr")" "certhub settings set --default-ca"
remote cert issue --ca-id "$issuing" --subject CN=mine.example >/dev/null
expect_error "a CA with certificates is deleted with --force, the refusal says" "certhub ca delete --force" -- \
    remote ca delete "$issuing"

# A server's certificate for nginx: with its chain, or the clients do not find the issuing CA.
remote cert issue --ca-id "$issuing" --subject CN=web.example --san dns:web.example --out web.pem --key-out web.key >/dev/null
check_eq "cert issue --out writes the certificate alone" 1 "$(grep -c 'BEGIN CERTIFICATE' web.pem)"
wid=$(remote cert issue --ca-id "$issuing" --subject CN=web.example --san dns:web.example --out fullchain.pem --chain)
check_eq "--chain: the certificate, its issuing CA and the root, as cert export writes it" \
    "$(remote cert export "$wid" --out -)" "$(cat fullchain.pem)"
check_eq "in that order" "subject=CN = web.example|subject=O = Acme, CN = Acme Issuing|subject=O = Acme, CN = Acme Root" \
    "$(openssl crl2pkcs7 -nocrl -certfile fullchain.pem | openssl pkcs7 -print_certs -noout | grep subject | paste -sd'|')"
check_eq "cert renew --chain --out - likewise" 3 "$(remote cert renew "$wid" --chain --out - | grep -c 'BEGIN CERTIFICATE')"
expect_usage "--chain without --out" "--chain says what --out gets" -- remote cert issue --subject CN=web.example --chain
# A certificate made whose chain then cannot be fetched: neither it nor its key is written, and
# the message says so and names the commands that write both.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout half.key -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -days 1 -out half.pem 2>/dev/null
python3 "$CERTHUB_SOURCE_DIR/tests/integration/half_api.py" web.pem half.log half.port half.pem half.key &
half=$!
for i in $(seq 1 300); do [ -s half.port ] && break; sleep 0.1; done
[ -s half.port ] || fail "the half API did not start"
expect_exit 1 "cert issue --chain --key-out, the chain not fetched" -- \
    "$CERTHUB" --server "https://localhost:$(cat half.port)" --token-file "$data/admin-token" --ca-file half.pem \
    cert issue --subject CN=web.example --chain --out half-chain.pem --key-out half-web.key --key-password-file pw
# (stopped whether or not it still runs: under errexit a kill of one already gone would end the
# test unsaid; what it was asked is checked in its log below)
kill "$half" 2>/dev/null || true
wait "$half" 2>/dev/null || true
check_contains "says neither the certificate nor its key was written, and how to get both" "$(cat "$T/stderr")" \
    "the certificate crt_half was made, and neither it nor its key written: cert export crt_half --out half-chain.pem writes it, cert key crt_half --out half-web.key --password-file pw its key"
if [ ! -e half-chain.pem ] && [ ! -e half-web.key ]; then ok "and neither file is there"; else fail "not so: and neither file is there"; fi
grep -q private-key half.log && fail "the key was fetched for a certificate not written"
ok "nor was the key fetched"

# The audit log: the actions the operations guide lists are the ones written; a renewal's entry
# names the certificate it renews.
old_id=$(remote cert issue --subject CN=audited.example --ca-id "$issuing")
new_id=$(remote cert renew "$old_id")
check_eq "a renewal is audited as certificate.issue naming the certificate it renews" "certificate.issue $old_id" \
    "$(remote --output json audit list --object "$new_id" | jq -r '.items[0] | "\(.action) \(.detail.renews)"')"
remote --output json audit list --all --limit 1000 | jq -r '.items[].action' | sort -u > actions.txt
while read -r action; do
    grep -qF "\`$action\`" "$CERTHUB_SOURCE_DIR/docs/operations.md" || fail "audit action $action is not in docs/operations.md"
done < actions.txt
ok "each of the $(wc -l < actions.txt) actions written so far is in the operations guide's table"

# The key beside a certificate given where the certificate is asked for.
expect_error "cert import of a key alone" "a.key holds a private key and no certificate: import the certificate with --key a.key" -- \
    remote cert import a.key
expect_error "ca import of a key alone" "a.key holds a private key and no certificate: give the CA's certificate, and this file as --key" -- \
    remote ca import a.key --name k
cat a.key old/a.crt > both.pem
check_eq "a PEM holding the key and its certificate still goes (the key added to the certificate held)" \
    "$(jq -r '.files[] | select(.file == "old/a.crt") | .id' import.json)" "$(remote cert import both.pem)"

# A time filter the CLI does not read: the relative forms it takes are named beside the API's.
expect_error "audit list --since yesterday" "or days or hours ago: 7d, 12h" -- remote audit list --since yesterday
expect_error "cert list --expiring-before 30x" "or days or hours from now: 30d, 12h" -- remote cert list --expiring-before 30x

stop_daemon
done_testing
