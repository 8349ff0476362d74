#!/usr/bin/env python3
"""A peer for `cargo bench -p audit-report`: the same counts by DuckDB's CSV reader and SQL.

Usage: duckdb_audit.py RESULT_FILE EXPECTED_MD5 --threads N [--md5] -> one JSON line (counts, seconds, peak RSS).
DuckDB reads the file as 7 VARCHAR columns without a header and counts succeeded, failed and failed by class with
the rule of audit_rule.py. With --md5, hashlib.md5 over the file's bytes comes first, in the same timing (DuckDB
does not hash what it reads; the Rust core does both in one pass).
"""
import argparse
import hashlib
import json
import resource
import sys
import time

import duckdb

import audit_rule


def md5_of(path):
    md5 = hashlib.md5()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            md5.update(view[:n])
    return md5.hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("expected_md5")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--md5", action="store_true")
    args = p.parse_args()
    con = duckdb.connect(config={"threads": args.threads})
    start = time.perf_counter()
    if args.md5:
        actual = md5_of(args.path)
        if actual != args.expected_md5:
            sys.exit(f"MD5 mismatch: {actual} != {args.expected_md5}")
    rows, succeeded, failed, *per_class = con.execute(
        audit_rule.COUNTS_SQL, [args.path, audit_rule.COLUMNS]
    ).fetchone()
    seconds = time.perf_counter() - start
    classes = dict(zip(audit_rule.CLASSES, per_class))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({**audit_rule.counts(rows, succeeded, failed, classes), "seconds": seconds,
                      "peak_rss_kib": peak, "version": f"DuckDB {duckdb.__version__}"}))


if __name__ == "__main__":
    main()
