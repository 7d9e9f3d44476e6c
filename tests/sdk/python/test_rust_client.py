"""Cross-check of the Rust client (crates/client) with the official Python SDK.

(a) `crosscheck write` writes a fixed set of rows through the Rust client; the Python
    SDK reads them back and must see exactly that set (every value type, every
    version, exact timestamps).
(b) The Python SDK writes rows; `crosscheck dump` must print exactly those rows, in
    the order the Python SDK's own GetRange returns them.

The binary is crates/client/examples/crosscheck.rs, built by
`cargo test --release --workspace`; it is found through TABLESAFE_CROSSCHECK_BIN
(default ~/.cache/tablesafe/target/release/examples/crosscheck). A missing binary
fails these tests: they must not pass by being skipped.

Canonical row form (shared with crosscheck.rs): {"pk": [[name, type, value], ...],
"cols": [[name, type, value, ts], ...]} with columns by name then newest first;
BINARY as lowercase hex, DOUBLE as the hex of its big-endian IEEE-754 bits.
"""

import json
import os
import struct
import subprocess

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    CapacityUnit,
    Condition,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableMeta,
    TableOptions,
)

from sdk_helpers import now_ms, unique_name

DEFAULT_BIN = os.path.expanduser("~/.cache/tablesafe/target/release/examples/crosscheck")
IGNORE = Condition(RowExistenceExpectation.IGNORE)
PK_SCHEMA = [("pk_str", "STRING"), ("pk_int", "INTEGER"), ("pk_bin", "BINARY")]
I64_MAX = 2 ** 63 - 1
I64_MIN = -2 ** 63


@pytest.fixture(scope="module")
def crosscheck_bin():
    path = os.environ.get("TABLESAFE_CROSSCHECK_BIN") or DEFAULT_BIN
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("crosscheck binary not found or not executable at %r; build it with "
                    "`cargo test --release --workspace` or set TABLESAFE_CROSSCHECK_BIN" % path,
                    pytrace=False)
    return path


