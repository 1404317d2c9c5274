#!/usr/bin/env bash
# Bad input to the offline tools: one clear line on stderr and exit 1; usage errors exit 2;
# nothing is written; no input crashes anything.
. "$(dirname "$0")/lib.sh"

"$CERTHUB" key create --type p256 --out ca.key
"$CERTHUB" cert create --profile root-ca --subject "CN=Root" --key ca.key --days 100 --out ca.pem
"$CERTHUB" key create --type p256 --out leaf.key
printf 'right\n' > pw
printf 'wrong\n' > badpw
"$CERTHUB" key create --type p256 --out enc.key --password-file pw

expect_error "missing file" "cannot open" -- "$CERTHUB" inspect no-such-file.pem
printf 'hello, this is not a certificate\n' > garbage.txt
expect_error "garbage file" "no certificate, CSR or key found" -- "$CERTHUB" inspect garbage.txt
head -c 200 ca.pem > truncated.pem
expect_error "a multi-valued RDN (an unescaped '+'): refused, not read into the value" "write \\+ for a '+' in a value" -- \
    "$CERTHUB" cert create --profile root-ca --subject 'CN=x,O=Ex+OU=u' --key-type p256 --key-out mv.key --out mv.pem
if [ ! -e mv.pem ] && [ ! -e mv.key ]; then ok "and nothing is written"; else fail "not so: and nothing is written"; fi
expect_error "truncated certificate: said to be" "the PEM data is truncated or damaged: its first block" -- "$CERTHUB" inspect truncated.pem
for i in $(seq 1025); do cat ca.pem; done > many.pem
expect_error "more PEM blocks than inspect reads: said, with the limit" "holds more than 1024 PEM blocks" -- \
    "$CERTHUB" inspect many.pem
check_eq "and nothing of it listed before (a part read as the whole)" 0 "$(wc -c < "$T/stdout")"
openssl x509 -in ca.pem -outform DER -out ca.der
head -c 150 ca.der > truncated.der
expect_error "truncated DER certificate: said to be cut, with the lengths" \
    "the file is cut short: its DER encoding says $(stat -c %s ca.der) bytes and the file has 150" -- "$CERTHUB" inspect truncated.der
openssl genrsa -out weak.key 1024 2>/dev/null
openssl req -new -key weak.key -subj /CN=weak -out weak.csr
expect_error "a CSR with a weak key is not signed offline either" "RSA key of 1024 bits is too weak" -- \
    "$CERTHUB" cert create --profile tls-server --csr weak.csr --ca ca.pem --ca-key ca.key --out weak.pem
expect_error "weak RSA key" "at least 2048 bits" -- "$CERTHUB" csr create --key weak.key --subject CN=x --out x.csr
openssl ecparam -name secp256k1 -genkey -noout -out k1.key
expect_error "curve not accepted" "accepted curves: P-256, P-384, P-521" -- "$CERTHUB" csr create --key k1.key --subject CN=x --out x.csr
expect_error "wrong key password" "wrong password for private key" -- "$CERTHUB" csr create --key enc.key --key-password-file badpw --subject CN=x --out x.csr
expect_error "missing key password" "a password is needed" -- "$CERTHUB" csr create --key enc.key --subject CN=x --out x.csr
if "$CERTHUB" csr create --key enc.key --key-password-file pw --subject CN=x --out ok.csr; then ok "right key password works"; else fail "not so: right key password works"; fi

openssl req -in ok.csr -outform DER -out ok.der
cp ok.der broken.der
size=$(stat -c %s broken.der)
# Flip bits of a signature byte (writing a fixed value left it unchanged when it was that value).
byte=$(od -An -tu1 -j $((size - 6)) -N1 broken.der | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 0x55)))" | dd of=broken.der bs=1 seek=$((size - 6)) conv=notrunc 2>/dev/null
cmp -s ok.der broken.der && fail "the CSR was not changed"
expect_error "CSR with a broken signature" "CSR signature does not verify" -- "$CERTHUB" cert create --profile tls-client --csr broken.der --ca ca.pem --ca-key ca.key --out x.pem
expect_error "self-signed leaf" "cannot be self-signed" -- "$CERTHUB" cert create --profile tls-server --subject CN=x --key leaf.key --out x.pem
expect_error "days beyond the CA" "validity ends after the issuing CA's" -- "$CERTHUB" cert create --profile tls-server --subject CN=x --key leaf.key --ca ca.pem --ca-key ca.key --days 500 --out x.pem
openssl req -new -key leaf.key -subj /CN=sneaky -addext basicConstraints=critical,CA:TRUE -out ca-request.csr
expect_error "CSR asking CA:TRUE for a leaf profile" "asks for a CA certificate" -- "$CERTHUB" cert create --profile tls-server --csr ca-request.csr --ca ca.pem --ca-key ca.key --out x.pem
expect_error "bad SAN" "is not a valid DNS name" -- "$CERTHUB" cert create --profile tls-server --subject CN=x --san dns:bad..name --key leaf.key --ca ca.pem --ca-key ca.key --out x.pem
expect_error "a SAN of a kind not taken is named as such" 'unknown kind of subject alternative name "rfc822:"; accepted: dns:NAME' -- \
    "$CERTHUB" cert create --profile tls-server --subject CN=x --san rfc822:a@b.example --key leaf.key --ca ca.pem --ca-key ca.key --out x.pem
