#!/usr/bin/env bash
# The CLI as a client of a real certhubd: CA list, issuing, listing, export in two formats
# checked by openssl, tokens and roles, errors from the server shown as one line.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

start_daemon
remote() { "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem" "$@"; }

issuer=$(remote ca list | awk '/Issuing CA/ {print $1}')
check_contains "ca list shows the issuing CA" "$issuer" "ca_"
remote ca list --limit 1 > page1.txt 2> more.txt
check_eq "ca list --limit 1: one CA under the heading" 2 "$(wc -l < page1.txt)"
cursor=$(sed -n 's/.*--cursor \([^ ]*\).*/\1/p' more.txt)
check_contains "and says how to see the next" "$(cat more.txt)" "the same command with --cursor"
check_eq "which gives the other" "$(remote ca list | tail -n +2 | awk '{print $1}' | sort | tr '\n' ' ')" \
    "$( (tail -n +2 page1.txt; remote ca list --limit 1 --cursor "$cursor" | tail -n +2) | awk '{print $1}' | sort | tr '\n' ' ')"
check_eq "ca list --all --limit 1: every page under one heading" "$(remote ca list | awk '{print $1}')" \
    "$(remote ca list --all --limit 1 2>more.txt | awk '{print $1}')"
check_eq "without the hint" "" "$(cat more.txt)"
check_eq "--output json --all: one JSON object of every item" "$(remote --output json ca list | jq -c '[.items[].id]')" \
    "$(remote --output json ca list --all --limit 1 | jq -c '[.items[].id]')"
check_eq "audit list --all after a --cursor: the pages after it" \
    "$(remote --output json audit list --limit 1000 | jq -c '[.items[1:][].seq]')" \
    "$(remote --output json audit list --limit 2 --all --cursor "$(remote --output json audit list --limit 1 | jq -r .next_cursor)" |
        jq -c '[.items[].seq]')"
id=$(remote cert issue --ca-id "$issuer" --profile tls-server --subject "CN=cli.example,O=Acme" --san dns:cli.example --days 10 --out cli.pem)
check_contains "cert issue prints the id" "$id" "crt_"
check_contains "cert issue without --ca-id: the tenant's one issuing CA signs" \
    "$(remote --output json cert get "$(remote cert issue --subject CN=nocaid.example)")" "\"ca_id\": \"$issuer\""
remote cert export "$id" --format pem --out chain.pem
if openssl verify -CAfile "$data/ca.pem" -untrusted chain.pem cli.pem >/dev/null; then ok "the issued certificate verifies with the exported chain"; else fail "not so: the issued certificate verifies with the exported chain"; fi
check_contains "cert list finds it" "$(remote cert list --search cli.example)" "$id"
check_contains "cert list --expiring-before in days from now finds it" "$(remote cert list --search cli.example --expiring-before 11d)" "$id"
check_eq "and not before its end" 0 "$(remote --output json cert list --search cli.example --expiring-before 9d | jq '.items | length')"
check_contains "audit list --since in hours ago" "$(remote audit list --since 1h --object "$id")" "certificate.issue"
check_eq "--out - writes the PEM alone to standard output" "subject=CN = pipe.example" \
    "$(remote cert issue --subject CN=pipe.example --out - | openssl x509 -noout -subject)"
check_eq "ca chain --out - to a pipe" 2 "$(remote ca chain "$issuer" --out - | grep -c 'BEGIN CERTIFICATE')"
check_eq "binary output goes to a pipe" "subject=O = Acme, CN = cli.example" \
    "$(remote cert export "$id" --format der --out - | openssl x509 -inform DER -noout -subject)"
script -qec "$CERTHUB --server https://localhost:$port --token-file $data/admin-token --ca-file $data/ca.pem cert export $id --format der --out -" /dev/null > tty.out 2>&1 || true
check_contains "but not to a terminal" "$(cat tty.out)" "the output is binary"
help=$("$CERTHUB" cert issue --help)
check_contains "a command's --help says what its options take" "$help" "dns:NAME, ip:ADDR"
check_contains "and what an option means in that command" "$("$CERTHUB" ca delete --help)" "even while certificates it issued are unexpired"
longname="the certificate of the orders service in the staging cluster"
remote cert issue --ca-id "$issuer" --subject CN=orders.example --name "$longname" >/dev/null
check_contains "cert list shows a long name whole (the column widens)" "$(remote cert list --search orders.example)" \
    "$longname  "
# A name stored before certhubd refused control characters (put there as such a store would
# hold it) is shown with them as '?': an escape sequence would rewrite the terminal.
oid=$(remote cert issue --ca-id "$issuer" --subject CN=old.example --name old --output json | jq -r .id)
sqlite3 "$data/certhub.db" "PRAGMA busy_timeout = 5000; UPDATE certificates SET name = 'old' || char(27) || '[2J' || char(10) || 'row' WHERE id = '$oid';" >/dev/null
check_eq "in a table" "0 old?[2J?row" "$(remote cert list --search old.example | grep -c $'\e') $(remote cert list --search old.example |
    awk -v id="$oid" '$1 == id { print $2 }')"
check_eq "and in cert get" "name                        old?[2J?row" "$(remote cert get "$oid" | grep '^name ')"
check_eq "--output json keeps the text as it is" "$(printf 'old\e[2J\nrow')" "$(remote --output json cert get "$oid" | jq -r .name)"
check_contains "cert get --output json" "$(remote --output json cert get "$id")" '"subject": "CN=cli.example,O=Acme"'
check_contains "--output json after the command too" "$(remote cert get "$id" --output json)" '"subject": "CN=cli.example,O=Acme"'
check_contains "--server and --token-file after the command too" \
    "$("$CERTHUB" ca list --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file "$data/ca.pem")" "$issuer"
expect_error "--output with another value is bad input (exit 1)" "--output takes table or json, not \"xml\"" -- remote cert get "$id" --output xml
check_contains "--output says what it takes" "$(cat "$T/stderr")" "takes table or json"
expect_exit 2 "an offline command takes no --output" -- "$CERTHUB" inspect cli.pem --output json
echo s3cret > pw
remote cert export "$id" --format p12 --password-file pw --out cli.p12
check_eq "PKCS#12 holds one key" 1 "$(openssl pkcs12 -in cli.p12 -nocerts -nodes -passin pass:s3cret 2>/dev/null | grep -c 'BEGIN PRIVATE KEY')"
expect_usage "a password file for a DER export, which is not encrypted: refused, saying why" "it encrypts the key" -- \
    remote cert export "$id" --format der --password-file pw --out never.der
if [ ! -e never.der ]; then ok "and nothing written"; else fail "not so: and nothing written"; fi
check_eq "CERTHUB_PASSWORD, set for every command, does not stop a PEM export" 0 \
    "$(CERTHUB_PASSWORD=s3cret remote cert export "$id" --out env.pem >/dev/null 2>&1; echo $?)"
expect_error "cert export --format misspelt: the format named as given, every name taken said, before a missing --out" \
    '--format takes pem, der (cer, crt), p7b (p7c, pkcs7), p12 (pfx, pkcs12) or jks, not "pkcs-12"' -- \
    remote cert export "$id" --format pkcs-12
expect_error "cert export --format jceks (read, not written): the same list" \
    '--format takes pem, der (cer, crt), p7b (p7c, pkcs7), p12 (pfx, pkcs12) or jks, not "jceks"' -- \
    remote cert export "$id" --format jceks --out never.jceks
# In the CLI's own words (the server's speak of include_key), before anything is asked.
expect_usage "--with-key with DER: refused in the CLI's terms" \
    "--format der holds certificates only: a key goes out with --format pem --with-key, or in a p12 or jks" -- \
    remote cert export "$id" --format der --with-key --out never.der
check_eq "(no API field named)" "" "$(grep -o include_key "$T/stderr" || true)"
expect_usage "keystore export too, in the same words" \
    "--format p7b holds certificates only: a key goes out with --format pem --with-key, or in a p12 or jks" -- \
    remote keystore export kst_none --format p7b --with-key --out never.p7b
# A server's message names an API field; the option that gives it is said beside it.
expect_error "a field of the API the command takes under another name: the option named" \
    "(HTTP 400); key_usage is --key-usage" -- remote cert issue --subject CN=ku.example --key-usage signing
check_contains "ca create --help says the lifetime a CA gets without --days" "$("$CERTHUB" ca create --help)" \
    "without it or --ttl, 3650 for a root and 1825 for an intermediate"
expect_usage "--format p12 without a password" "--format p12 needs --password-file" -- \
    env -u CERTHUB_PASSWORD "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" \
    --ca-file "$data/ca.pem" cert export "$id" --format p12 --out never.p12
viewer=$(remote token create --role viewer --name cli-test)
echo "$viewer" > viewer-token && chmod 644 viewer-token
check_contains "a token file others may read: said, and used" \
    "$("$CERTHUB" --server "https://localhost:$port" --token-file viewer-token --ca-file "$data/ca.pem" ca list 2>&1 >/dev/null)" \
    "certhub: warning: viewer-token can be read by other users (mode 644): chmod 600 it"
chmod 600 viewer-token
expect_error "a viewer cannot issue: the server's reason, one line" "needs the operator role" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file viewer-token --ca-file "$data/ca.pem" cert issue --ca-id "$issuer" --subject CN=x
remote token create --role operator --name cli-operator > operator-token && chmod 600 operator-token
as_operator() { "$CERTHUB" --server "https://localhost:$port" --token-file operator-token --ca-file "$data/ca.pem" "$@"; }
before=$(remote cert list --search opk.example | grep -c crt_ || true)
expect_error "cert issue --key-out without keys:export: refused before anything is made" "needs the keys:export permission" -- \
    as_operator cert issue --ca-id "$issuer" --subject CN=opk.example --san dns:opk.example --out opk.pem --key-out opk.key
