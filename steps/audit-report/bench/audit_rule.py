#!/usr/bin/env python3
"""The failure rule of steps/audit-report/src/core.rs (`Tally::row` and `classify`), for the benchmark's peers.

One copy for both peers: `python_audit.py` calls `classify`, `duckdb_audit.py` runs `COUNTS_SQL`. The benchmark
checks this copy against the Rust core twice: `python audit_rule.py` prints the code lists and the benchmark
classifies each one with the Rust `classify` (so a list here cannot name a code that Rust puts elsewhere), and
every peer's counts must equal the Rust core's on the generated file, class by class.
"""
import json

# ASCII whitespace as Rust's `trim_ascii` strips it (no vertical tab).
WS = " \t\n\x0c\r"
# The only signal AWS gives for a copy source over 5 GiB (compared ignoring ASCII case).
OVERSIZE_TEXT = "copy source is larger than the maximum allowable size"
SOURCE_MISSING_CODES = ("NoSuchKey", "NoSuchVersion")
ACCESS_DENIED_CODES = ("AccessDenied", "AccessDeniedException", "AllAccessDisabled", "Forbidden")
# kit::error::is_transient_code (the AWS SDK's throttling and transient lists plus kit's extra codes), then the
# codes `classify` adds itself.
TRANSIENT_CODES = (
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "PriorRequestNotComplete", "EC2ThrottledException",
    "RequestTimeout", "RequestTimeoutException",
    "InternalError", "InternalFailure", "ServiceUnavailable", "TooManyRequests", "OperationAborted", "Throttled",
    "RequestTimeTooSkewed",
)
# In report order, as FailureClass::as_str names them.
CLASSES = ("oversize", "source_missing", "access_denied", "transient", "other")


def is_status(field):
    """A 3-digit ASCII number is the HTTP status, whichever column it is in."""
    return len(field) == 3 and field.isascii() and field.isdigit()


def code_and_status(fields):
    """Code and HTTP status from the two columns after the task status (the later column wins, as in Rust)."""
    code, status = "", None
    for f in fields:
        f = f.strip(WS)
        if is_status(f):
            status = int(f)
        elif f:
            code = f
    return code, status


def classify(code, status, message):
    """core::classify: code and status first, the message only for the 5 GiB copy-source limit."""
    if code in ("", "InvalidRequest") and status in (None, 400) and OVERSIZE_TEXT in message.lower():
        return "oversize"
    if code in SOURCE_MISSING_CODES or (status == 404 and code != "NoSuchBucket"):
        return "source_missing"
    if code in ACCESS_DENIED_CODES or status == 403:
        return "access_denied"
    if code in TRANSIENT_CODES or status == 429 or (status is not None and status >= 500):
        return "transient"
    return "other"


def _sql_list(codes):
    assert all(c.isalnum() for c in codes), codes  # safe to inline as SQL literals
    return ", ".join(f"'{c}'" for c in codes)


_SQL_WS = " || ".join(f"chr({ord(c)})" for c in WS)
_SQL_IS_STATUS = "regexp_full_match({f}, '[0-9]{{3}}')"

# The same rule over `read_csv(?, columns=?)` (7 VARCHAR columns c0..c6; parameters: the path, COLUMNS).
# Short rows are padded with NULLs (null_padding), extra columns ignored (strict_mode=false), blank lines skipped:
# what the Rust core's flexible reader does. DuckDB's parallel reader refuses null_padding with a newline inside a
# quoted field (it fails, it does not miscount); Batch Operations URL-encodes keys, and the generated file has none.
COUNTS_SQL = f"""
WITH raw AS (
    SELECT lower(trim(coalesce(c3, ''), {_SQL_WS})) AS status,
           trim(coalesce(c4, ''), {_SQL_WS}) AS f4,
           trim(coalesce(c5, ''), {_SQL_WS}) AS f5,
           coalesce(c6, '') AS message
    FROM read_csv(?, header = false, delim = ',', quote = '"', escape = '"', columns = ?,
                  auto_detect = false, null_padding = true, strict_mode = false)
), fields AS (
    SELECT status, message,
           CASE WHEN {_SQL_IS_STATUS.format(f="f5")} THEN f5::INTEGER
                WHEN {_SQL_IS_STATUS.format(f="f4")} THEN f4::INTEGER END AS http,
           CASE WHEN f5 <> '' AND NOT {_SQL_IS_STATUS.format(f="f5")} THEN f5
                WHEN f4 <> '' AND NOT {_SQL_IS_STATUS.format(f="f4")} THEN f4
                ELSE '' END AS code
    FROM raw
), classified AS (
    SELECT status,
           CASE WHEN status <> 'failed' THEN NULL
                WHEN code IN ('', 'InvalidRequest') AND (http IS NULL OR http = 400)
                     AND contains(lower(message), '{OVERSIZE_TEXT}') THEN 'oversize'
                WHEN code IN ({_sql_list(SOURCE_MISSING_CODES)}) OR (http = 404 AND code <> 'NoSuchBucket')
                     THEN 'source_missing'
                WHEN code IN ({_sql_list(ACCESS_DENIED_CODES)}) OR http = 403 THEN 'access_denied'
                WHEN code IN ({_sql_list(TRANSIENT_CODES)}) OR http = 429 OR http >= 500 THEN 'transient'
                ELSE 'other' END AS class
    FROM fields
)
SELECT count(*),
       count(*) FILTER (WHERE status = 'succeeded'),
       count(*) FILTER (WHERE status = 'failed'),
       {", ".join(f"count(*) FILTER (WHERE class = '{c}')" for c in CLASSES)}
FROM classified
"""
COLUMNS = {f"c{i}": "VARCHAR" for i in range(7)}


def counts(rows, succeeded, failed, classes):
    """The JSON fields every engine reports, for the benchmark's cross-check."""
    return {
        "rows": rows,
        "succeeded": succeeded,
        "failed": failed,
        "unparsed": rows - succeeded - failed,
        "classes": {c: classes.get(c, 0) for c in CLASSES},
    }


if __name__ == "__main__":
    print(json.dumps({
        "source_missing": SOURCE_MISSING_CODES,
        "access_denied": ACCESS_DENIED_CODES,
        "transient": TRANSIENT_CODES,
    }))
