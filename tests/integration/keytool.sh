# keytool as the keystore tests read it (bash; source after lib.sh).
command -v keytool >/dev/null || fail "keytool is missing (scripts/deps.sh installs it)"
# keytool's output in UTF-8 whatever the locale (an alias in any script), its warnings (JKS is
# "proprietary") on stderr, dropped.
kt() { keytool -J-Dsun.stdout.encoding=UTF-8 -J-Dstdout.encoding=UTF-8 "$@" 2>/dev/null; }
# kt_entries STORE PASSWORD [keytool options]: "alias,EntryType" of each entry, sorted
kt_entries() {
    local store=$1 pass=$2
    shift 2
    kt -list -keystore "$store" -storepass "$pass" "$@" | grep -E 'PrivateKeyEntry|trustedCertEntry' |
        sed -E 's/^(.*), [A-Z][a-z]{2} [0-9]+, [0-9]{4}, ([A-Za-z]+Entry),.*/\1,\2/' | sort | paste -sd' '
}
