#!/usr/bin/env python3
"""CPU time, in microseconds, spent so far by a server process and by PostgreSQL.

usage: bench/cpu.py SERVER_PID   (SERVER_PID 0: PostgreSQL only)
prints: "<server µs> <postgres µs>"

PostgreSQL's figure is every live postgres process (user + system time) plus what the
postmaster has reaped from backends that exited (their cutime + cstime), so connections
that closed during a round (pgbench's) still count. Take it before and after a round: the
difference divided by the requests answered is the CPU per request.
"""
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command may hold spaces and parentheses: fields start after the last ')'.
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    return comm, int(fields[1]), [int(fields[i]) for i in (11, 12, 13, 14)]


def main():
    server = int(sys.argv[1])
    server_ticks = 0
    postgres_ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm, ppid, (utime, stime, cutime, cstime) = stat(entry)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(entry) == server:
            server_ticks += utime + stime
        elif comm == "postgres":
            postgres_ticks += utime + stime
            if ppid == 1 or not os.path.exists(f"/proc/{ppid}") or stat(ppid)[0] != "postgres":
                postgres_ticks += cutime + cstime  # the postmaster: reaped backends
    print(server_ticks * 1_000_000 // TICK, postgres_ticks * 1_000_000 // TICK)


main()
