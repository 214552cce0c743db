# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts sourcing this
# Shared settings and helpers of the loopback lab. Sourced (never run) by contrib/lab/{up,down},
# every contrib/lab/parts/<part> and every contrib/lab/selftest-<part>.
#
# Contract (see PLAN.md): `up` takes the lock and runs `parts/<p> up` for keys dns resolver web
# mail imap faults; `down` runs `parts/<p> down` in reverse. Parts do not take the lock (up/down hold it
# on fd 9); a part run by hand may call lab_lock_unless_held. Every process a part starts must
# get `9>&-` (lab_daemon_start does it), or it keeps the lock after up exits.
#
# Settings
#   LAB_DIR            state dir: ${MAILAUTH_LAB_DIR:-/tmp/mailauth-lab}
#   LAB_SRC            contrib/lab (absolute)
#   LAB_RUN            $LAB_DIR/run: PID files of every part, markers (added addresses)
#   LAB_LOG_DIR        $LAB_DIR/log: logs (stdout+stderr) of the daemons parts start
#   LAB_ENV_FILE       $LAB_DIR/env: KEY=value lines for tests; up rewrites it, parts append
#   LAB_PARTS          the parts in start order
#   LAB_PYTHON         /usr/bin/python3 (Debian's, not a pyenv shim): runs contrib/lab/bin/*
#
# Helpers (all return non-zero or exit via lab_die on failure, as documented)
#   lab_log MSG...                 message to stderr, prefixed "lab: "
#   lab_die MSG...                 lab_log "error: MSG" and exit 1
#   lab_lock                       take $LAB_DIR/lock on fd 9 (up/down do; waits up to 300 s)
#   lab_lock_unless_held           lab_lock unless LAB_LOCK_HELD=1 (up/down export it)
#   lab_env_set KEY VALUE          set KEY=VALUE in $LAB_DIR/env (replaces an earlier KEY line;
#                                  VALUE is written as-is: no spaces or quotes, please)
#   lab_need_file PATH PART        die "missing PATH (made by part PART)" unless PATH is non-empty
#   lab_pid_alive PID              true if PID runs (a zombie counts as gone)
#   lab_pidfile_pid PIDFILE [PAT]  print the PID in PIDFILE if it runs and its command line
#                                  contains PAT (guards against recycled PIDs); else return 1
#   lab_daemon_start NAME PIDFILE LOG PAT -- CMD [ARGS...]
#                                  start CMD (which must stay in the foreground) in its own
#                                  session: stdin /dev/null, stdout+stderr appended to LOG,
#                                  lock fd closed; writes PIDFILE. If PIDFILE already names a
#                                  live process matching PAT, does nothing (prints "already
#                                  running"). Fails if CMD exits within 0.3 s (shows LOG's tail).
#   lab_daemon_stop NAME PIDFILE [PAT] [TIMEOUT]
#                                  SIGTERM the process of PIDFILE (only if it matches PAT),
#                                  wait up to TIMEOUT s (default 10), then SIGKILL; remove
#                                  PIDFILE; wait (bounded) until PID 1 has reaped it. Prints
#                                  "stopped NAME pid N" or "NAME not running"; never fails for
#                                  a process that is already gone. Works for self-daemonising
#                                  programs too (knotd -d, postfix, dovecot) given their PIDFILE.
#   lab_listening tcp|udp IP PORT  true if a socket listens on IP:PORT (ss; IPv6 as ::1)
#   lab_wait_port tcp|udp IP PORT [TIMEOUT]
#                                  wait (default 10 s) until something listens on IP:PORT
#   lab_port_free tcp|udp IP PORT  die if something already listens on IP:PORT
#   lab_addr_add IP                make sure IP (v4 /32 or v6 /128) is assigned to lo (Postfix's
#                                  inet_interfaces needs that; 127/8 is routable without it).
#                                  Adds it only if missing and records that in $LAB_RUN/addr/
#   lab_addr_del IP                remove IP from lo only if lab_addr_add added it
#   lab_write_atomic FILE          write stdin to FILE atomically (mode 0644)
#   lab_apt_install PKG...         install the Debian packages among PKG that are missing (root;
#                                  no daemon starts: policy-rc.d must exit 101; log in
#                                  $LAB_DIR/apt.log). contrib/install-deps installs them all up front.
#   lab_resolv_nameservers         the `nameserver` addresses of /etc/resolv.conf, one a line
#                                  (glibc's default 127.0.0.1 and ::1 if it names none)
#   lab_leak_count_chain 4|6 CHAIN packets counted so far by an iptables chain (empty if none)
#   lab_leak_count_family 4|6      packets counted so far by the leak chain (empty if none),
#                                  plus (IPv4) Unbound's packets leaving loopback
#   lab_knotd_pid                  PID of ns1's knotd if it runs (from its PID file)
#   lab_dns_ready                  true once ns1 answers every zone and serves lab.test. signed
#   lab_dnskey_records ZONE        the served DNSKEY RRset of ZONE, one record a line
#   lab_kdig ARGS...               kdig @ns1 (127.0.1.53) with short timeouts; never the host resolver
#   lab_zone_file ZONE             the file name of ZONE's zone file ("root.zone" for ".")
#
# State dir layout (README.md has all of it):
#   $LAB_DIR/run/              every PID file (dns-ns1.pid, web-mta-sts.pid, ...), addr/ markers
#   $LAB_DIR/log/              daemons' output
#   $LAB_DIR/anchors/          trust anchors for lab.test. (DS, DNSKEY, delv format)
#   $LAB_DIR/knot/             ns1: knot.conf, zones/ (rendered), db/ (DNSSEC keys), run/, knotd.log
#   $LAB_DIR/knot2/            ns2 (secondary of ns1 for lab.test. and flaky.test.)
#   $LAB_DIR/knot3/            nsfail (flaky.test. configured but never loadable: SERVFAIL)
#   $LAB_DIR/presigned/        keys and signed files of lapsed.net. and offline.net.
#   $LAB_DIR/unbound/          the resolver: unbound.conf, root.hints, control socket, log

