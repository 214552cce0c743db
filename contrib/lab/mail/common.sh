# shellcheck shell=bash disable=SC2034  # settings are used by the scripts sourcing this
# Settings and helpers shared by the mail side of the lab: contrib/lab/parts/{keys,mail,imap}
# and contrib/lab/selftest-mail. Sourced, not run. Helpers are prefixed `ml_` so they never
# collide with contrib/lab/lib.sh (which is sourced first, for LAB_DIR and friends).

# shellcheck source=../lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

LAB_DIR="${LAB_DIR:-${MAILAUTH_LAB_DIR:-/tmp/mailauth-lab}}"
ML_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"   # contrib/lab
PATH="$PATH:/usr/sbin:/sbin"
# Debian's python3 (stdlib only): a pyenv shim in PATH costs ~0.2 s per call.
ML_PY=${LAB_PYTHON:-/usr/bin/python3}
[[ -x $ML_PY ]] || ML_PY=python3

# --- addresses (PLAN.md) ---
ML_DNS_IP=127.0.1.53
ML_MX=127.0.1.25
ML_SUBMIT=127.0.1.26
ML_IMAP=127.0.1.143
ML_IMAP_DOWN=127.0.1.145
ML_NOTLS=127.0.1.31
ML_EXPIRED=127.0.1.33
ML_SOON=127.0.1.34
ML_WRONGNAME=127.0.1.35
ML_BADTLSA=127.0.1.36
ML_RELAY=127.0.1.37
ML_AUTHPLAIN=127.0.1.38
ML_LISTED=127.0.1.44

# --- state paths ---
ML_PKI="$LAB_DIR/pki"
ML_DKIM="$LAB_DIR/dkim"
ML_SECRETS="$LAB_DIR/secrets"
ML_RUN="$LAB_DIR/run"            # PID files of every daemon of these parts
ML_LOG="$LAB_DIR/log"            # log files
ML_MAIL="$LAB_DIR/mail"          # Postfix instances, milter configs
ML_IMAPD="$LAB_DIR/imap"         # Dovecot config, sockets, mailboxes
ML_RESOLV="$LAB_DIR/etc/resolv.conf"   # bind-mounted on /etc/resolv.conf in the daemons' namespace
ML_SYSLOG_SOCK=/dev/log
ML_SYSLOG_FILE="$ML_LOG/syslog.log"

# Dovecot sockets Postfix talks to (base_dir of the lab's Dovecot).
ML_DOVECOT_BASE="$ML_IMAPD/run"
ML_LMTP_SOCK="$ML_DOVECOT_BASE/lmtp-postfix"
ML_AUTH_SOCK="$ML_DOVECOT_BASE/auth-postfix"

# Mailbox users (PLAN.md) and the signing scenario domains.
ML_USERS=(seed1@lab.test seed2@lab.test reports@lab.test sender@lab.test)

ml_log() { printf 'lab %s: %s\n' "${ML_PART:-mail}" "$*" >&2; }
ml_die() { printf 'lab %s: error: %s\n' "${ML_PART:-mail}" "$*" >&2; exit 1; }

# Set KEY=VALUE in $LAB_DIR/env: drop earlier KEY= lines, append the new one (atomic).
ml_env_set() {
    local key=$1 val=$2 env="$LAB_DIR/env" tmp
    mkdir -p "$LAB_DIR"
    tmp=$(mktemp "$env.tmp.XXXXXX")
    { [[ -e $env ]] && grep -v "^$key=" "$env" || true; printf '%s=%q\n' "$key" "$val"; } >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$env"
}

# True if PID is a live (non-zombie) process.
ml_alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Print the PID in PIDFILE if that process lives and its command line contains every
# further argument (so a recycled PID is never taken for ours).
ml_pid_of() {
    local file=$1 pid cmd want
    shift
    [[ -r $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    ml_alive "$pid" || return 1
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    for want in "$@"; do [[ $cmd == *"$want"* ]] || return 1; done
    printf '%s\n' "$pid"
}

# Wait (up to TENTHS tenths of a second) until PID is gone.
ml_wait_gone() {
    local pid=$1 tenths=$2
    while ((tenths-- > 0)); do ml_alive "$pid" || return 0; sleep 0.1; done
    ! ml_alive "$pid"
}

# Send SIGTERM to the PIDs given (all at once), wait up to SECS for all, SIGKILL leftovers.
ml_terminate() {
    local secs=$1 pid left
    shift
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    local deadline=$((SECONDS + secs))
    while :; do
        left=()
        for pid in "$@"; do ml_alive "$pid" && left+=("$pid"); done
        ((${#left[@]})) || return 0
        ((SECONDS < deadline)) || break
        sleep 0.1
    done
    ml_log "SIGKILL to ${left[*]} (no exit ${secs}s after SIGTERM)"
    kill -KILL "${left[@]}" 2>/dev/null || true
    for pid in "${left[@]}"; do ml_wait_gone "$pid" 30 || true; done
}

# True if something listens on TCP IP:PORT (IPv6 in brackets: [::1]:25).
ml_listening() {
    ss -Hltn "src $1" 2>/dev/null | grep -q .
}

# Wait until each IP:PORT listens (up to SECS seconds in all).
ml_wait_listen() {
    local secs=$1 a deadline
    shift
    deadline=$((SECONDS + secs))
    for a in "$@"; do
        until ml_listening "$a"; do
            ((SECONDS < deadline)) || { ml_log "nothing listens on $a after ${secs}s"; return 1; }
            sleep 0.1
        done
    done
}

# Wait until a unix stream socket accepts connections.
ml_wait_unix() {
    local sock=$1 secs=$2 deadline=$((SECONDS + $2))
    until "$ML_PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$sock" 2>/dev/null; do
        ((SECONDS < deadline)) || { ml_log "socket $sock not accepting after ${secs}s"; return 1; }
        sleep 0.1
    done
}

# Run a command in a private mount namespace whose /etc/resolv.conf names only the lab DNS,
# so libc (and dnspython, libresolv) never reach the machine's resolver. Daemons started
# this way keep the namespace for their lifetime; the host's /etc/resolv.conf is untouched.
ml_write_resolv() {
    local want
    want=$(printf '# mailauth lab: daemons resolve through the lab DNS only\nnameserver %s\noptions timeout:1 attempts:2' "$ML_DNS_IP")
    mkdir -p "${ML_RESOLV%/*}"
    # Rewrite only when different: running daemons hold the bind-mounted inode.
    [[ -f $ML_RESOLV && $(cat "$ML_RESOLV") == "$want" ]] || printf '%s\n' "$want" | lab_write_atomic "$ML_RESOLV"
}
ml_in_ns() {
    [[ -s $ML_RESOLV ]] || ml_write_resolv
    unshare --mount --propagation private -- /bin/sh -c \
        'mount --bind "$0" /etc/resolv.conf || exit 97; exec "$@"' "$ML_RESOLV" "$@"
}

# Render TEMPLATE to stdout, replacing @NAME@ with the value of shell variable NAME.
ml_render() {
    "$ML_PY" - "$1" <<'EOF'
import os, re, sys
text = open(sys.argv[1]).read()
def sub(m):
    v = os.environ.get(m.group(1))
    if v is None:
        sys.exit("render %s: @%s@ is not set" % (sys.argv[1], m.group(1)))
    return v
sys.stdout.write(re.sub(r"@([A-Z][A-Z0-9_]*)@", sub, text))
EOF
}

# Take the lab lock when run by hand (contrib/lab/up and down already hold it).
ml_lock() {
    if declare -F lab_lock_unless_held >/dev/null; then lab_lock_unless_held; fi
}
