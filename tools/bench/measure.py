#!/usr/bin/python3
"""Runs one command and prints its wall time and peak resident memory as JSON.

usage: measure.py COMMAND [ARG...]
The peak RSS is the child's ru_maxrss (getrusage(RUSAGE_CHILDREN)), in bytes.
"""
import json
import resource
import subprocess
import sys
import time

start = time.monotonic()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "exit": proc.returncode,
    "wall_s": wall,
    "user_s": usage.ru_utime,
    "sys_s": usage.ru_stime,
    "max_rss_bytes": usage.ru_maxrss * 1024,
    "stdout": proc.stdout.decode(errors="replace")[-4000000:],
    "stderr_tail": proc.stderr.decode(errors="replace")[-2000:],
}))