LAB_DIR="${MAILAUTH_LAB_DIR:-/tmp/mailauth-lab}"
LAB_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_RUN="$LAB_DIR/run"
LAB_LOG_DIR="$LAB_DIR/log"
LAB_ENV_FILE="$LAB_DIR/env"
LAB_PARTS=(keys dns resolver web mail imap faults)

# Files of the keys part (PLAN.md).
LAB_PKI="$LAB_DIR/pki"
LAB_DKIM="$LAB_DIR/dkim"
LAB_SECRETS="$LAB_DIR/secrets"

# Addresses (PLAN.md).
LAB_DNS_IP=127.0.1.53        # ns1
LAB_DNS2_IP=127.0.2.53       # ns2
LAB_DNS_FAIL_IP=127.0.3.53   # nsfail
LAB_DNS_SILENT_IP=127.0.4.53 # nssilent
LAB_DNS_V6FAIL_IP=127.0.5.53 # ns.v6.v6fail.net: answers A, SERVFAIL for AAAA (part faults)
LAB_RESOLVER_IP=127.0.1.54   # Unbound: the lab's validating recursive resolver (part resolver)
LAB_STS_DOWN_IP=127.0.1.81   # mta-sts.stsdown.net: nothing listens (connection refused)
LAB_DNS_PORT=53
LAB_MX_IP=127.0.1.25
LAB_SUBMIT_IP=127.0.1.26
LAB_IMAP_IP=127.0.1.143
LAB_OAUTH2_IP=127.0.1.146    # OAuth2 token endpoint for Dovecot (part imap), plain HTTP
LAB_OAUTH2_PORT=8080
LAB_MTA_STS_IP=127.0.1.80
LAB_STRIP_IP=127.0.1.32

# iptables chain (IPv4, and IPv6 if resolv.conf names an IPv6 server) counting packets to the
# host's resolvers: made by part faults, read by contrib/lab/resolver-leaks.
LAB_LEAK_CHAIN=MAILAUTH_LAB_LEAKS
# iptables chain (IPv4) counting packets Unbound (user unbound) sends outside 127.0.0.0/8: made
# by part resolver before Unbound starts; contrib/lab/resolver-leaks adds it to the count.
LAB_UNBOUND_CHAIN=MAILAUTH_LAB_UNBOUND_OUT