def run_crosscheck(binary, server, command, table):
    proc = subprocess.run(
        [binary, command, server.endpoint, server.instance, server.access_key_id,
         server.access_key_secret, table],
        capture_output=True, timeout=120)
    assert proc.returncode == 0, "crosscheck %s failed (exit %s): %s" % (
        command, proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# Canonical form

def canon_value(value):
    """(type, canonical value) of a Python SDK value."""
    if isinstance(value, bool):
        return "BOOLEAN", value
    if isinstance(value, int):
        return "INTEGER", value
    if isinstance(value, float):
        return "DOUBLE", struct.pack(">d", value).hex()
    if isinstance(value, str):
        return "STRING", value
    if isinstance(value, (bytes, bytearray)):
        return "BINARY", bytes(value).hex()
    raise AssertionError("unexpected value %r" % (value,))


def canon_row(pk, cols):
    """pk: [(name, value)]; cols: [(name, value, ts)] in any order."""
    return {
        "pk": [[name, *canon_value(value)] for name, value in pk],
        "cols": [[name, *canon_value(value), ts]
                 for name, value, ts in sorted(cols, key=lambda c: (c[0], -c[2]))],
    }


def canon_sdk_row(row):
    return canon_row(row.primary_key, [(c[0], c[1], c[2]) for c in row.attribute_columns])


def read_all_with_sdk(client, table):
    start = [(name, INF_MIN) for name, _ in PK_SCHEMA]
    end = [(name, INF_MAX) for name, _ in PK_SCHEMA]
    rows = []
    while start is not None:
        _, start, page, _ = client.get_range(table, "FORWARD", start, end, max_version=1000)
        rows.extend(canon_sdk_row(r) for r in page)
    return rows


def row_sort_key(row):
    return json.dumps(row, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# (a) Rust writes, Python reads

def rust_dataset(base):
    """The rows `crosscheck write` writes (mirror of dataset() in crosscheck.rs)."""
    return [
        canon_row([("pk_str", "alpha"), ("pk_int", 1), ("pk_bin", bytearray(b"\x00\xff"))], [
            ("i", 0, base - 4000), ("i", -1, base - 3000), ("i", I64_MAX, base - 2000),
            ("i", I64_MIN, base - 1000),
            ("d", 1.5, base - 3000), ("d", -0.0, base - 2000), ("d", 1e300, base - 1000),
            ("b", True, base - 2000), ("b", False, base - 1000),
            ("s", "h\u00e9llo \u2713", base - 2000), ("s", "", base - 1000),
            ("bin", bytearray(range(256)), base - 1000),
        ]),
        canon_row([("pk_str", "alpha"), ("pk_int", 2), ("pk_bin", bytearray(b"\x01"))], [
            ("s", "quote \" backslash \\ newline \n tab \t", base),
            ("d", 2.2250738585072014e-308, base), ("d", -123456.789, base - 1000),
        ]),
        canon_row([("pk_str", "\u00fcn\u00ef\u00a9\u00f8d\u00e9 \u2713"), ("pk_int", -42),
                   ("pk_bin", bytearray(range(16)))], [
            ("i", 7, base - 500), ("i", 8, base), ("bin", bytearray(), base),
        ]),
        canon_row([("pk_str", "beta"), ("pk_int", I64_MIN), ("pk_bin", bytearray(b"\x00"))], []),
        canon_row([("pk_str", "beta"), ("pk_int", I64_MAX), ("pk_bin", bytearray(b"\xff\xff"))], [
            ("b", True, base),
        ]),
        canon_row([("pk_str", "gamma"), ("pk_int", 0), ("pk_bin", bytearray(b"z"))], [
            ("i", 1, base - 2000), ("i", 2, base - 1000), ("s", "x" * 3000, base), ("d", 0.1, base),
        ]),
    ]


def test_rows_written_by_the_rust_client_read_back_exactly_with_the_python_sdk(
        client, server, crosscheck_bin):
    table = unique_name("rust_write")
    try:
        before = now_ms()
        summary = run_crosscheck(crosscheck_bin, server, "write", table)
        assert len(summary) == 1, summary
        base = summary[0]["base_ts"]
        assert before - 62_000 <= base <= before, "base_ts is the current second minus a minute"
        expected = rust_dataset(base)
        assert summary[0]["rows"] == len(expected)

        got = read_all_with_sdk(client, table)
        assert sorted(got, key=row_sort_key) == sorted(expected, key=row_sort_key)
        # The Rust client's own dump agrees, in the server's key order.
        assert run_crosscheck(crosscheck_bin, server, "dump", table) == got
    finally:
        try:
            client.delete_table(table)
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# (b) Python writes, Rust reads

def test_rows_written_by_the_python_sdk_dump_exactly_with_the_rust_client(
        client, server, crosscheck_bin):
    table = unique_name("py_write")
    client.create_table(TableMeta(table, PK_SCHEMA), TableOptions(max_version=10),
                        ReservedThroughput(CapacityUnit(0, 0)))
    try:
        base = now_ms() // 1000 * 1000 - 30_000
        rows = [
            ([("pk_str", "a"), ("pk_int", 5), ("pk_bin", bytearray(b"\x00\x00"))], [
                ("int", I64_MIN, base), ("int", 17, base - 1000),
                ("dbl", -2.5e-10, base), ("dbl", float(2 ** 53), base - 1000),
                ("yes", True, base), ("no", False, base - 1000),
                ("text", "\u65e5\u672c\u8a9e \U0001F600 \"q\" \\", base),
                ("blob", bytearray(b"\x00\x01\xfe\xff"), base),
            ]),
            ([("pk_str", "a"), ("pk_int", -5), ("pk_bin", bytearray(b"\x7f"))], []),
            ([("pk_str", "\u00e9t\u00e9"), ("pk_int", I64_MAX), ("pk_bin", bytearray(b"\x80"))], [
                ("text", "", base - 2000), ("blob", bytearray(), base - 2000),
            ]),
        ]
        for pk, cols in rows:
            # The first version of each column goes in with PutRow, older ones with
            # UpdateRow, so both SDK write paths are covered.
            seen, first, extra = set(), [], []
            for col in cols:
                (extra if col[0] in seen else first).append(col)
                seen.add(col[0])
            client.put_row(table, Row(pk, first), IGNORE)
            if extra:
                client.update_row(table, Row(pk, {"put": extra}), IGNORE)
        expected = [canon_row(pk, cols) for pk, cols in rows]

        dumped = run_crosscheck(crosscheck_bin, server, "dump", table)
        assert sorted(dumped, key=row_sort_key) == sorted(expected, key=row_sort_key)
        assert dumped == read_all_with_sdk(client, table), "same rows in the same key order"
    finally:
        client.delete_table(table)
