#!/usr/bin/env python3
"""Minimal syslog sink for the lab: binds the datagram socket SOCKET (normally /dev/log),
appends every message to LOGFILE, writes its PID to PIDFILE. OpenDKIM, OpenDMARC and
policyd-spf log only to syslog, and these machines run no syslog daemon.

On SIGTERM/SIGINT it removes SOCKET (only if it still is the socket it bound) and the
PID file, then exits. Started and stopped by contrib/lab/parts/mail.

usage: syslog-sink.py SOCKET LOGFILE PIDFILE
"""
import os
import signal
import socket
import stat
import sys
import time


def main():
    path, logfile, pidfile = sys.argv[1:4]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            sys.exit("%s exists and is not a socket; not touching it" % path)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(path)
            sys.exit("%s is served by another syslog reader; not taking it over" % path)
        except OSError:
            os.unlink(path)  # stale socket: nobody reads it
        finally:
            probe.close()
    old = os.umask(0)
    sock.bind(path)
    os.umask(old)
    ino = os.stat(path).st_ino

    with open(pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(pidfile + ".tmp", pidfile)

    def stop(*_):
        try:
            if os.stat(path).st_ino == ino:
                os.unlink(path)
        except OSError:
            pass
        try:
            with open(pidfile) as f:
                if f.read().strip() == str(os.getpid()):
                    os.unlink(pidfile)
        except OSError:
            pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    out = open(logfile, "ab", buffering=0)
    while True:
        try:
            data = sock.recv(65536)
        except InterruptedError:
            continue
        # "<PRI>Mmm dd hh:mm:ss tag[pid]: message": keep everything after the priority.
        if data.startswith(b"<"):
            end = data.find(b">")
            if 0 < end < 5:
                data = data[end + 1:]
        out.write(time.strftime("%Y-%m-%dT%H:%M:%S ").encode() + data.rstrip(b"\0\n") + b"\n")


if __name__ == "__main__":
    main()
