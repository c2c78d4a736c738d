#!/usr/bin/env python3
"""Runs a command and prints `wall_seconds max_rss_kib exit_code` (from wait4)."""
import os, subprocess, sys, time

start = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
print(f"{time.monotonic() - start:.3f} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
