#!/usr/bin/env python3
"""Baseline for the backup benchmark: what a Tablestore user scripts today with the
official Python SDK (tablestore 6.4.8), single-threaded, one request at a time.

  export  GetRange over the whole table (server-sized pages, every version:
          max_version=2**31-1) into gzip-compressed JSON lines; the first line
          holds the table's schema and options.
  import  Creates the table from that first line and writes every row back with
          BatchWriteRow, 200 rows per request, original timestamps kept.

Each step prints one JSON line on stdout: rows, seconds, CPU seconds, peak RSS
(ru_maxrss of this process), file size, and the seconds spent inside SDK calls.
The access key comes from TABLESAFE_ACCESS_KEY_ID / TABLESAFE_ACCESS_KEY_SECRET.

Run by crates/backup/benches/backup_restore.rs; by hand:

  python bench/baseline_sdk.py export --endpoint http://127.0.0.1:8800 --instance tablesafe \
      --table users --file users.jsonl.gz
  python bench/baseline_sdk.py import --endpoint http://127.0.0.1:8800 --instance tablesafe \
      --table users_copy --file users.jsonl.gz
"""

import argparse
import base64
import gzip
import json
import os
import resource
import sys
import time

from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    OTSClient,
    PutRowItem,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)

ALL_VERSIONS = 2**31 - 1
BATCH = 200


def to_json(value):
    # JSON keeps str, int, float and bool apart; binary values need a wrapper.
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def from_json(value):
    if isinstance(value, dict):
        return bytearray(base64.b64decode(value["$b"]))
    return value


def client_for(args):
    return OTSClient(args.endpoint, os.environ["TABLESAFE_ACCESS_KEY_ID"],
                     os.environ["TABLESAFE_ACCESS_KEY_SECRET"], args.instance)


def export(args):
    client = client_for(args)
    started = time.perf_counter()
    in_sdk = 0.0
    described = client.describe_table(args.table)
    pk_schema = described.table_meta.schema_of_primary_key
    options = described.table_options
    header = {
        "table": args.table,
        "primary_key": [[name, kind] for name, kind in pk_schema],
        "options": {"time_to_live": options.time_to_live, "max_version": options.max_version,
                    "max_time_deviation": options.max_time_deviation},
    }
    start = [(name, INF_MIN) for name, _ in pk_schema]
    end = [(name, INF_MAX) for name, _ in pk_schema]
    rows = 0
    with gzip.open(args.file, "wt", encoding="utf-8", compresslevel=args.gzip_level) as out:
        out.write(json.dumps(header) + "\n")
        while start is not None and (args.rows is None or rows < args.rows):
            t = time.perf_counter()
            _, start, page, _ = client.get_range(args.table, "FORWARD", start, end, max_version=ALL_VERSIONS)
            in_sdk += time.perf_counter() - t
            if args.rows is not None:
                page = page[:args.rows - rows]
            for row in page:
                out.write(json.dumps({
                    "pk": [[name, to_json(value)] for name, value in row.primary_key],
                    "cols": [[name, to_json(value), ts] for name, value, ts in row.attribute_columns],
                }, separators=(",", ":")) + "\n")
            rows += len(page)
    return {"rows": rows, "seconds": time.perf_counter() - started, "sdk_seconds": in_sdk,
            "file_bytes": os.path.getsize(args.file)}


def import_(args):
    client = client_for(args)
    started = time.perf_counter()
    in_sdk = 0.0
    condition = Condition(RowExistenceExpectation.IGNORE)
    rows = 0

    def send(batch):
        request = BatchWriteRowRequest()
        request.add(TableInBatchWriteRowItem(args.table, batch))
        response = client.batch_write_row(request)
        if not response.is_all_succeed():
            failed = [(r.error_code, r.error_message) for r in response.get_failed_rows()][:3]
            raise SystemExit("batch_write_row failed for some rows: %s" % failed)

    with gzip.open(args.file, "rt", encoding="utf-8") as source:
        header = json.loads(source.readline())
        options = header["options"]
        t = time.perf_counter()
        client.create_table(
            TableMeta(args.table, [tuple(c) for c in header["primary_key"]]),
            TableOptions(options["time_to_live"], options["max_version"], options["max_time_deviation"]),
            ReservedThroughput(CapacityUnit(0, 0)))
        in_sdk += time.perf_counter() - t
        batch = []
        for line in source:
            record = json.loads(line)
            row = Row([(name, from_json(value)) for name, value in record["pk"]],
                      [(name, from_json(value), ts) for name, value, ts in record["cols"]])
            batch.append(PutRowItem(row, condition))
            if len(batch) == BATCH:
                t = time.perf_counter()
                send(batch)
                in_sdk += time.perf_counter() - t
                rows += len(batch)
                batch = []
        if batch:
            t = time.perf_counter()
            send(batch)
            in_sdk += time.perf_counter() - t
            rows += len(batch)
    return {"rows": rows, "seconds": time.perf_counter() - started, "sdk_seconds": in_sdk,
            "file_bytes": os.path.getsize(args.file)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["export", "import"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--table", required=True, help="table to export, or to create and import into")
    parser.add_argument("--file", required=True, help="the .jsonl.gz file")
    parser.add_argument("--rows", type=int, default=None, help="export only the first N rows")
    parser.add_argument("--gzip-level", type=int, default=6, help="gzip level of the export (default 6, gzip's own)")
    args = parser.parse_args()
    result = export(args) if args.step == "export" else import_(args)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        from tablestore.native import NATIVE_AVAILABLE
    except ImportError:
        NATIVE_AVAILABLE = False
    result.update({
        "step": args.step,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,  # KiB on Linux
        "native_parser": bool(NATIVE_AVAILABLE),
    })
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