check_eq "(nothing issued, nothing written)" "$before no no" \
    "$(remote cert list --search opk.example | grep -c crt_ || true) $([ -e opk.pem ] && echo yes || echo no) $([ -e opk.key ] && echo yes || echo no)"
check_contains "without --key-out the operator issues" "$(as_operator cert issue --ca-id "$issuer" --subject CN=opk.example --san dns:opk.example)" "crt_"
expect_error "unknown CA id" "no CA with id" -- remote cert issue --ca-id ca_missing --subject CN=x
expect_error "no token" "no API token" -- env -u CERTHUB_TOKEN "$CERTHUB" --server "https://localhost:$port" cert list
expect_error "untrusted server certificate: what to give" "give the CA that issued the server's certificate with --ca-file" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file "$data/admin-token" --ca-file cli.pem cert list
# The server URL: https:// when no scheme is named, a trailing slash dropped, plain HTTP
# (the token in clear) to this machine only, and a hint when certhubd is asked over HTTP.
for u in "localhost:$port" "https://localhost:$port/"; do
    check_contains "--server $u reaches the API" \
        "$("$CERTHUB" --server "$u" --token-file "$data/admin-token" --ca-file "$data/ca.pem" ca list)" "$issuer"
done
expect_error "the token is not sent in clear to another machine" "use https:// (http:// is accepted for localhost only)" -- \
    "$CERTHUB" --server "http://127.0.0.1.example.com:$port" --token-file "$data/admin-token" ca list
expect_error "certhubd asked over plain HTTP says to use https" "certhubd speaks HTTPS on this port: ask https://" -- \
    "$CERTHUB" --server "http://127.0.0.1:$port" --token-file "$data/admin-token" ca list
expect_error "a URL of another scheme" "is not https://HOST[:PORT]" -- \
    "$CERTHUB" --server "ftp://localhost:$port" --token-file "$data/admin-token" ca list
remote cert delete "$id" >/dev/null
expect_error "deleted certificate" "HTTP 404" -- remote cert get "$id"
expect_error "a PKCS#12 without its password" "give its password" -- remote cert import cli.p12
back=$(remote cert import cli.p12 --password-file pw)
check_contains "the exported PKCS#12 imported again, with its key" "$(remote --output json cert get "$back")" '"has_private_key": true'
# A certificate brought in with its chain (an outside CA's intermediate and root after it, in
# PEM, in PKCS#7 as PEM or DER): the chain is kept, and its exports carry it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ext-root.key -subj "/CN=Ext Root" -days 30 \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign" -out ext-root.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ext-int.key -subj "/CN=Ext Int" -out ext-int.csr 2>/dev/null
printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n' > ext-ca.ext
openssl x509 -req -in ext-int.csr -CA ext-root.pem -CAkey ext-root.key -CAcreateserial -days 20 -extfile ext-ca.ext \
    -out ext-int.pem 2>/dev/null
for n in 1 2 3; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "ext$n.key" -subj "/CN=ext$n.example" \
        -out "ext$n.csr" 2>/dev/null
    openssl x509 -req -in "ext$n.csr" -CA ext-int.pem -CAkey ext-int.key -CAcreateserial -days 10 -out "ext$n.pem" 2>/dev/null
done
cat ext1.pem ext-int.pem ext-root.pem > ext1-chain.pem
cat ext2.pem ext-int.pem ext-root.pem | openssl crl2pkcs7 -nocrl -certfile /dev/stdin -out ext2-chain.p7b
cat ext3.pem ext-int.pem ext-root.pem | openssl crl2pkcs7 -nocrl -certfile /dev/stdin -outform DER -out ext3-chain.p7b
for f in ext1-chain.pem ext2-chain.p7b ext3-chain.p7b; do
    ext=$(remote cert import "$f")
    remote cert export "$ext" --out "$f.out" >/dev/null
    check_eq "imported with its chain ($f): exported with it, and it verifies" "3 OK" \
        "$(grep -c 'BEGIN CERTIFICATE' "$f.out") $(awk '/BEGIN/{n++} n==3' "$f.out" > r.pem; \
            openssl verify -CAfile r.pem -untrusted "$f.out" "$f.out" 2>&1 | awk '{print $NF}')"
done
audit=$(remote audit list --action certificate.import --output json --limit 1000)
check_eq "the chain's CA certificates entered the inventory once each, in the audit log with the certificate they came with" \
    "2 $(remote cert list --search ext1.example --output json | jq -r '.items[0].id')" \
    "$(echo "$audit" | jq -r '[.items[] | select(.detail.chain_of? != null)] | length') $(echo "$audit" | jq -r '[.items[] | select(.detail.chain_of? != null)][-1].detail.chain_of')"
expect_error "imported twice: the one held named by its name" "already stored in this tenant as \"ext1-chain.pem\" (crt_" -- \
    remote cert import ext1-chain.pem --name again
# Without --name the file's name is the name: a long one is cut to a name's 128 characters
# rather than refusing an import that named no name, a keystore's too; and a --name of 128
# characters of four bytes each reaches the server whole.
long=$(printf 'q%.0s' $(seq 1 200))
for n in 1 2 3; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "long$n.key" -subj "/CN=long$n.example" \
        -days 10 -out "long$n.pem" 2>/dev/null
done
cp long1.pem "$long.pem"
named=$(remote --output json cert import "$long.pem" | jq -r .name || true)
check_eq "a file name longer than a name: cut to 128 characters" "$(printf 'q%.0s' $(seq 1 128))" "$named"
openssl pkcs12 -export -in long2.pem -inkey long2.key -passout file:pw -out "$long.p12"
named=$(remote --output json keystore upload "$long.p12" --password-file pw | jq -r .name || true)
check_eq "and a keystore's" "$(printf 'q%.0s' $(seq 1 128))" "$named"
emoji=$(printf '\360\237\230\200%.0s' $(seq 1 128))
named=$(remote --output json cert import long3.pem --name "$emoji" | jq -r .name || true)
check_eq "a --name of 128 four-byte characters is kept whole" "$emoji" "$named"
mkdir folder && cp cli.pem folder/ && echo junk >folder/junk.txt
out=$(remote cert import folder/ 2>&1 || true)
check_contains "a folder: what was held and what failed counted" "$out" "already held 1, failed 1"
check_contains "a failed file named as the folder was given (no doubled slash)" "$out" "certhub: folder/junk.txt:"
# A certificate and its key side by side, in PEM or DER, the key encrypted or not.
mkdir pairs
for n in pem der enc orphan; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "pairs/$n.key" \
        -subj "/CN=$n.pair.example" -days 10 -out "pairs/$n.pem" 2>/dev/null
done
openssl x509 -in pairs/der.pem -outform DER -out pairs/der.crt && rm pairs/der.pem
openssl pkey -in pairs/der.key -outform DER -out pairs/der.key.der && rm pairs/der.key
openssl pkey -in pairs/enc.key -aes256 -passout pass:s3cret -out pairs/enc.key.p8 && rm pairs/enc.key
rm pairs/orphan.pem
out=$(remote cert import pairs --password-file pw 2>&1 || true)
check_contains "a folder's keys go with their certificates" "$out" "imported 3 (3 with the key beside it)"
check_contains "a key of no certificate in the folder is named" "$out" \
    "certhub: pairs/orphan.key: a private key that belongs to no certificate of the folder"
for n in pem der enc; do
    check_eq "$n.pair.example was stored with its key" "true" \
        "$(remote --output json cert list --search "$n.pair.example" | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["items"][0]["has_private_key"]).lower())')"
done
rm pairs/orphan.key
mkdir pairs2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -passout pass:s3cret -keyout pairs2/late.key \
    -subj /CN=late.pair.example -days 10 -out pairs2/late.pem 2>/dev/null
out=$(remote cert import pairs2 2>&1 || true)
check_contains "an encrypted key without the password: said how to open it" "$out" "give its password with --password-file"
out=$(remote cert import pairs2 --password-file pw 2>&1)
check_contains "the same folder with the password: the key added to the certificate held" "$out" \
    "already held 1 (the key added to 1), failed 0"
# A --key in DER (PKCS#8, as Java and Windows tools write one), plain or encrypted: read by the
# CLI, which sends it as the API takes it (it was refused: "give the certificate and the key in PEM").
for enc in plain encrypted; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "der-$enc.pem" \
        -subj "/CN=der-$enc.example" -days 3 -out "der-$enc.crt" 2>/dev/null
    if [ "$enc" = plain ]; then
        openssl pkey -in "der-$enc.pem" -outform DER -out "der-$enc.key"
        remote cert import "der-$enc.crt" --key "der-$enc.key" --output json > der.json
    else
        openssl pkcs8 -topk8 -in "der-$enc.pem" -outform DER -passout pass:s3cret -out "der-$enc.key"
        remote cert import "der-$enc.crt" --key "der-$enc.key" --key-password-file pw --output json > der.json
    fi
    check_eq "cert import --key of a DER key ($enc): stored with it" true "$(jq -r .has_private_key der.json)"
done
# One certificate with its encrypted --key: the option that sends the key's password named, by
# cert import and ca import alike, which both take it as --key-password-file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -passout pass:s3cret -keyout enc-ca.key \
    -subj "/CN=Encrypted Key CA" -days 10 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign -out enc-ca.pem 2>/dev/null
expect_error "ca import of an encrypted key without its password: the option named" \
    "private key is encrypted: a password is needed (HTTP 400); pass --key-password-file F" -- \
    remote ca import enc-ca.pem --key enc-ca.key --name enc-ca
