#!/usr/bin/env bash
# certhubd --backup copies the store while certhubd runs and issues; the copy and the master
# key, put in a new data directory, start a certhubd that holds every certificate acknowledged
# before the backup began, with keys that still open.  Without the master key it refuses to
# start rather than make a new key that opens nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

start_daemon
TOKEN=$(cat "$data/admin-token")
expect_error "a second certhubd on the same data directory: refused, naming the first" "another certhubd (pid $pid) runs on $data" -- \
    "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$(free_port)"
issue() { # issue N: a certificate with a server key; its id on stdout
    api POST /api/v1/certificates "{\"subject\":{\"common_name\":\"backup-$1.example\"}}"
    [ "$status" = 201 ] || fail "issuing backup-$1: $status $(cat "$T/body")"
    body .id
}
for n in 1 2 3 4 5; do issue "$n" >> before.ids; done
# Issuing goes on while the copy is taken.
( for n in $(seq 100 160); do
      curl -s -o /dev/null --cacert "$data/ca.pem" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
          -d "{\"subject\":{\"common_name\":\"during-$n.example\"}}" "https://localhost:$port/api/v1/certificates" || break
  done ) &
writer=$!
expect_error "a backup into a directory that is not there: said so" "the directory $T/no-such-dir of $T/no-such-dir/snap.db is not there" -- \
    "$CERTHUBD" --data-dir "$data" --backup "$T/no-such-dir/snap.db"
"$CERTHUBD" --data-dir "$data" --backup "$T/snap.db" > backup.out 2>&1 || fail "--backup: $(cat backup.out)"
wait "$writer"
ok "a backup is taken while certhubd issues"
check_contains "it says to keep the master key apart" "$(cat backup.out)" "master.key and admin-token apart from it"
check_eq "the copy is readable by its owner alone" 600 "$(stat -c %a "$T/snap.db")"
expect_error "a backup does not replace a file" "exists: a backup goes to a new file" -- \
    "$CERTHUBD" --data-dir "$data" --backup "$T/snap.db"
# A backup that cannot be written whole (here a file size limit; a full disk alike) is said so
# and leaves nothing behind, which would refuse the next try as a file already there.
expect_error "a backup stopped half way: said" "the store cannot grow" -- \
    bash -c 'trap "" XFSZ; ulimit -f 16; exec "$0" --data-dir "$1" --backup "$2"' "$CERTHUBD" "$data" "$T/half.db"
check_eq "and nothing left of it" "" "$(ls "$T" | grep half)"
expect_error "a directory without a store" "no store in" -- "$CERTHUBD" --data-dir "$T/nothing" --backup "$T/x.db"
[ ! -e "$T/nothing" ] || fail "--backup made a data directory"
ok "and makes none"
stop_daemon

# A data directory that lost its store (a volume not mounted, a restore half done) is not a
# first start: no new root, and ca.pem and admin-token are left as they are.
sums=$(cat "$data/ca.pem" "$data/admin-token" | sha256sum)
mkdir "$T/away" && mv "$data"/certhub.db* "$T/away/"
expect_error "the store missing beside its master key: refused" "certhub.db is missing, but $data/master.key is there" -- \
    "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$(free_port)"
: > "$data/certhub.db"
expect_error "an empty store too" "certhub.db is empty, but" -- "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$(free_port)"
check_eq "ca.pem and admin-token untouched" "$sums" "$(cat "$data/ca.pem" "$data/admin-token" | sha256sum)"
rm "$data/certhub.db" && mv "$T/away"/certhub.db* "$data/"
# The temporary files of a write stopped half way (one of admin-token holds a token) are
# removed at the next start; others are left.
echo "cht_half_written" > "$data/admin-token.Ab12Cd"
echo keep > "$data/admin-token.notes"
start_daemon
check_eq "a half-written admin-token removed at start, another file left" "gone kept" \
    "$([ -e "$data/admin-token.Ab12Cd" ] && echo left || echo gone) $([ -e "$data/admin-token.notes" ] && echo kept || echo removed)"
stop_daemon
# A store certhubd could read and not write was opened, and each write failed (500).  (As root
# every file is writable: the copy is tried as nobody then.)
cp -a "$data" "$T/ro" && chmod 444 "$T/ro/certhub.db"
as_user=()
if [ "$(id -u)" = 0 ]; then
    chown -R nobody "$T/ro" && chmod 755 "$T"
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
expect_error "a store it cannot write: refused at start" "certhub.db is not writable by this user (Permission denied)" -- \
    "${as_user[@]}" "$CERTHUBD" --data-dir "$T/ro" --listen "127.0.0.1:$(free_port)"

# Restore into a new data directory: first without the master key.
old=$data
data="$T/restored"
mkdir -m 700 "$data"
cp "$T/snap.db" "$data/certhub.db"
expect_error "the store without its master key" "master.key is missing, and the store holds private keys" -- \
    "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$(free_port)"
[ ! -e "$data/master.key" ] || fail "a new master key was made for a store whose keys it cannot open"
ok "no new master key was made"
# Another installation's master key: said so at start, before anything is written there.
head -c 32 /dev/urandom > "$data/master.key" && chmod 600 "$data/master.key"
expect_error "another master key: refused at start, saying so" \
    "master.key is not the master key this store's private keys were sealed under" -- \
    "$CERTHUBD" --data-dir "$data" --listen "127.0.0.1:$(free_port)"
[ ! -e "$data/ca.pem" ] || fail "ca.pem was written by a start refused for its master key"
cp "$old/master.key" "$data/master.key"
start_daemon
missing=0
while read -r id; do
    api GET "/api/v1/certificates/$id"
    [ "$status" = 200 ] || missing=$((missing + 1))
done < before.ids
check_eq "every certificate from before the backup is there" 0 "$missing"
id=$(head -1 before.ids)
api POST "/api/v1/certificates/$id/private-key"
check_eq "its key still opens" 200 "$status"
cp "$T/body" key.pem
api GET "/api/v1/certificates/$id"
body .pem > cert.pem
check_eq "and belongs to its certificate" "$(openssl x509 -in cert.pem -noout -pubkey)" "$(openssl pkey -in key.pem -pubout)"
# A data directory others may enter (made by hand with mkdir's 0755, as a restore's may be):
# said at start, not changed.
stop_daemon
chmod 755 "$data"
start_daemon
check_contains "a data directory open to other users: said at start" "$(cat "$log")" \
    "certhubd: warning: other users may enter $data (mode 755): chmod 700 it"
check_eq "and left as it is" 755 "$(stat -c %a "$data")"
# A restore done under the running certhubd (the store's file moved away, the copy put in its
# place): it stops, saying why, rather than acknowledge writes that go to the file moved away
# while its new connections read the copy.
mkdir -p "$T/before-restore"
mv "$data"/certhub.db* "$T/before-restore/"
cp "$T/snap.db" "$data/certhub.db"
for i in $(seq 1 300); do alive "$pid" || break; sleep 0.1; done
check_eq "certhubd stops once its store's file is replaced" gone "$(alive "$pid" && echo running || echo gone)"
check_contains "saying why" "$(cat "$log")" "the store's file was replaced or moved while certhubd ran: stopping"
wait "$pid" 2>/dev/null || true
pid=""