LAB_SIGNED_ZONE=lab.test
# Every zone ns1 serves; each has contrib/lab/zones/<zone>.zone or <zone>.zone.in (a template);
# the root zone "." is contrib/lab/zones/root.zone.in. Parents come before their children.
LAB_ZONES=(. test net uk co.uk arpa
    lab.test flaky.test 1.0.127.in-addr.arpa
    1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa
    dnsbl.test dbl.test everything.test refusing.test outside.test
    example.co.uk charity.org.uk v6fail.net stsdown.net lame.net lapsed.net island.offline.net)
# Zones Knot signs itself (ECDSA P-256, keys made with keymgr before the first load, so the
# parents' DS records are known when the zone files are rendered).
LAB_SIGNED_ZONES=(. test net uk co.uk lab.test example.co.uk island.offline.net)
# Zones signed once by dnssec-signzone with a validity that ended in the past (served as they
# are: lapsed signatures), and zones whose keys exist but that no reachable server serves.
LAB_LAPSED_ZONES=(lapsed.net)
LAB_UNSERVED_SIGNED_ZONES=(offline.net)
# Zones ns2 serves (secondary of ns1, by zone transfer).
LAB_ZONES2=(lab.test flaky.test)

# The three Knot instances: ns1 (primary), ns2 (secondary), nsfail (SERVFAIL for flaky.test.).
KNOT_DIR="$LAB_DIR/knot"            # ns1
KNOT_CONF="$KNOT_DIR/knot.conf"
KNOT_PIDFILE="$LAB_RUN/dns-ns1.pid"
KNOT_LOG="$KNOT_DIR/knotd.log"
KNOT2_DIR="$LAB_DIR/knot2"          # ns2
KNOT2_CONF="$KNOT2_DIR/knot.conf"
KNOT2_PIDFILE="$LAB_RUN/dns-ns2.pid"
KNOT3_DIR="$LAB_DIR/knot3"          # nsfail
KNOT3_CONF="$KNOT3_DIR/knot.conf"
KNOT3_PIDFILE="$LAB_RUN/dns-nsfail.pid"
ANCHOR_DIR="$LAB_DIR/anchors"
# The lab root's trust anchor (what the lab's resolvers and probes start from, as the real
# root's key is in production): DS, DNSKEY and delv forms.
ANCHOR_ROOT_DS="$ANCHOR_DIR/root.ds"
ANCHOR_ROOT_DNSKEY="$ANCHOR_DIR/root.dnskey"
ANCHOR_ROOT_DELV="$ANCHOR_DIR/root.delv.conf"
# Keys of the zones of LAB_LAPSED_ZONES and LAB_UNSERVED_SIGNED_ZONES (dnssec-keygen; kept).
PRESIGNED_DIR="$LAB_DIR/presigned"
# Unbound (part resolver).
UNBOUND_DIR="$LAB_DIR/unbound"
UNBOUND_CONF="$UNBOUND_DIR/unbound.conf"
UNBOUND_PIDFILE="$LAB_RUN/resolver-unbound.pid"
ANCHOR_DS="$ANCHOR_DIR/$LAB_SIGNED_ZONE.ds"
ANCHOR_DNSKEY="$ANCHOR_DIR/$LAB_SIGNED_ZONE.dnskey"
ANCHOR_DELV="$ANCHOR_DIR/$LAB_SIGNED_ZONE.delv.conf"

# Debian's Python 3 (stdlib only) for the lab's helpers in contrib/lab/bin/; not a pyenv shim.
LAB_PYTHON=/usr/bin/python3

# knotd, knotc, keymgr, ip, ss, iptables live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# Take the lab lock on fd 9 (held until the script exits). Every process started
# while it is held must get `9>&-`, or it keeps the lock after we exit.
lab_lock() {
    mkdir -p "$LAB_DIR"
    exec 9>>"$LAB_DIR/lock"
    flock -w 300 9 || lab_die "could not take $LAB_DIR/lock within 300 s"
    export LAB_LOCK_HELD=1
}
lab_lock_unless_held() {
    [[ ${LAB_LOCK_HELD:-} == 1 ]] || lab_lock
}

lab_env_set() {
    local key=$1 value=$2
    [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] || lab_die "lab_env_set: bad key '$key'"
    mkdir -p "$LAB_DIR"
    touch "$LAB_ENV_FILE"
    { grep -v "^$key=" "$LAB_ENV_FILE" || true; printf '%s=%s\n' "$key" "$value"; } \
        | lab_write_atomic "$LAB_ENV_FILE"
}

