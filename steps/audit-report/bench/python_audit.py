#!/usr/bin/env python3
"""The comparison for `cargo bench -p audit-report`: the same audit as a plain Python csv loop.

Usage: python_audit.py RESULT_FILE EXPECTED_MD5 -> one JSON line (rows, failed, seconds, peak RSS).
It does what the Rust core does, in one pass: MD5 of every byte, csv parsing, the task status,
the HTTP status in whichever column it sits, the failure class, and a decoded sample key per class.
"""
import csv
import hashlib
import io
import json
import resource
import sys
import time
from urllib.parse import unquote_plus

OVERSIZE = "copy source is larger than the maximum allowable size"
TRANSIENT = {"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable", "Throttling"}


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


def classify(code, status, message):
    if code in ("", "InvalidRequest") and status in (None, 400) and OVERSIZE in message:
        return "oversize"
    if code in ("NoSuchKey", "NoSuchVersion") or (status == 404 and code != "NoSuchBucket"):
        return "source_missing"
    if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
        return "access_denied"
    if code in TRANSIENT or status == 429 or (status is not None and status >= 500):
        return "transient"
    return "other"


def main():
    path, expected = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    raw = HashingRaw(open(path, "rb", buffering=0))
    text = io.TextIOWrapper(io.BufferedReader(raw, 256 * 1024), encoding="utf-8", newline="")
    rows = succeeded = failed = 0
    classes = {}
    samples = {}
    for row in csv.reader(text):
        rows += 1
        if len(row) < 4:
            continue
        if row[3] == "succeeded":
            succeeded += 1
            continue
        failed += 1
        code, status = "", None
        for f in row[4:6]:
            if len(f) == 3 and f.isdigit():
                status = int(f)
            elif f:
                code = f
        cls = classify(code, status, row[6] if len(row) > 6 else "")
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
    print(json.dumps({"rows": rows, "failed": failed, "seconds": seconds,
                      "peak_rss_kib": peak, "classes": classes}))


if __name__ == "__main__":
    main()