expect_error "host:port is still a bad DNS name" '"web.example:8443" is not a valid DNS name' -- \
    "$CERTHUB" cert create --profile tls-server --subject CN=x --san web.example:8443 --key leaf.key --ca ca.pem --ca-key ca.key --out x.pem
expect_error "a Unicode host name is asked in its xn-- form" "xn--bcher-kva.example" -- "$CERTHUB" cert create --profile tls-server --subject CN=x --san dns:bücher.example --key leaf.key --ca ca.pem --ca-key ca.key --out x.pem
expect_error "subject without a value" "is not KEY=value" -- "$CERTHUB" cert create --profile tls-server --subject CN --key leaf.key --ca ca.pem --ca-key ca.key --out x.pem
expect_error "unknown subject attribute" "unknown subject attribute" -- "$CERTHUB" csr create --key leaf.key --subject "XX=1" --out x.csr
expect_error "unknown profile" "unknown profile" -- "$CERTHUB" cert create --profile nope --subject CN=x --key leaf.key --out x.pem
expect_error "unknown key type" "accepted: rsa2048" -- "$CERTHUB" key create --type dsa1024 --out x.key
expect_error "the CA key is not the CA's" "does not belong" -- "$CERTHUB" cert create --profile tls-server --subject CN=x --key leaf.key --ca ca.pem --ca-key leaf.key --out x.pem
"$CERTHUB" key create --type p256 --out exists.key
expect_error "existing output is kept" "pass --force" -- "$CERTHUB" key create --type p256 --out exists.key
# An output that is there and is no file (/dev/null, a FIFO, a shell's >(...)) is written to as
# it is, never replaced: the atomic write's rename would put a file with the key in its place
# (/dev/null itself, as root).  /dev/null is asked without --force, which a regression refuses
# rather than replace it.
expect_exit 0 "--out /dev/null is written to, without --force" -- "$CERTHUB" key create --type p256 --out /dev/null
if [ -c /dev/null ]; then ok "and /dev/null is still a device"; else fail "not so: and /dev/null is still a device"; fi
mkfifo out.fifo
timeout 10 cat out.fifo > fifo.out &
reader=$!
expect_exit 0 "a key written to a FIFO, with --force" -- "$CERTHUB" key create --type p256 --out out.fifo --force
wait "$reader" || true
if [ -p out.fifo ]; then ok "the FIFO is not replaced by a file"; else fail "not so: the FIFO is not replaced by a file"; fi
check_contains "and its reader got the key" "$(cat fifo.out)" "BEGIN PRIVATE KEY"
# A block device (a disk named by mistake) is never written, --force or not.  The node is made
# here (a loop device's numbers; nothing is opened), which needs root, as the test runs in CI.
if mknod disk.blk b 7 254 2>/dev/null; then
    expect_error "a block device is refused, even with --force" "disk.blk is a block device" -- \
        "$CERTHUB" key create --type p256 --out disk.blk --force
    if [ -b disk.blk ]; then ok "and it is still a block device"; else fail "not so: and it is still a block device"; fi
else
    echo "# not root: no block device node made to write to"
fi
expect_error "an output in a directory that is not there: said before any work" \
    "cannot write no-such-dir/ca.pem: the directory no-such-dir: No such file or directory" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=Root --key-type p256 --key-out root2.key --out no-such-dir/ca.pem
if [ ! -e root2.key ]; then ok "and its key is not written either"; else fail "not so: and its key is not written either"; fi
if [ ! -e x.pem ] && [ ! -e x.csr ] && [ ! -e x.key ]; then ok "no refused command wrote a file"; else fail "not so: no refused command wrote a file"; fi

expect_exit 2 "unknown command" -- "$CERTHUB" frobnicate
expect_exit 2 "unknown option" -- "$CERTHUB" key create --type p256 --out y.key --colour
expect_exit 2 "missing required option" -- "$CERTHUB" key create --out y.key
expect_exit 2 "option without its value" -- "$CERTHUB" key create --out
expect_error "days not a number: bad input, exit 1" "--days must be a whole number from 1 to" -- "$CERTHUB" cert create --profile root-ca --subject CN=x --key leaf.key --days ten --out y.pem
expect_error "bad purpose" "--purpose must be server or client, not \"email\"" -- "$CERTHUB" verify ca.pem --ca ca.pem --purpose email
expect_error "a format convert cannot write: bad input, exit 1, every name taken said" '--to must be one of pem, der (cer, crt), p7b (p7c, pkcs7), p12 (pfx, pkcs12) or jks, not "xyz"' -- \
    "$CERTHUB" convert ca.pem --to xyz --out y.out