remote ca import enc-ca.pem --key enc-ca.key --key-password-file pw --name enc-ca >/dev/null
ok "ca import takes the key's password as --key-password-file"

# Tokens and tenants.
tok_id=$(remote token list | awk '$2 == "cli-test" {print $1}')
check_contains "token list shows the viewer token" "$tok_id" "tok_"
check_eq "token get" "viewer" "$(remote token get "$tok_id" | awk '$1 == "role" {print $2}')"
remote token revoke "$tok_id" >/dev/null
expect_error "a revoked token stops working" "revoked" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file viewer-token --ca-file "$data/ca.pem" cert list
revoked_at=$(remote --output json token get "$tok_id" | jq -r .revoked_at)
expect_error "revoking it again: said to be revoked already, and when, not \"no such token\"" \
    "the token $tok_id was revoked already, at $revoked_at (HTTP 404)" -- remote token revoke "$tok_id"
expect_error "a token that never was: no such token" "no such active token (HTTP 404)" -- \
    remote token revoke tok_nonesuch
remote tenant create lab >/dev/null
check_contains "tenant create --name, as the other create commands take a name" \
    "$(remote --output json tenant create --name lab2 | jq -r .name)" "lab2"
expect_usage "tenant create with a name twice" "give the tenant's name once" -- \
    remote tenant create lab3 --name lab3
expect_usage "tenant create without a name" "the tenant's name is required: NAME or --name NAME" -- \
    remote tenant create
check_contains "tenant list" "$(remote tenant list)" "lab"
check_eq "tenant get, by name" "active" "$(remote tenant get lab | awk '$1 == "status" {print $2}')"
check_eq "tenant revoke" "revoked lab" "$(remote tenant revoke lab)"
check_eq "tenant list shows it revoked" "revoked" "$(remote tenant list | awk '$2 == "lab" {print $4}')"
expect_error "the default tenant is never revoked" "never revoked" -- remote tenant revoke default
check_eq "tenant restore" "restored lab" "$(remote tenant restore lab)"
check_eq "tenant list shows it active again" "active" "$(remote tenant list | awk '$2 == "lab" {print $4}')"
check_eq "--output json: tenant revoke and restore answer JSON (they printed text)" "true active" \
    "$(remote --output json tenant revoke lab | jq -r '.status == "revoked"') $(remote --output json tenant restore lab | jq -r .status)"
expect_error "a tenant that is not revoked" "is not revoked" -- remote tenant restore lab
remote token create --tenant lab --role admin --name lab-admin > lab-token && chmod 600 lab-token
"$CERTHUB" --server "https://localhost:$port" --token-file lab-token --ca-file "$data/ca.pem" ca create --name "Lab Root" --subject "CN=Lab Root" >/dev/null
check_contains "ca list --tenant: another tenant's CAs, for the installation's admins" "$(remote ca list --tenant lab)" "Lab Root"
check_contains "audit list --tenant" "$(remote audit list --tenant lab --action ca.create)" "ca.create"
expect_error "a tenant's own admin names another tenant" "no such tenant" -- \
    "$CERTHUB" --server "https://localhost:$port" --token-file lab-token --ca-file "$data/ca.pem" cert list --tenant default

# A folder of certificates in several formats, one of them broken and one already held.
mkdir certs
for n in 1 2 3; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "k$n.pem" -subj "/CN=folder-$n" -days 5 -out "certs/c$n.pem" 2>/dev/null
done
openssl x509 -in certs/c3.pem -outform DER -out certs/c3.der
echo "not a certificate" > certs/broken.txt
expect_exit 1 "a folder with one broken file: exit 1" -- remote cert import certs
check_contains "the summary counts each kind" "$(cat "$T/stdout")" "imported 3, already held 1, failed 1 (of 5 files)"
check_contains "the broken file is named" "$(cat "$T/stderr")" "broken.txt"
check_contains "imported under their file names" "$(remote cert list --search folder-)" "c2.pem"
check_eq "cert list --method imported --kind leaf: the imports only" "imported" \
    "$(remote --output json cert list --method imported --kind leaf --limit 1000 | jq -r '[.items[].method] | unique | join(",")')"
expect_error "cert list --method with another value" "method must be generated, csr_signed, issued or imported" -- \
    remote cert list --method stolen

# CAs: shown, their chain, brought in, deleted.
check_eq "ca get" "yes" "$(remote ca get "$issuer" | awk '$1 == "can_sign" {print $2}')"
check_contains "ca get shows the CA's subject" "$(remote ca get "$issuer")" "CN=certhub Quickstart Issuing CA"
check_eq "ca get: its key and path length" "EC P-256 0" \
    "$(remote ca get "$issuer" --output json | jq -r '.key + " " + (.path_len | tostring)')"
remote ca chain "$issuer" --out issuer-chain.pem
check_eq "ca list shows when each CA expires" \
    "$(date -u -d "$(openssl x509 -in issuer-chain.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)" \
    "$(remote ca list | awk -v id="$issuer" '$1 == id {print $NF}')"
check_eq "ca chain: the issuing CA and its root" 2 "$(grep -c 'BEGIN CERTIFICATE' issuer-chain.pem)"
if openssl verify -CAfile "$data/ca.pem" issuer-chain.pem >/dev/null; then ok "the chain's first certificate verifies against the root"; else fail "not so: the chain's first certificate verifies against the root"; fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout byo.key -subj "/CN=Brought CA" -days 30 \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" -out byo.pem 2>/dev/null
byo=$(remote ca import byo.pem --name "Brought CA" --key byo.key)
check_contains "ca import with its key" "$byo" "ca_"
check_eq "it can sign" "yes" "$(remote ca get "$byo" | awk '$1 == "can_sign" {print $2}')"
cas=$(remote --output json ca list | jq '.items | length')
expect_error "the same CA imported again: refused, naming the CA it is (two CAs signing with one key)" \
    "this certificate is CA \"Brought CA\" ($byo) already" -- remote ca import byo.pem --name "Brought again" --key byo.key
expect_error "and without its key" "($byo) already" -- remote ca import byo.pem --name "Brought thrice"
check_eq "no CA was added" "$cas" "$(remote --output json ca list | jq '.items | length')"
remote cert issue --ca-id "$byo" --subject CN=byo-leaf --days 5 --out byo-leaf.pem >/dev/null
if openssl verify -CAfile byo.pem byo-leaf.pem >/dev/null; then ok "a certificate issued by the CA brought in verifies against it"; else fail "not so: a certificate issued by the CA brought in verifies against it"; fi
# A certificate that CA signed elsewhere (by openssl, with its key), brought in: it is that
# CA's, and its export carries the CA's chain.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout outside.key -subj /CN=outside-leaf \
    -out outside.csr 2>/dev/null
openssl x509 -req -in outside.csr -CA byo.pem -CAkey byo.key -CAcreateserial -days 5 -out outside.pem 2>/dev/null
outside=$(remote cert import outside.pem)
check_eq "a certificate a CA here signed elsewhere, imported: the CA's" "$byo" \
    "$(remote --output json cert get "$outside" | jq -r .ca_id)"
check_eq "and exported with its chain" 2 "$(remote cert export "$outside" --out - | grep -c 'BEGIN CERTIFICATE')"
expect_error "ca delete with an unexpired certificate: refused, saying how" "has 2 unexpired certificates; delete them first" -- \
    remote ca delete "$byo"
check_eq "ca delete --force" "deleted $byo" "$(remote ca delete "$byo" --force)"
expect_error "the deleted CA is gone" "HTTP 404" -- remote ca get "$byo"
expect_error "ca import of a PKCS#12 without its password: the option is named" "pass --password-file F" -- \
    remote ca import cli.p12 --name binary
printf '\000\377\376binary\000\377' > binary.bin
expect_error "ca import of a binary file of no format" "as PEM (or DER), or both in a PKCS#12 or JKS file" -- \
    remote ca import binary.bin --name binary

# The trust bundle and the tenant's settings.
remote ca bundle --out bundle.pem
check_eq "ca bundle: the tenant's active CAs" "$(remote --output json ca list | jq '[.items[] | select(.status == "active")] | length')" \
    "$(grep -c 'BEGIN CERTIFICATE' bundle.pem)"
# A CA certificate that is only in the inventory (an import: anyone who may import could
# otherwise add a root every machine trusts), or whose CA was deleted, is not in it.
check_eq "(CA certificates in the inventory that are no CA's)" true \
    "$(remote --output json cert list --kind ca --status active | jq ".items | length > $(grep -c 'BEGIN CERTIFICATE' bundle.pem)")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stray.key -subj "/CN=Stray Root" -days 30 \
    -out stray.pem 2>/dev/null
remote cert import stray.pem --name stray >/dev/null
remote ca bundle --out bundle2.pem
: > empty-bundle.pw
expect_error "ca bundle --format p12 with an empty password file: the option named" \
    "--password-file gives an empty password: a p12 truststore needs one" -- \
    remote ca bundle --format p12 --password-file empty-bundle.pw --out bundle.p12
[ ! -e bundle.p12 ] || fail "a refused ca bundle wrote its file"
check_eq "an imported CA certificate is not in the bundle" "0 0" \
    "$(grep -c 'Stray Root' <(openssl crl2pkcs7 -nocrl -certfile bundle2.pem | openssl pkcs7 -print_certs)) $(grep -c 'Brought CA' <(openssl crl2pkcs7 -nocrl -certfile bundle2.pem | openssl pkcs7 -print_certs))"
