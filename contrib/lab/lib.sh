# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts sourcing this
# Shared settings and helpers for contrib/lab/{up,down,selftest-dns}. Sourced, not run.
#
# Everything the lab creates lives under one state directory:
#   $LAB_DIR/lock              flock(1) lock serialising up/down callers
#   $LAB_DIR/env               KEY=value lines for tests (LAB_DNS, anchor paths)
#   $LAB_DIR/anchors/          trust anchors for lab.test. (DS, DNSKEY, delv format)
#   $LAB_DIR/knot/knot.conf    generated Knot configuration
#   $LAB_DIR/knot/zones/       copies of contrib/lab/zones/*.zone (Knot reads these)
#   $LAB_DIR/knot/db/          Knot storage: KASP db (DNSSEC keys), timer db
#   $LAB_DIR/knot/run/         knotd.pid, control socket
#   $LAB_DIR/knot/knotd.log    Knot's log and its stdout/stderr

LAB_DIR="${MAILAUTH_LAB_DIR:-/tmp/mailauth-lab}"
LAB_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

LAB_DNS_IP=127.0.1.53
LAB_DNS_PORT=53
LAB_SIGNED_ZONE=lab.test
# Every zone the lab serves; each has contrib/lab/zones/<zone>.zone.
LAB_ZONES=(lab.test dnsbl.test dbl.test everything.test refusing.test outside.test)

KNOT_DIR="$LAB_DIR/knot"
KNOT_CONF="$KNOT_DIR/knot.conf"
KNOT_RUNDIR="$KNOT_DIR/run"
KNOT_PIDFILE="$KNOT_RUNDIR/knotd.pid"
KNOT_LOG="$KNOT_DIR/knotd.log"
ANCHOR_DIR="$LAB_DIR/anchors"
ANCHOR_DS="$ANCHOR_DIR/$LAB_SIGNED_ZONE.ds"
ANCHOR_DNSKEY="$ANCHOR_DIR/$LAB_SIGNED_ZONE.dnskey"
ANCHOR_DELV="$ANCHOR_DIR/$LAB_SIGNED_ZONE.delv.conf"
# Marker: up had to add $LAB_DNS_IP to lo, so down removes it again.
ADDR_MARKER="$LAB_DIR/added-lo-address"

# knotd, knotc and keymgr live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# Take the lab lock on fd 9 (held until the script exits). Every process started
# while it is held must get `9>&-`, or it keeps the lock after we exit.
lab_lock() {
    mkdir -p "$LAB_DIR"
    exec 9>>"$LAB_DIR/lock"
    flock -w 300 9 || lab_die "could not take $LAB_DIR/lock within 300 s"
}

# True if PID is a live process. A zombie counts as gone: `kill -0` succeeds on
# zombies, and PID 1 on these machines reaps late.
lab_pid_alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Print the PID of the knotd that up started (from the PID file), if it still
# runs. The process must be a knotd started with this lab's config, so a
# recycled PID never gets killed.
lab_knotd_pid() {
    local pid cmdline
    [[ -r $KNOT_PIDFILE ]] || return 1
    pid=$(tr -dc '0-9' <"$KNOT_PIDFILE")
    lab_pid_alive "$pid" || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *knotd* && $cmdline == *" $KNOT_CONF "* ]] || return 1
    printf '%s\n' "$pid"
}

# kdig against the lab server only; never the host resolver.
lab_kdig() {
    kdig @"$LAB_DNS_IP" -p "$LAB_DNS_PORT" +time=1 +retry=1 "$@"
}

# True once every zone answers its SOA and the signed zone is served signed.
lab_dns_ready() {
    local z
    for z in "${LAB_ZONES[@]}"; do
        [[ -n $(lab_kdig +short "$z." SOA 2>/dev/null) ]] || return 1
    done
    lab_kdig +dnssec +noall +answer "$LAB_SIGNED_ZONE." DNSKEY 2>/dev/null \
        | awk '$4 == "RRSIG" { found = 1 } END { exit !found }'
}

# The served DNSKEY RRset of ZONE in zone-file format, one record per line, key
# data joined into one token, KSKs (257) first: what hickory's
# TrustAnchors::from_file reads.
lab_dnskey_records() {
    lab_kdig +noall +answer "$1" DNSKEY 2>/dev/null | awk '
        $4 == "DNSKEY" {
            key = ""; for (i = 8; i <= NF; i++) key = key $i
            printf "%s %s %s DNSKEY %s %s %s %s\n", $1, $2, $3, $5, $6, $7, key
        }' | sort -k5,5r -k8
}

# Write stdin to FILE atomically (readers never see a half-written file).
lab_write_atomic() {
    local file=$1 tmp
    tmp=$(mktemp "$file.tmp.XXXXXX")
    cat >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$file"
}
