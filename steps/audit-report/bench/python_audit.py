#!/usr/bin/env python3
"""A peer for `cargo bench -p audit-report`: the same audit as a plain Python csv loop, MD5 included.

Usage: python_audit.py RESULT_FILE EXPECTED_MD5 -> one JSON line (counts, seconds, peak RSS).
It does what the Rust core does, in one pass: MD5 of every byte, csv parsing, the task status, the HTTP status
in whichever column it sits, the failure class (audit_rule.py) and a decoded sample key per class.
"""
import csv
import hashlib
import io
import json
import platform
import resource
import sys
import time
from urllib.parse import unquote_plus

import audit_rule


class HashingRaw(io.RawIOBase):
    """A raw reader that hashes what passes through it."""

    def __init__(self, f):
        self.f = f
        self.md5 = hashlib.md5()

    def readable(self):
        return True

    def readinto(self, b):
        n = self.f.readinto(b)
        if n:
            self.md5.update(memoryview(b)[:n])
        return n


def main():
    path, expected = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    raw = HashingRaw(open(path, "rb", buffering=0))
    text = io.TextIOWrapper(io.BufferedReader(raw, 256 * 1024), encoding="utf-8", newline="")
    rows = succeeded = failed = 0
    classes = {}
    samples = {}
    for row in csv.reader(text):
        if not row:
            continue  # a blank line is no row (the Rust csv reader skips it too)
        rows += 1
        status = row[3].strip(audit_rule.WS).lower() if len(row) > 3 else ""
        if status == "succeeded":
            succeeded += 1
            continue
        if status != "failed":
            continue  # unparsed
        failed += 1
        code, http = audit_rule.code_and_status(row[4:6])
        cls = audit_rule.classify(code, http, row[6] if len(row) > 6 else "")
        classes[cls] = classes.get(cls, 0) + 1
        s = samples.setdefault(cls, [])
        if len(s) < 10:
            s.append(unquote_plus(row[1]))
    text.read()  # to EOF, so the MD5 covers every byte
    actual = raw.md5.hexdigest()
    seconds = time.perf_counter() - start
    if actual != expected:
        sys.exit(f"MD5 mismatch: {actual} != {expected}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({**audit_rule.counts(rows, succeeded, failed, classes), "seconds": seconds,
                      "peak_rss_kib": peak, "version": f"Python {platform.python_version()}"}))


if __name__ == "__main__":
    main()