if openssl verify -CAfile bundle.pem -untrusted chain.pem cli.pem >/dev/null; then ok "a certificate it issued verifies with it"; else fail "not so: a certificate it issued verifies with it"; fi
"$CERTHUB" --server "https://localhost:$port" --ca-file "$data/ca.pem" ca bundle --out anonymous.pem
cmp -s bundle.pem anonymous.pem || fail "ca bundle without a token: the default tenant's public bundle: bundle.pem and anonymous.pem differ"
ok "ca bundle without a token: the default tenant's public bundle"
# A first contact from a machine that trusts nothing yet: the root's fingerprint, as certhubd
# printed it, is all it is given.
fp=$(sed -n 's/^certhubd: root fingerprint (SHA-256) //p' "$log")
check_eq "certhubd prints the root's fingerprint as openssl computes it" \
    "$(openssl x509 -in "$data/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)" "$fp"
"$CERTHUB" --server "https://localhost:$port" ca bundle --fingerprint "$fp" --out first.pem
cmp -s first.pem anonymous.pem || fail "ca bundle --fingerprint without --ca-file: the bundle, checked against it: first.pem and anonymous.pem differ"
ok "ca bundle --fingerprint without --ca-file: the bundle, checked against it"
expect_error "a bundle without that root is refused" "no certificate of that fingerprint" -- \
    "$CERTHUB" --server "https://localhost:$port" ca bundle --fingerprint "$(echo "$fp" | tr 0-9A-F 1-9A-F0)" --out wrong.pem
if [ ! -e wrong.pem ]; then ok "and nothing is written"; else fail "not so: and nothing is written"; fi
expect_error "a fingerprint that is not one" "64 hex digits" -- \
    "$CERTHUB" --server "https://localhost:$port" ca bundle --fingerprint AB:CD --out wrong.pem
# A root in the bundle that certhubd's own certificate does not chain to: as a server in the
# middle would send the real bundle with its own root beside it.
other=$(remote ca create --name "Other Root" --subject "CN=Other Root")
remote ca chain "$other" --out other.pem
expect_error "a root of the bundle certhubd's certificate does not chain to is refused" "does not chain to the root" -- \
    "$CERTHUB" --server "https://localhost:$port" ca bundle --fingerprint \
    "$(openssl x509 -in other.pem -noout -fingerprint -sha256 | cut -d= -f2)" --out wrong.pem
if [ ! -e wrong.pem ]; then ok "and nothing is written"; else fail "not so: and nothing is written"; fi
remote ca delete "$other" >/dev/null
echo changeit > store.pw
remote ca bundle --format jks --password-file store.pw --out bundle.jks
check_eq "ca bundle --format jks: a truststore keytool reads" "$(grep -c 'BEGIN CERTIFICATE' bundle.pem)" \
    "$(keytool -list -keystore bundle.jks -storepass changeit 2>/dev/null | grep -c trustedCertEntry)"
expect_usage "a truststore needs a password" "needs a password: --password-file" -- remote ca bundle --format p12 --out x.p12
expect_usage "a PEM bundle takes no password (it would be dropped)" "a PEM bundle is not encrypted" -- \
    remote ca bundle --password-file pw --out x.pem