lab_need_file() {
    [[ -s $1 ]] || lab_die "missing $1 (made by part '$2': run contrib/lab/up, or check contrib/lab/parts/$2)"
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

lab_pidfile_pid() {
    local pidfile=$1 pat=${2:-} pid cmdline
    [[ -r $pidfile ]] || return 1
    pid=$(head -n1 "$pidfile" | tr -dc '0-9')
    lab_pid_alive "$pid" || return 1
    if [[ -n $pat ]]; then
        cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
        [[ $cmdline == *"$pat"* ]] || return 1
    fi
    printf '%s\n' "$pid"
}

lab_daemon_start() {
    local name=$1 pidfile=$2 log=$3 pat=$4 pid
    shift 4
    [[ ${1:-} == -- ]] && shift
    (($# > 0)) || lab_die "lab_daemon_start $name: no command"
    if pid=$(lab_pidfile_pid "$pidfile" "$pat"); then
        echo "$name already running (pid $pid)"
        return 0
    fi
    mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")"
    printf -- '--- %s: lab starting %s: %s\n' "$(date -u +%FT%TZ)" "$name" "$*" >>"$log"
    # setsid: own session, so no terminal signal reaches it. Run from a script (no job
    # control) the background job is not a group leader, so setsid execs without forking
    # and $! is the daemon's PID.
    setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$pidfile"
    sleep 0.3
    if ! lab_pid_alive "$pid"; then
        rm -f "$pidfile"
        tail -n 15 "$log" >&2
        lab_log "$name exited at once (log: $log)"
        return 1
    fi
    echo "started $name (pid $pid, log $log)"
}

lab_daemon_stop() {
    local name=$1 pidfile=$2 pat=${3:-} timeout=${4:-10} pid tenths
    if ! pid=$(lab_pidfile_pid "$pidfile" "$pat"); then
        rm -f "$pidfile"
        echo "$name not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((tenths = timeout * 10; tenths > 0; tenths--)); do
        lab_pid_alive "$pid" || break
        sleep 0.1
    done
    if lab_pid_alive "$pid"; then
        lab_log "$name pid $pid ignored SIGTERM for $timeout s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((tenths = 50; tenths > 0; tenths--)); do lab_pid_alive "$pid" || break; sleep 0.1; done
    fi
    lab_pid_alive "$pid" && { lab_log "$name pid $pid survived SIGKILL"; return 1; }
    rm -f "$pidfile"
    # An exited daemon reparented to PID 1 stays a zombie (no sockets) until PID 1
    # reaps it, up to ~2 s here: wait for that, boundedly, so pgrep is clean after down.
    for ((tenths = 50; tenths > 0; tenths--)); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
    echo "stopped $name pid $pid"
}

# ss prints IPv6 sockets as [::1]:25.
lab__sockaddr() { if [[ $1 == *:* ]]; then printf '[%s]:%s' "$1" "$2"; else printf '%s:%s' "$1" "$2"; fi; }
lab_listening() {
    local proto=$1 want
    want=$(lab__sockaddr "$2" "$3")
    case $proto in
        tcp) ss -Hltn "sport = :$3" 2>/dev/null ;;
        udp) ss -Hlun "sport = :$3" 2>/dev/null ;;
        *) lab_die "lab_listening: tcp or udp, not '$proto'" ;;
    esac | awk -v w="$want" '$4 == w || $5 == w { f = 1 } END { exit !f }'
}
lab_wait_port() {
    local proto=$1 ip=$2 port=$3 timeout=${4:-10} tenths
    for ((tenths = timeout * 10; tenths > 0; tenths--)); do
        lab_listening "$proto" "$ip" "$port" && return 0
        sleep 0.1
    done
    lab_listening "$proto" "$ip" "$port"
}
lab_port_free() {
    lab_listening "$@" || return 0
    { ss -Hlnp"${1:0:1}" "sport = :$3" 2>/dev/null || true; } >&2
    lab_die "something else already listens on $1 $(lab__sockaddr "$2" "$3") (above); not started by this lab"
}