expect_error "convert --to jceks, a format read and not written: exit 1, saying so and what is taken" \
    '--to jceks: jceks is read, not written; --to takes pem, der (cer, crt), p7b (p7c, pkcs7), p12 (pfx, pkcs12) or jks' -- \
    "$CERTHUB" convert ca.pem --to jceks --out y.out
if [ ! -e y.out ]; then ok "neither wrote a file"; else fail "not so: neither wrote a file"; fi
expect_exit 0 "convert --to cer, one of the names said: taken" -- "$CERTHUB" convert ca.pem --to cer --out y.cer
check_eq "and written as DER" "$(openssl x509 -in ca.pem -outform DER | sha256sum)" "$(sha256sum < y.cer)"
expect_error "a moment verify cannot read" "--at:" -- "$CERTHUB" verify ca.pem --ca ca.pem --at yesterday
expect_exit 0 "help" -- "$CERTHUB" --help
expect_exit 0 "command help" -- "$CERTHUB" cert create --help
# A group's word alone or with --help lists the group's commands; an unknown one among them too.
expect_exit 0 "group help" -- "$CERTHUB" cert --help
grep -q "^  cert list " "$T/stdout" || fail "group help lacks cert list: $(cat "$T/stdout")"
grep -q "^  ca list " "$T/stdout" && fail "group help of cert lists ca list"
ok "group help lists the group's commands alone"
expect_exit 2 "group without a command" -- "$CERTHUB" ca
grep -q '"ca" needs a command after it' "$T/stderr" || fail "group without a command: $(cat "$T/stderr")"
grep -q "^  ca rotate " "$T/stderr" || fail "group without a command lacks ca rotate: $(cat "$T/stderr")"
ok "a group alone says a command is missing and lists them"
expect_exit 2 "unknown command in a group" -- "$CERTHUB" cert frobnicate
grep -q 'unknown command "cert frobnicate"' "$T/stderr" || fail "unknown command in a group: $(cat "$T/stderr")"
ok "an unknown command in a group is named"
# An option before the command that certhub does not take there (--token as other tools spell
# it) is named as an option, with the ones it takes, not as an unknown command.
expect_usage "--path-len with a leaf's profile (it was ignored)" "--path-len goes with a CA profile" -- \
    "$CERTHUB" cert create --profile tls-server --subject CN=leaf --key-type p256 --key-out pl.key --path-len 1 \
    --ca ca.pem --ca-key ca.key --out pl.pem
check_eq "and nothing written" "" "$(ls pl.* 2>/dev/null || true)"
expect_usage "an option given twice (one value was dropped)" "--key-usage is given twice" -- \
    "$CERTHUB" cert create --profile tls-server --subject CN=twice --key-type p256 --key-out tw.key \
    --key-usage digital_signature --key-usage key_encipherment --ca ca.pem --ca-key ca.key --out tw.pem
expect_usage "an unknown option before the command" 'unknown option "--token" before the command' -- \
    "$CERTHUB" --token abc cert list
check_contains "and the ones it takes are said" "$(cat "$T/stderr")" "--token-file FILE (or CERTHUB_TOKEN"
check_eq "without the whole command list" 2 "$(wc -l <"$T/stderr")"
expect_usage "a connection option without its value" "--server takes a value" -- "$CERTHUB" --server
# A word that is no command, followed by --help, is named alone: the option is not part of it.
expect_exit 2 "an unknown command with --help" -- "$CERTHUB" bundle --help
grep -q 'unknown command "bundle"$' "$T/stderr" || fail "an unknown command with --help: $(head -1 "$T/stderr")"
ok "the unknown command is named without the option after it"
# certhub help WORD for no command: said, not an empty answer that reads as a command without options.
expect_exit 2 "help for an unknown command" -- "$CERTHUB" help bundle
grep -q 'unknown command "bundle"' "$T/stderr" || fail "help for an unknown command: $(cat "$T/stderr")"
ok "help for an unknown command says it is unknown"
# cert issue takes its key from one source: two are a usage error said before certhubd is asked
# (its refusal would name JSON fields), with no server to ask here.
expect_usage "cert issue with --key-type and --csr" "give --key-type or --csr, not both" -- \
    "$CERTHUB" --server https://127.0.0.1:1 cert issue --key-type p256 --csr ok.csr
expect_usage "cert issue with --csr and --csr-id" "give --csr or --csr-id, not both" -- \
    "$CERTHUB" --server https://127.0.0.1:1 cert issue --csr ok.csr --csr-id csr_x