if [ ! -e x.p12 ]; then ok "and nothing is written"; else fail "not so: and nothing is written"; fi
check_contains "settings get" "$(remote settings get)" "public_bundle"
echo 0123456789abcdef0123 > hook.secret
out=$(remote settings set --public-bundle off --alert-days 20,5 --renewal-point 0.75 \
    --webhook https://127.0.0.1:9/certhub --webhook-secret-file hook.secret)
check_eq "settings set: what the options say" "off 20,5 0.75 https://127.0.0.1:9/certhub" \
    "$(echo "$out" | awk '$1 == "public_bundle" {p=$2} $1 == "alert_thresholds_days" {d=$2} $1 == "renewal_point" {r=$2} $1 == "webhook" {w=$2} END {print p, d, r, w}')"
check_eq "the rest kept" "on" "$(remote settings get | awk '$1 == "unverified_trusted_certificates_authenticate" {print $2}')"
expect_error "then ca bundle without a token is refused, saying why" "public_bundle" -- \
    "$CERTHUB" --server "https://localhost:$port" --ca-file "$data/ca.pem" ca bundle --out anonymous2.pem
expect_error "a renewal point out of range: the server's message" "0.5 to 0.9" -- remote settings set --renewal-point 0.95
expect_usage "nothing to change" "nothing to change" -- remote settings set
expect_error "--webhook needs its secret" "needs --webhook-secret-file" -- remote settings set --webhook https://x.example
echo fedcba9876543210fedcba > hook2.secret
check_eq "two webhooks, each with its secret file" "https://127.0.0.1:9/a https://127.0.0.1:9/b" \
    "$(remote settings set --webhook https://127.0.0.1:9/a --webhook-secret-file hook.secret \
        --webhook https://127.0.0.1:9/b --webhook-secret-file hook2.secret | awk '$1 == "webhook" {printf "%s%s", s, $2; s=" "}')"
check_eq "three sharing one secret file" "3" \
    "$(remote settings set --webhook https://127.0.0.1:9/a --webhook https://127.0.0.1:9/b \
        --webhook https://127.0.0.1:9/c --webhook-secret-file hook.secret | grep -c '^webhook ')"
expect_error "two webhooks and three secret files: refused" "one secret file for each webhook" -- remote settings set \
    --webhook https://x.example/a --webhook-secret-file hook.secret --webhook https://x.example/b \
    --webhook-secret-file hook.secret --webhook-secret-file hook2.secret
check_eq "and the webhooks stay as they were" "3" "$(remote settings get | grep -c '^webhook ')"
check_eq "--webhook without a secret file keeps the ones named, with their secrets" "https://127.0.0.1:9/a https://127.0.0.1:9/c" \
    "$(remote settings set --webhook https://127.0.0.1:9/a --webhook https://127.0.0.1:9/c | awk '$1 == "webhook" {printf "%s%s", s, $2; s=" "}')"
expect_error "a new one without its secret file is refused, saying what it needs" "is new: it needs --webhook-secret-file" -- \
    remote settings set --webhook https://127.0.0.1:9/a --webhook https://127.0.0.1:9/new
check_eq "--no-webhooks and the bundle public again" "" \
    "$(remote settings set --no-webhooks --public-bundle on | awk '$1 == "webhook"')"

# Console users.
echo "ops-password-1" > ops.pw
check_eq "user create" "ops  operator" "$(remote user create ops --role operator --password-file ops.pw)"
check_eq "user list" "admin admin ops operator" "$(remote user list | awk 'NR > 1 {printf "%s%s %s", sep, $1, $2; sep=" "}')"
check_eq "user create --name, as tenant create takes a name" "ops2  viewer" "$(remote user create --name ops2 --password-file ops.pw)"
check_eq "which is the user's name" "admin ops ops2" "$(remote user list | awk 'NR > 1 {printf "%s%s", sep, $1; sep=" "}')"
expect_usage "user create with a name twice" "give the user's name once: NAME or --name NAME" -- \
    remote user create ops3 --name ops4 --password-file ops.pw
expect_usage "user create without a name" "the user's name is required: NAME or --name NAME" -- \
    remote user create --password-file ops.pw
check_eq "neither was made" "admin ops ops2" "$(remote user list | awk 'NR > 1 {printf "%s%s", sep, $1; sep=" "}')"
remote user delete ops2 >/dev/null
expect_error "a user needs a password" "--password-file" -- remote user create nopw
echo "short" > short.pw
expect_error "a password too short: the server's message" "8" -- remote user create weak --password-file short.pw
check_eq "user update" "ops updated; its sessions ended" "$(remote user update ops --role viewer)"
check_eq "the new role listed" viewer "$(remote user list | awk '$1 == "ops" {print $2}')"
expect_usage "nothing to change" "nothing to change" -- remote user update ops
check_eq "user delete" ops "$(remote user delete ops)"
expect_error "gone" "no such user" -- remote user delete ops

# The profile's usages and digest overridden from the command line.
remote cert issue --ca-id "$issuer" --subject CN=both.example --san dns:both.example --ext-key-usage server_auth,client_auth \
    --digest sha384 --auto-renew --out both.pem >both.id
check_contains "--ext-key-usage overrides the profile's" "$(openssl x509 -in both.pem -noout -ext extendedKeyUsage)" \
    "TLS Web Server Authentication, TLS Web Client Authentication"
check_contains "--digest" "$(openssl x509 -in both.pem -noout -text)" "ecdsa-with-SHA384"
check_eq "--auto-renew" "yes" "$(remote cert get "$(cat both.id)" | awk '$1 == "auto_renew" {print $2}')"
expect_error "an unknown usage" "unknown" -- remote cert issue --ca-id "$issuer" --subject CN=x --key-usage flying
# The extension switches, read back by openssl, kept by a renewal.
exts() { # FILE: the four switched extensions, each "name" or "name:critical"
    openssl x509 -in "$1" -noout -text | sed -n 's/^ *X509v3 \(Basic Constraints\|Key Usage\|Extended Key Usage\|Authority Key Identifier\): *\(critical\)\{0,1\}$/\1:\2/p' |
        sed 's/:$//; s/ /_/g' | paste -sd, -
}
sw=$(remote cert issue --ca-id "$issuer" --subject CN=sw.example --basic-constraints off --authority-key-id off \
    --key-usage none --critical ext_key_usage --out sw.pem)
check_eq "cert issue --basic-constraints off --authority-key-id off --key-usage none --critical ext_key_usage" \
    "Extended_Key_Usage:critical" "$(exts sw.pem)"
check_eq "cert get shows it" "false null ext_key_usage" \
    "$(remote --output json cert get "$sw" | jq -r '"\(.details.basic_constraints) \(.details.aki) \(.details.critical | join(","))"')"
remote cert renew "$sw" --out sw2.pem >/dev/null
check_eq "cert renew keeps the switches" "$(exts sw.pem)" "$(exts sw2.pem)"
remote cert issue --ca-id "$issuer" --subject CN=sw3.example --ext-key-usage none --basic-constraints on --out sw3.pem >/dev/null
check_eq "--ext-key-usage none, --basic-constraints on" "Basic_Constraints:critical,Key_Usage:critical,Authority_Key_Identifier" \
    "$(exts sw3.pem)"
expect_error "Basic Constraints off for a CA profile: the server's 400, saying why" "RFC 5280 4.2.1.9" -- \
    remote cert issue --ca-id "$issuer" --profile intermediate-ca --subject CN=x --basic-constraints off
expect_error "a critical AKI: the server's 400" "RFC 5280 4.2.1.1" -- \
    remote cert issue --ca-id "$issuer" --subject CN=x --critical authority_key_id
expect_error "--authority-key-id takes on or off" "takes on or off" -- \
    remote cert issue --ca-id "$issuer" --subject CN=x --authority-key-id maybe
expect_error "an empty --ext-key-usage is no \"none\"" "is empty" -- remote cert issue --ca-id "$issuer" --subject CN=x --ext-key-usage ""
expect_error "none among usages: said to stand alone" "none stands alone" -- remote cert issue --ca-id "$issuer" \
    --subject CN=x --ext-key-usage none,server_auth
expect_error "an intermediate under a CA of path length 0: refused, saying why" "cannot sign another CA" -- \
    remote ca create --name "Under issuing" --subject "CN=Under issuing" --parent "$issuer"
root=$(remote ca list | awk '/Quickstart Root CA/ {print $1}')
team=$(remote ca create --name "Team CA" --subject "CN=Team CA" --parent "$root" --path-len 0 --digest sha384)
remote ca chain "$team" --out team.pem
check_contains "ca create --path-len" "$(openssl x509 -in team.pem -noout -ext basicConstraints)" "pathlen:0"
# An intermediate whose key is elsewhere (a partner's, an HSM's): its CSR signed by a CA here
# (Vault's sign-intermediate), the CA held without its key.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout outside.key -subj "/CN=Partner Issuing CA/O=Partner" \
    -out outside.csr 2>/dev/null
outside=$(remote ca create --name "Partner Issuing" --parent "$root" --csr outside.csr --days 365)
check_eq "ca create --csr: an intermediate of the CSR's subject, held without its key" \
    "O=Partner,CN=Partner Issuing CA $root false" \
    "$(remote --output json ca get "$outside" | jq -r '.subject + " " + .parent_id + " " + (.can_sign | tostring)')"
remote ca chain "$outside" --out outside-chain.pem
openssl x509 -in outside-chain.pem -out outside.pem
check_eq "its certificate holds the CSR's key" "$(openssl pkey -in outside.key -pubout)" "$(openssl x509 -in outside.pem -noout -pubkey)"
check_contains "as a CA" "$(openssl x509 -in outside.pem -noout -ext basicConstraints)" "CA:TRUE"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout oleaf.key -subj /CN=partner-leaf.example -out oleaf.csr 2>/dev/null
openssl x509 -req -in oleaf.csr -CA outside.pem -CAkey outside.key -days 30 -out oleaf.pem 2>/dev/null
awk '/BEGIN/ {n++} n > 1' outside-chain.pem > outside-up.pem
check_eq "what the partner signs with its own key verifies up to the root here" "oleaf.pem: OK" \
    "$(openssl verify -CAfile outside-up.pem -untrusted outside.pem oleaf.pem 2>&1 | tail -1)"
expect_error "its certificate issues nothing here" "cannot sign" -- \
    remote cert issue --ca-id "$outside" --subject CN=x.example
expect_usage "--csr with --key-type: a usage error" "give --csr or --key-type" -- \
    remote ca create --name x --parent "$root" --csr outside.csr --key-type p384
expect_usage "--csr without --parent" "--csr goes with --parent" -- remote ca create --name x --csr outside.csr
TOKEN=$(cat "$data/admin-token") api POST /api/v1/cas "$(jq -n --arg c "$(cat outside.csr)" '{name:"r",type:"root",subject:{common_name:"r"},csr:$c}')"
check_eq "a root with a csr: 400 naming csr" "400 csr" "$status $(body .error.field)"
TOKEN=$(cat "$data/admin-token") api POST /api/v1/cas "$(jq -n --arg c "$(cat outside.csr)" --arg p "$root" '{name:"r2",type:"intermediate",parent_id:$p,csr:$c,auto_rotate:true}')"
check_eq "auto_rotate with a csr: 400 (rotating needs the key)" "400 auto_rotate" "$status $(body .error.field)"
awk 'NR == 2 {c = substr($0, 40, 1); $0 = substr($0, 1, 39) (c == "A" ? "B" : "A") substr($0, 41)} 1' outside.csr > broken.csr
TOKEN=$(cat "$data/admin-token") api POST /api/v1/cas "$(jq -n --arg c "$(cat broken.csr)" --arg p "$root" '{name:"r3",type:"intermediate",parent_id:$p,csr:$c}')"
check_eq "a CSR whose signature does not verify: 422 naming csr, as a certificate's" "422 csr" "$status $(body .error.field)"
check_contains "ca create --digest (the issuer's signature)" "$(openssl x509 -in team.pem -noout -text)" "ecdsa-with-SHA384"
remote csr new --subject CN=digest.example --digest sha512 --out digest.csr >/dev/null
asks=$(remote csr new --subject CN=asks.example --key-usage digital_signature --ext-key-usage client_auth)
remote cert issue --csr-id "$asks" --csr-usages --ca-id "$team" --out asks.pem >/dev/null
check_eq "cert issue --csr-id --csr-usages: the usages csr new asked for" "Digital Signature|TLS Web Client Authentication" \
    "$(openssl x509 -in asks.pem -noout -ext keyUsage | tail -1 | sed 's/^ *//')|$(openssl x509 -in asks.pem -noout -ext extendedKeyUsage | tail -1 | sed 's/^ *//')"
expect_usage "--csr-usages without a CSR" "--csr-usages goes with --csr or --csr-id" -- \
    remote cert issue --subject CN=u.example --csr-usages
check_contains "csr new --digest" "$(openssl req -in digest.csr -noout -text)" "ecdsa-with-SHA512"
expect_error "an Ed25519 CSR with a digest: refused as issuing refuses it, not dropped" "signs without a digest" -- \
    remote csr new --subject CN=ed.example --key-type ed25519 --digest sha384 --out ed.csr
"$CERTHUB" key create --type ed25519 --out ed-own.key
expect_error "and offline" "signs without a digest" -- \
    "$CERTHUB" csr create --key ed-own.key --subject CN=ed.example --digest sha384 --out ed-own.csr

# Certificates renamed, renewed and their key downloaded; ids never leave their collection.
id2=$(remote cert issue --ca-id "$issuer" --subject CN=renew.example --san dns:renew.example --days 10)
check_eq "cert update renames and switches renewal on" "$id2  web-renew  auto_renew=on" \
    "$(remote cert update "$id2" --name web-renew --auto-renew on)"
expect_usage "cert update with nothing to change" "give --name, --auto-renew" -- remote cert update "$id2"
expect_error "cert update --auto-renew takes on or off" "takes on or off" -- remote cert update "$id2" --auto-renew maybe
out=$(remote cert get "$id2")
check_contains "cert get shows the new name" "$out" "web-renew"
check_contains "cert get shows the SANs of the certificate" "$out" "dns:renew.example"
check_contains "cert get shows the key" "$out" "EC P-256"
new=$(remote cert renew "$id2" --out renewed.pem)
check_contains "cert renew prints the new id" "$new" "crt_"
# What was chosen at issuance beside the profile (a digest, usages) goes on with a renewal.
chosen=$(remote cert issue --ca-id "$issuer" --subject CN=chosen.example --digest sha384 --ext-key-usage client_auth \
    --out chosen.pem)
remote cert renew "$chosen" --out chosen2.pem >/dev/null
check_eq "a renewal keeps the digest and the usages chosen" \
    "$(openssl x509 -in chosen.pem -noout -text | grep -E 'Signature Algorithm|TLS Web' | sort -u)" \
    "$(openssl x509 -in chosen2.pem -noout -text | grep -E 'Signature Algorithm|TLS Web' | sort -u)"
check_contains "(sha384, client auth alone)" "$(openssl x509 -in chosen2.pem -noout -text)" "ecdsa-with-SHA384"
check_contains "the renewed certificate has the same subject" "$(openssl x509 -in renewed.pem -noout -subject)" "renew.example"
check_contains "the old one points to the new one" "$(remote cert get "$id2" | tr -s ' ')" "renewed_by $new"
# The chain a TLS server serves, as step certificate inspect https://... shows it.
check_eq "inspect https://HOST:PORT: certhubd's own certificate and its issuer" "CN=localhost,O=certhub 2" \
    "$("$CERTHUB" inspect "https://localhost:$port" --json | jq -r '.[0].subject + " " + (length | tostring)')"
expect_error "a server that is not there: said so" "no certificate was served (Couldn't connect to server)" -- \
    "$CERTHUB" inspect "https://127.0.0.1:1"
check_eq "tls://HOST:PORT reads the handshake alone (certhubd, and a broker, which speaks no HTTP)" "CN=localhost,O=certhub" \
    "$("$CERTHUB" inspect "tls://localhost:$port" --json | jq -r '.[0].subject')"
expect_error "tls:// without a port: said, not 443 taken" "give the server as https://HOST[:PORT] or tls://HOST:PORT" -- \
    "$CERTHUB" inspect "tls://localhost"
expect_error "http://: a server is inspected over TLS" "a server is inspected over TLS" -- "$CERTHUB" inspect "http://localhost:$port"
# A certificate named by its serial or SHA-256, as openssl and other tools print them (Vault's
# pki/cert/:serial), wherever an id goes.
serial=$(remote --output json cert get "$id2" | jq -r .serial)
sha=$(remote --output json cert get "$id2" | jq -r .sha256)
colons=$(echo "$serial" | tr a-f A-F | sed 's/../&:/g; s/:$//')
check_eq "cert get by serial, written as openssl x509 -serial does with colons" "$id2" \
    "$(remote --output json cert get "$colons" | jq -r .id)"
check_eq "by serial with a leading zero" "$id2" "$(remote --output json cert get "0$serial" | jq -r .id)"
check_eq "by SHA-256, upper case" "$id2" "$(remote --output json cert get "$(echo "$sha" | tr a-f A-F)" | jq -r .id)"
remote cert export "$colons" --format pem --out by-serial.pem
check_eq "and exported by it" "$(openssl x509 -in renewed.pem -noout -issuer)" "$(openssl x509 -in by-serial.pem -noout -issuer)"
expect_error "a serial no certificate has: said so" "no certificate has the serial badc0ffee" -- remote cert get 0BAD:C0:FF:EE
expect_error "automatic renewal switched on for one renewed already: refused, naming the renewal" \
    "renewed already, by $new: switch automatic renewal on for that one" -- remote cert update "$id2" --auto-renew on
# A line of renewals closes over a certificate deleted from its middle; its newest deleted,
# the one before does not renew itself in its place.
third=$(remote cert renew "$new" --out third.pem)
remote cert delete "$new" >/dev/null
check_eq "the middle of a line of renewals deleted: the first is renewed by the third, the third renews the first" \
    "$third $id2" "$(remote --output json cert get "$id2" | jq -r .renewed_by) $(remote --output json cert get "$third" | jq -r .renews)"
remote cert delete "$third" >/dev/null 2>delete.err
check_contains "the newest deleted: said that the one it renewed is in force again, not renewed automatically" \
    "$(cat delete.err)" "note: $id2, which it renewed, is in force again and its automatic renewal is off"
check_eq "the newest deleted: the first is renewed by none, and its automatic renewal is off" "null false" \
    "$(remote --output json cert get "$id2" | jq -r '(.renewed_by | tostring) + " " + (.auto_renew | tostring)')"
check_contains "(said in the audit log)" "$(remote --output json audit list --action certificate.delete --object "$third" | jq -c '.items[0].detail')" \
    "\"auto_renew_off\":\"$id2\""
new=$(remote cert renew "$id2" --out renewed.pem --force)
check_contains "and it can be renewed again" "$new" "crt_"
# A renewal that changes what it carries (cert-manager reissues an edited Certificate so): its
# names, its subject, its key's type, or the holder's new key in a CSR; the lineage follows.
grow=$(remote cert issue --ca-id "$issuer" --subject CN=grow.example --san dns:grow.example --out grow.pem)
grow2=$(remote cert renew "$grow" --san dns:grow.example,dns:more.example --subject CN=grow.example,O=Grown --out grow2.pem)
check_eq "cert renew --san --subject: the new names and subject, linked to the old one" \
    "DNS:grow.example, DNS:more.example|subject=O = Grown, CN = grow.example|$grow" \
    "$(openssl x509 -in grow2.pem -noout -ext subjectAltName | tail -1 | sed 's/^ *//')|$(openssl x509 -in grow2.pem -noout -subject)|$(remote --output json cert get "$grow2" | jq -r .renews)"
grow3=$(remote cert renew "$grow2" --key-type rsa2048 --out grow3.pem)
check_contains "cert renew --key-type: a key of another type, the names kept" \
    "$(openssl x509 -in grow3.pem -noout -text | grep -E 'Public-Key|DNS:' | tr -s ' ')" "(2048 bit)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout grow4.key -subj /CN=ignored -out grow4.csr 2>/dev/null
grow4=$(remote cert renew "$grow3" --csr grow4.csr --out grow4.pem)
check_eq "cert renew --csr: the holder's new key, the subject and names kept" \
    "$(openssl pkey -in grow4.key -pubout)|subject=O = Grown, CN = grow.example" \
    "$(openssl x509 -in grow4.pem -noout -pubkey)|$(openssl x509 -in grow4.pem -noout -subject)"
expect_usage "--reuse-key with --key-type: a usage error" "give --reuse-key or --key-type" -- \
    remote cert renew "$grow4" --reuse-key --key-type p256
expect_usage "--key-out with --csr: a usage error" "with --csr the key is already yours" -- \
    remote cert renew "$grow4" --csr grow4.csr --key-out x.key
remote cert key "$new" --out new.key --password-file pw
check_eq "cert key: encrypted under the password" "-----BEGIN ENCRYPTED PRIVATE KEY-----" "$(head -1 new.key)"
check_eq "cert key: a file only its owner reads" "600" "$(stat -c %a new.key)"
check_eq "the key is the renewed certificate's" "$(openssl x509 -in renewed.pem -noout -pubkey)" \
    "$(openssl pkey -in new.key -passin pass:s3cret -pubout)"
expect_error "cert key of an id that is not there" "HTTP 404" -- remote cert key crt_missing --out none.key
# The key the server made, downloaded with the certificate (as step-ca and Vault answer an issue).
kid=$(remote cert issue --ca-id "$issuer" --subject CN=withkey.example --san dns:withkey.example --days 10 \
    --out withkey.pem --key-out withkey.key)
check_contains "cert issue --key-out prints the id" "$kid" "crt_"
check_eq "cert issue --key-out: the certificate's key" "$(openssl x509 -in withkey.pem -noout -pubkey)" \
    "$(openssl pkey -in withkey.key -pubout)"
check_eq "cert issue --key-out: a file only its owner reads" "600" "$(stat -c %a withkey.key)"
check_contains "the download is in the audit log" "$(remote audit list --action key.export --object "$kid")" "key.export"
rid=$(remote cert renew "$kid" --out withkey2.pem --key-out withkey2.key --key-password-file pw)
check_eq "cert renew --key-out --key-password-file: the new key, encrypted" "$(openssl x509 -in withkey2.pem -noout -pubkey)" \
    "$(openssl pkey -in withkey2.key -passin pass:s3cret -pubout)"
before=$(remote cert list --search withkey.example | grep -c crt_)
expect_error "cert issue --out over a file: refused before anything is issued" "withkey.pem exists; pass --force" -- \
    remote cert issue --ca-id "$issuer" --subject CN=withkey.example --san dns:withkey.example --out withkey.pem
expect_error "cert issue --key-out over a file: refused too" "withkey.key exists" -- \
    remote cert issue --ca-id "$issuer" --subject CN=withkey.example --out fresh.pem --key-out withkey.key
expect_error "cert issue --out in a directory that is not there: refused before anything is issued" \
    "cannot write no-such-dir/withkey.pem: the directory no-such-dir: No such file or directory" -- \
    remote cert issue --ca-id "$issuer" --subject CN=withkey.example --out no-such-dir/withkey.pem
expect_error "cert issue --key-out in a file's place: refused too" "cannot write pw/withkey.key: pw is not a directory" -- \
    remote cert issue --ca-id "$issuer" --subject CN=withkey.example --out fresh.pem --key-out pw/withkey.key
expect_error "cert issue --out a directory: refused too" "is a directory: give the name of the file to write" -- \
    remote cert issue --ca-id "$issuer" --subject CN=withkey.example --out . --force
check_eq "nothing was issued by the refused commands" "$before" "$(remote cert list --search withkey.example | grep -c crt_)"
expect_usage "cert issue --key-out with --csr: the key is the caller's" "with --csr the key is already yours" -- \
    remote cert issue --ca-id "$issuer" --subject CN=x --csr withkey.pem --key-out x.key
expect_usage "--key-password-file alone" "goes with --key-out" -- \
    remote cert issue --ca-id "$issuer" --subject CN=x --key-password-file pw
expect_error "an id is one path segment, never another route" "HTTP 404" -- remote cert get ../tokens
# A CSR in DER is signed as one in PEM (it was left out of the request, which then had the
# server make a key of its own and issued for that).
openssl req -new -newkey rsa:3072 -nodes -keyout der-csr.key -subj /CN=der-csr.example -outform DER -out der.csr 2>/dev/null
remote cert issue --ca-id "$issuer" --csr der.csr --out der-csr.pem --output json > der-csr.json
check_eq "cert issue --csr with a DER CSR: signed for the CSR's key" "csr_signed false $(openssl pkey -in der-csr.key -pubout | sha256sum)" \
    "$(jq -r '"\(.method) \(.has_private_key)"' der-csr.json) $(openssl x509 -in der-csr.pem -noout -pubkey | sha256sum)"
printf 'not a CSR' > junk.csr
expect_error "a --csr file that is no CSR: refused before asking" "junk.csr:" -- remote cert issue --ca-id "$issuer" --csr junk.csr --out junk.pem
# The keys a CSR brings are held to the rule for every key (a CSR was a way round it).
openssl req -new -newkey rsa:1024 -nodes -keyout weak.key -subj /CN=weak.example -out weak.csr 2>/dev/null
expect_error "a CSR with a 1024-bit RSA key: refused, saying why" "RSA key of 1024 bits is too weak" -- \
    remote cert issue --ca-id "$issuer" --csr weak.csr --out weak.pem
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:secp256k1 -nodes -keyout k1-csr.key -subj /CN=k1.example -out k1.csr 2>/dev/null
expect_error "a CSR on a curve not taken: refused, naming the curve and the accepted ones" \
    "EC curve secp256k1, which is not accepted; accepted curves: P-256, P-384, P-521" -- \
    remote cert issue --ca-id "$issuer" --csr k1.csr --out k1-out.pem
openssl req -new -newkey ed448 -nodes -keyout ed448.key -subj /CN=ed448.example -out ed448.csr 2>/dev/null
expect_error "an Ed448 CSR: refused" "ED448 keys are not accepted" -- remote cert issue --ca-id "$issuer" --csr ed448.csr --out e.pem

# Profiles.
check_contains "profile list shows the built-in ones" "$(remote profile list)" "tls-server"
check_eq "profile create" "mqtt-device" "$(remote profile create mqtt-device --key-usage digital_signature \
    --ext-key-usage client_auth --default-days 90 --max-days 397 --description 'MQTT client')"
remote profile update mqtt-device --default-days 30 >/dev/null
out=$(remote profile get mqtt-device)
check_contains "profile update changes what was given" "$(echo "$out" | tr -s ' ')" "default_days 30"
check_contains "and keeps the usages" "$(echo "$out" | tr -s ' ')" "ext_key_usage client_auth"
check_contains "and the longest validity" "$(echo "$out" | tr -s ' ')" "max_days 397"
expect_error "a profile's longest validity holds" "profile mqtt-device allows at most 397 days" -- \
    remote cert issue --ca-id "$issuer" --profile mqtt-device --subject CN=sensor-long --days 500
remote profile update mqtt-device --max-days 0 >/dev/null
check_contains "profile update --max-days 0 takes the maximum away, as the API's max_days 0" \
    "$(remote profile get mqtt-device | tr -s ' ')" "max_days 0"
long=$(remote cert issue --ca-id "$issuer" --profile mqtt-device --subject CN=sensor-long --days 500)
check_contains "and a longer validity is issued" "$long" "crt_"
remote cert delete "$long" >/dev/null
remote profile update mqtt-device --max-days 397 >/dev/null
dev=$(remote cert issue --ca-id "$issuer" --profile mqtt-device --subject CN=sensor-9)
check_contains "issued with the custom profile" "$(remote cert get "$dev" | tr -s ' ')" "ext_key_usage client_auth"
expect_exit 2 "profile create needs --key-usage" -- remote profile create bare
check_eq "profile create --name, as tenant create takes a name" "named-dev" \
    "$(remote profile create --name named-dev --key-usage digital_signature --max-days 30)"
check_contains "and it is the profile's name" "$(remote profile get named-dev | tr -s ' ')" "max_days 30"
expect_usage "profile create with a name twice" "give the profile's name once: NAME or --name NAME" -- \
    remote profile create named-a --name named-b --key-usage digital_signature
expect_usage "profile create without a name" "the profile's name is required: NAME or --name NAME" -- \
    remote profile create --key-usage digital_signature
check_eq "neither was made" "" "$(remote profile list --all | awk '$1 ~ /^named-[ab]$/')"
remote profile delete named-dev >/dev/null
expect_error "an unknown usage is named with the accepted ones" 'unknown key usage "flying"; accepted:' -- \
    remote profile create odd --key-usage flying
expect_error "built-in profiles are not changed" "built-in profiles cannot be changed" -- \
    remote profile update tls-server --default-days 3
expect_error "a profile whose certificates are unexpired is kept: their renewals issue from it" \
    "profile mqtt-device issued 1 unexpired certificate, whose renewals issue from it" -- remote profile delete mqtt-device
if remote cert renew "$dev" >/dev/null; then ok "so the certificate from it still renews"; else fail "not so: so the certificate from it still renews"; fi
deleted=$(remote --output json cert list --search sensor-9 | jq -r '.items[].id' |
    while read -r c; do remote --output json cert delete "$c" | jq -r '"\(.id) \(.deleted)"'; done)
check_eq "cert delete --output json: the server's answer, for scripts" "2 2" \
    "$(echo "$deleted" | grep -c ' true$') $(echo "$deleted" | grep -c '^crt_')"
check_eq "profile delete, its certificates gone" "mqtt-device" "$(remote profile delete mqtt-device)"

# CSRs and keystores.
csr=$(remote csr new --subject "CN=partner.example" --san dns:partner.example --out partner.csr)
check_contains "csr new (key on the server)" "$csr" "csr_"
# The storage seed's "Extra Constraints" of a CSR: the extensions asked of the CA that signs it.
remote csr new --subject "CN=Edge Sub CA" --key-usage key_cert_sign,crl_sign --ca --path-len 0 --out subca.csr >/dev/null
text=$(openssl req -in subca.csr -noout -text)
check_contains "csr new --ca --path-len: Basic Constraints asked, critical" "$(echo "$text" | tr -s ' \n' ' ')" \
    "X509v3 Basic Constraints: critical CA:TRUE, pathlen:0"
check_contains "and its Key Usage" "$(echo "$text" | tr -s ' \n' ' ')" "Certificate Sign, CRL Sign"
remote csr new --subject "CN=client.example" --san dns:client.example --key-usage digital_signature \
    --ext-key-usage client_auth,server_auth --out cli-ext.csr >/dev/null
check_contains "csr new --ext-key-usage" "$(openssl req -in cli-ext.csr -noout -text)" "TLS Web Client Authentication"
expect_usage "--path-len without --ca" "--path-len goes with --ca" -- remote csr new --subject CN=x --path-len 1
TOKEN=$(cat "$data/admin-token") api POST /api/v1/csrs '{"subject":{"common_name":"x"},"key_usage":["flying"]}'
check_eq "an unknown key usage: 400 on key_usage" "400 key_usage" "$status $(body .error.field)"
TOKEN=$(cat "$data/admin-token") api POST /api/v1/csrs '{"subject":{"common_name":"x"},"path_len":1}'
check_eq "path_len without ca: 400 on path_len" "400 path_len" "$status $(body .error.field)"
for b in '{"ca":true,"key_usage":["digital_signature"]}|key_cert_sign' '{"key_usage":["key_cert_sign"]}|ask for a CA' \
    '{"key_usage":["encipher_only"]}|key_agreement'; do
    TOKEN=$(cat "$data/admin-token") api POST /api/v1/csrs "$(echo "${b%%|*}" | jq -c '. + {subject:{common_name:"x"}}')"
    check_eq "a CSR asking ${b%%|*}: 400 on key_usage" "400 key_usage" "$status $(body .error.field)"
    check_contains "(saying why)" "$(body .error.message)" "${b##*|}"
done
if openssl req -in partner.csr -noout -verify 2>/dev/null; then ok "the CSR verifies"; else fail "not so: the CSR verifies"; fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout oca.key -subj "/CN=Outside CA" -days 5 -out oca.pem 2>/dev/null
openssl x509 -req -in partner.csr -CA oca.pem -CAkey oca.key -CAcreateserial -days 2 -out partner.pem 2>/dev/null
check_contains "csr attach" "$(remote csr attach "$csr" partner.pem)" "crt_"
check_contains "csr list shows it attached" "$(remote csr list)" "$csr"
# What outside CAs hand back besides PEM: a DER .cer, a PKCS#7 with the chain (kept beside
# the certificate, as an import keeps it).
for form in der p7b; do
    c2=$(remote csr new --subject "CN=partner-$form.example" --san "dns:partner-$form.example" --out "p-$form.csr")
    openssl x509 -req -in "p-$form.csr" -CA oca.pem -CAkey oca.key -CAcreateserial -days 2 -out "p-$form.pem" 2>/dev/null
    if [ "$form" = der ]; then
        openssl x509 -in "p-$form.pem" -outform der -out "p-$form.signed"
    else
        openssl crl2pkcs7 -nocrl -certfile "p-$form.pem" -certfile oca.pem -outform der -out "p-$form.signed"
    fi
    got=$(remote csr attach "$c2" "p-$form.signed") || fail "csr attach of a $form file"
    check_eq "csr attach of a $form file: the certificate has the CSR's key" "true" \
        "$(remote --output json cert get "$got" | jq -r .has_private_key)"
done
check_contains "the PKCS#7's CA is kept in the inventory" "$(remote cert list --search "Outside CA")" "Outside CA"
c3=$(remote csr new --subject "CN=partner-bad.example" --san dns:partner-bad.example)
TOKEN=$(cat "$data/admin-token") api POST "/api/v1/csrs/$c3/certificate" \
    "$(jq -n --arg d "$(printf 'not a certificate' | base64 -w0)" '{data:$d}')"
check_eq "data that is no certificate: 400 on data" "400 data" "$status $(body .error.field)"
openssl ecparam -name prime256v1 -genkey -noout -out stray-attach.key 2>/dev/null
cat p-der.pem stray-attach.key > with-key.pem
TOKEN=$(cat "$data/admin-token") api POST "/api/v1/csrs/$c3/certificate" "$(jq -n --rawfile c with-key.pem '{certificate:$c}')"
check_eq "a signed certificate with a key beside it: 400 on certificate (not private_key)" "400 certificate" \
    "$status $(body .error.field)"
check_contains "saying to send it alone" "$(body .error.message)" "send the certificate the CA signed alone"
: > empty.cer
expect_error "csr attach of an empty file" "is empty" -- remote csr attach "$c3" empty.cer
check_contains "csr get: its key was made here" "$(remote csr get "$csr" | tr -s ' ')" "has_private_key yes"
remote csr export "$csr" --format der --out partner.der
check_eq "csr export --format der: the same CSR" "$(openssl req -in partner.csr -outform DER | sha256sum)" \
    "$(sha256sum <partner.der)"
expect_error "csr export --format says what it takes, the names of der with it" \
    '--format takes pem or der (cer, crt), not "xml"' -- remote csr export "$csr" --format xml --out x
remote csr export "$csr" --format cer --out partner.cer
check_eq "csr export --format cer, one of those names: DER" "$(openssl req -in partner.csr -outform DER | sha256sum)" \
    "$(sha256sum < partner.cer)"
check_eq "csr delete" "$csr" "$(remote csr delete "$csr")"
expect_error "csr delete of one gone: the server's 404" "no such CSR" -- remote csr delete "$csr"
own=$(remote csr new --subject "CN=own.example" --san dns:own.example)
remote cert issue --ca-id "$issuer" --csr-id "$own" --out own.pem --key-out own.key >/dev/null
check_eq "cert issue --csr-id: the certificate has the CSR's key" "$(openssl pkey -in own.key -pubout)" \
    "$(openssl x509 -in own.pem -noout -pubkey)"
expect_error "cert issue --csr-id twice" "is signed already" -- remote cert issue --ca-id "$issuer" --csr-id "$own"
openssl pkcs12 -export -in certs/c1.pem -inkey k1.pem -name one -passout pass:s3cret -out one.p12
expect_error "a keystore without its password: the option that gives it is named" "pass --password-file F" -- \
    remote keystore upload one.p12
ks=$(remote keystore upload one.p12 --password-file pw)
# An EC key beside a certificate of another (RSA) key: refused, saying so (it was kept
# without the key, with a note).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out stray.key 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -subj /CN=mismatch -days 5 -out other.pem 2>/dev/null
cat stray.key other.pem > mismatch.pem
expect_error "a keystore upload whose key belongs to none of its certificates" \
    "private key that belongs to none of its certificates" -- remote keystore upload mismatch.pem
check_contains "keystore upload" "$ks" "kst_"
check_contains "keystore entries" "$(remote keystore entries "$ks")" "one"
out=$(remote keystore get "$ks")
check_contains "keystore get: its format" "$out" "p12"
check_contains "and its entry, with its key and subject" "$out" "one                       yes              CN=folder-1"
out=$(remote keystore entry "$ks" one)
check_contains "keystore entry: its certificate in full" "$(echo "$out" | tr -s ' ')" "details.key_curve P-256"
check_contains "and whether it holds a key" "$(echo "$out" | head -4 | tr -s ' ')" "has_private_key yes"
expect_error "keystore entry of an alias it lacks" 'no entry with the alias "two"' -- remote keystore entry "$ks" two
remote keystore export "$ks" --format jks --password-file pw --with-key --out one.jks
remote keystore export "$ks" --format p12 --legacy --password-file pw --out legacy.p12
check_contains "--legacy: a PKCS#12 with 3DES for old Java and Windows" \
    "$(openssl pkcs12 -legacy -in legacy.p12 -info -noout -passin file:pw 2>&1)" "TripleDES"
check_contains "exported as JKS, read by keytool" "$(keytool -list -keystore one.jks -storepass s3cret 2>/dev/null)" "PrivateKeyEntry"
keytool -genkeypair -alias two -keyalg EC -groupname secp256r1 -dname CN=two.example -validity 5 -keystore two.jks \
    -storetype JKS -storepass storepass -keypass keypass1 >/dev/null 2>&1
echo storepass >store.pw
echo keypass1 >key.pw
expect_error "a JKS whose key has its own password, without it" "password" -- remote keystore upload two.jks --password-file store.pw
check_contains "and with --key-password-file" "$(remote keystore upload two.jks --password-file store.pw --key-password-file key.pw)" "kst_"
# Such a JKS into the inventory as one certificate: its key's own password beside the store's.
keytool -genkeypair -alias four -keyalg EC -groupname secp256r1 -dname CN=four.example -validity 5 -keystore four.jks \
    -storetype JKS -storepass storepass -keypass keypass1 >/dev/null 2>&1
expect_error "cert import of a JKS whose key has its own password, without it: the key password named" \
    "give the key's own as the key password" -- remote cert import four.jks --password-file store.pw
cid=$(remote cert import four.jks --password-file store.pw --key-password-file key.pw --name four-jks)
remote cert key "$cid" --out two-jks.key
keytool -exportcert -rfc -alias four -keystore four.jks -storepass storepass >two-jks.pem 2>/dev/null
check_eq "cert import --key-password-file: the JKS key comes in, keytool's certificate its own" \
    "$(openssl x509 -in two-jks.pem -noout -pubkey)" "$(openssl pkey -in two-jks.key -pubout)"
TOKEN=$(cat "$data/admin-token") api POST /api/v1/certificates/import "" --data-binary @four.jks \
    -H "Content-Type: application/x-java-keystore" -H "Certhub-Password: storepass" -H "Certhub-Key-Password: wrong"
check_eq "a raw body with a wrong Certhub-Key-Password: 400 naming key_password" "400 key_password" "$status $(body .error.field)"
TOKEN=$(cat "$data/admin-token") api POST /api/v1/certificates/import "" --data-binary @four.jks \
    -H "Content-Type: application/x-java-keystore" -H "Certhub-Password: storepass"
check_contains "without it, the header to give it in is said" "$(body .error.message)" "Certhub-Key-Password header"
TOKEN=$(cat "$data/admin-token") api POST /api/v1/certificates/import \
    "$(jq -n --arg c "$(cat two-jks.pem)" '{certificate:$c, key_password:"keypass1"}')"
check_eq "key_password with a PEM certificate: 400" "400 key_password" "$status $(body .error.field)"
expect_usage "with --key, one of the two password files" "not both" -- \
    remote cert import two-jks.pem --key two-jks.key --password-file store.pw --key-password-file key.pw
# One key with a password of its own, another with the store's (keytool -keypass for one alias).
keytool -genkeypair -alias three -keyalg EC -groupname secp256r1 -dname CN=three.example -validity 5 -keystore two.jks \
    -storetype JKS -storepass storepass -keypass storepass >/dev/null 2>&1
expect_error "keys of two passwords, without the key's own: the entry and the key password named" \
    'wrong password for the key of entry "two": the keystore'"'"'s does not open it' -- \
    remote keystore upload two.jks --password-file store.pw --name mixed
mixed=$(remote keystore upload two.jks --password-file store.pw --key-password-file key.pw --name mixed)
check_eq "with it, both entries and both keys" "three:true two:true" \
    "$(remote --output json keystore get "$mixed" | jq -r '[.entries[] | .alias + ":" + (.has_private_key | tostring)] | sort | join(" ")')"
echo wrong >wrong.pw
api_status=$(curl -s -o "$T/ks.json" -w '%{http_code}' --cacert "$data/ca.pem" -H "Authorization: Bearer $(cat "$data/admin-token")" \
    -H "Content-Type: application/octet-stream" -H "Certhub-Password: storepass" -H "Certhub-Key-Password: wrong" \
    --data-binary @two.jks "https://localhost:$port/api/v1/keystores?name=mixed2")
check_eq "a wrong key password: 400 naming key_password" "400 key_password" "$api_status $(jq -r .error.field "$T/ks.json")"
remote keystore delete "$ks" >/dev/null
check_eq "keystore deleted" "" "$(remote keystore list | grep "$ks" || true)"

# The audit log, newest first, filtered, a page at a time.
check_eq "audit list: newest first" "keystore.delete" "$(remote audit list --limit 1 | awk 'NR == 2 {print $4}')"
check_eq "audit list --action with a prefix" "keystore." \
    "$(remote audit list --action 'keystore.*' | awk 'NR > 1 {print substr($4, 1, 9)}' | sort -u)"
remote audit list --limit 1 --oldest-first >first.txt 2>more.txt
check_contains "the oldest entry is the first start's" "$(cat first.txt)" "system:bootstrap"
cursor=$(sed -n 's/.*--cursor \([^ ]*\).*/\1/p' more.txt)
check_contains "a next page is offered" "$cursor" "s"
check_eq "and --cursor gives it" "2" "$(remote audit list --limit 1 --oldest-first --cursor "$cursor" 2>/dev/null | awk 'NR == 2 {print $1}')"
expect_error "audit list --since with a bad time" "not an RFC 3339 time" -- remote audit list --since yesterday

# Outputs and inputs checked before the server is asked: one file for the certificate and its
# key (a certificate was made, then not saved); an empty key file (sent as none: stored keyless).
before=$(remote --output json cert list --all | jq '.items | length')
expect_usage "cert issue --out and --key-out one file" "--out and --key-out name the same file" -- \
    remote cert issue --subject CN=same.example --ca-id "$team" --out same.pem --key-out same.pem
: > empty.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=keyless.example \
    -days 5 -out keyless.pem 2>/dev/null
expect_error "cert import --key of an empty file" "empty.key is empty: no private key in it" -- \
    remote cert import keyless.pem --key empty.key
check_eq "(nothing made)" "$before" "$(remote --output json cert list --all | jq '.items | length')"
: > empty.pw
expect_error "cert key --password-file of an empty file: refused, not the key in clear" \
    "--password-file gives an empty password" -- remote cert key "$(remote --output json cert list --limit 1 | jq -r '.items[0].id')" --out k.pem --password-file empty.pw
# A user name before the host: the check for this machine read it as the host.
expect_error "an http:// URL with a user before the host" "names a user before its host" -- \
    "$CERTHUB" --server "http://127.0.0.1:1@192.0.2.2:9" --token-file "$data/admin-token" ca list
done_testing