lab_addr_add() {
    local ip=$1 plen=32 fam=-4 marker
    [[ $ip == *:* ]] && { plen=128; fam=-6; }
    marker="$LAB_RUN/addr/$ip"
    ip "$fam" -o addr show dev lo | awk -v a="$ip/$plen" '$4 == a { f = 1 } END { exit !f }' && return 0
    [[ $(id -u) == 0 ]] || lab_die "$ip is not on lo; as root: ip addr add $ip/$plen dev lo"
    ip "$fam" addr add "$ip/$plen" dev lo || lab_die "ip addr add $ip/$plen dev lo failed"
    mkdir -p "$LAB_RUN/addr"
    : >"$marker"
}
lab_addr_del() {
    local ip=$1 plen=32 fam=-4
    [[ $ip == *:* ]] && { plen=128; fam=-6; }
    [[ -e $LAB_RUN/addr/$ip ]] || return 0
    ip "$fam" addr del "$ip/$plen" dev lo 2>/dev/null || true
    rm -f "$LAB_RUN/addr/$ip"
}

# Write stdin to FILE atomically (readers never see a half-written file).
lab_write_atomic() {
    local file=$1 tmp
    tmp=$(mktemp "$file.tmp.XXXXXX")
    cat >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$file"
}

lab_apt_install() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || lab_die "missing packages ${missing[*]}; as root: contrib/install-deps"
    local apt_log="$LAB_DIR/apt.log" made_policy=0 rc=0
    lab_log "installing ${missing[*]} (log: $apt_log)"
    # Packages must not start their daemons (they would listen on 0.0.0.0). These machines
    # ship a policy-rc.d that exits 101; if it is missing, put one in place for the install.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    {
        export DEBIAN_FRONTEND=noninteractive
        lab__apt() { apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=120 "${missing[@]}" 9>&- </dev/null; }
        # Only refresh the package lists when the install cannot proceed without it.
        lab__apt || { apt-get update -o DPkg::Lock::Timeout=120 9>&- </dev/null && lab__apt; }
    } >>"$apt_log" 2>&1 || rc=$?
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || { tail -n 20 "$apt_log" >&2; lab_die "apt-get install ${missing[*]} failed"; }
}

lab_resolv_nameservers() {
    local out
    out=$(awk '$1 == "nameserver" && NF >= 2 { sub(/%.*/, "", $2); if (!seen[$2]++) print $2 }' \
        /etc/resolv.conf 2>/dev/null || true)
    [[ -n $out ]] || out=$'127.0.0.1\n::1'
    printf '%s\n' "$out"
}

lab_leak_count_chain() { # FAMILY CHAIN
    local cmd=iptables
    [[ $1 == 6 ]] && cmd=ip6tables
    command -v "$cmd" >/dev/null 2>&1 || return 0
    { "$cmd" -w 10 -n -v -x -L "$2" 2>/dev/null || true; } \
        | awk 'NR > 2 && $1 ~ /^[0-9]+$/ { n += $1; f = 1 } END { if (f) print n + 0 }'
}
lab_leak_count_family() {
    local n u
    n=$(lab_leak_count_chain "$1" "$LAB_LEAK_CHAIN")
    [[ -n $n && $1 == 4 ]] || { printf '%s' "$n${n:+$'\n'}"; return 0; }
    u=$(lab_leak_count_chain 4 "$LAB_UNBOUND_CHAIN")
    echo $((n + ${u:-0}))
}

# kdig against a lab server only (ns1 unless LAB_KDIG_SERVER is set); never the host resolver.
lab_kdig() {
    kdig @"${LAB_KDIG_SERVER:-$LAB_DNS_IP}" -p "$LAB_DNS_PORT" +time=1 +retry=1 "$@"
}

lab_zone_file() { if [[ $1 == . ]]; then echo root.zone; else echo "${1%.}.zone"; fi; }

# PID of ns1's knotd (from its PID file) if it runs with this lab's config.
lab_knotd_pid() { lab_pidfile_pid "$KNOT_PIDFILE" " $KNOT_CONF "; }
# True once every zone answers its SOA on ns1 and the signed zone is served signed.
lab_dns_ready() {
    local z
    for z in "${LAB_ZONES[@]}"; do
        [[ -n $(lab_kdig +short "${z%.}." SOA 2>/dev/null) ]] || return 1
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