expect_usage "cert issue with --key-type and --csr-id" "give --key-type or --csr-id, not both" -- \
    "$CERTHUB" --server https://127.0.0.1:1 cert issue --key-type p256 --csr-id csr_x
expect_usage "agent without --config" "--config FILE is required" -- "$CERTHUB" agent --once

# Every fuzz corpus file and every truncation of a small certificate: exit 0 or 1, never a
# signal.
corpus="${CERTHUB_SOURCE_DIR:-}/fuzz/corpus"
n=0
for f in "$corpus"/*/* ; do
    [ -f "$f" ] || continue
    rc=0
    "$CERTHUB" inspect "$f" >/dev/null 2>&1 || rc=$?
    [ $rc -le 1 ] || fail "inspect $f exited $rc"
    n=$((n + 1))
done
for len in $(seq 1 7 $(stat -c %s ca.der)); do
    head -c $len ca.der > cut.der
    rc=0
    "$CERTHUB" inspect cut.der >/dev/null 2>&1 || rc=$?
    [ $rc -le 1 ] || fail "inspect of $len bytes exited $rc"
    n=$((n + 1))
done
ok "$n odd inputs to inspect, none crashed"

# Every option of every command says what it takes in the command's --help.
# (A name is one or two words, two spaces or more before its summary.)
"$CERTHUB" --help | awk '/^commands:/{f=1;next} /^$/{f=0} f' | sed -E 's/^  ([^ ]+( [^ ]+)?)  .*/\1/' > commands.txt
[ "$(wc -l < commands.txt)" -gt 40 ] || fail "the command list was not read from certhub --help"
while read -r cmd; do
    # shellcheck disable=SC2086 # (the command's words)
    "$CERTHUB" $cmd --help > help.txt 2>&1 || fail "certhub $cmd --help failed"
    awk -v c="$cmd" '/^options:/{f=1;next} f && /^  --/ && NF==1 {print c ": " $1}' help.txt
done < commands.txt > bare.txt
check_eq "every option of every command is described in its --help" "" "$(cat bare.txt)"
expect_usage "trusted update with nothing to change" "nothing to change" -- "$CERTHUB" trusted update tru_x

# A password that would encrypt a key, empty (an empty file, an unset variable echoed into one):
# refused, not the key written in clear under it.
: > empty
expect_error "key create with an empty password file" "--password-file gives an empty password: the key would be written in clear" -- \
    "$CERTHUB" key create --type p256 --password-file empty --out empty-pw.key
expect_error "cert create --key-out-password-file empty" "--key-out-password-file gives an empty password" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=e --key-type p256 --key-out e.key --key-out-password-file empty --out e.pem
openssl pkcs12 -export -in ca.pem -inkey ca.key -passout pass:right -out ca.p12
expect_error "convert to PEM with an empty password file" "--password-file gives an empty password" -- \
    "$CERTHUB" convert ca.p12 --to pem --in-password-file pw --password-file empty --out conv.pem
[ ! -e empty-pw.key ] && [ ! -e e.key ] && [ ! -e e.pem ] && [ ! -e conv.pem ] || fail "a refused command wrote a file"
ok "(nothing written)"
# Two outputs that are one file: the key was left there, or (--force) overwritten by the certificate.
expect_usage "--out and --key-out the same file" "--out and --key-out name the same file" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=s --key-type p256 --key-out s.pem --out s.pem --force
mkdir -p sub
expect_usage "or two names of it" "--out and --key-out name the same file" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=s --key-type p256 --key-out sub/../s.pem --out ./s.pem
[ ! -e s.pem ] || fail "a refused cert create wrote s.pem"
ok "(nothing written)"
expect_usage "--key-out beside --key (no key made to save)" "--key-out goes with --key-type" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=k --key ca.key --key-out never.key --out never.pem
expect_usage "--legacy beside --to pem" "--legacy goes with --to p12" -- \
    "$CERTHUB" convert ca.pem --to pem --legacy --out l.pem
expect_error "a CRL URL that is no URL (it was written into the certificate)" "\"not a url\" is not a URL a client can fetch" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=u --key-type p256 --key-out u.key --crl-url "not a url" --out u.pem
expect_error "an OCSP URL with a space" "is not a URL a client can fetch" -- \
    "$CERTHUB" cert create --profile root-ca --subject CN=u --key-type p256 --key-out u.key --ocsp-url "http://x y" --out u.pem
"$CERTHUB" cert create --profile root-ca --subject CN=u --key-type p256 --key-out u.key --crl-url http://crl.example/r.crl \
    --ocsp-url http://ocsp.example --out u.pem
check_contains "good ones, as openssl reads them" "$(openssl x509 -in u.pem -noout -text)" "URI:http://crl.example/r.crl"

done_testing
