"""Durability: acknowledged writes survive SIGKILL; graceful SIGTERM shutdown and restart.

Each test runs its own server on its own data directory (not the session server).
"""

import signal
import threading
import time

import pytest
from tablestore import (
    BatchGetRowRequest,
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    PutRowItem,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)

from sdk_helpers import ServerStartError, TableSafeServer, attrs_latest

IGNORE = Condition(RowExistenceExpectation.IGNORE)
N_SINGLE_WRITERS = 3
BATCH_BASE = 10 ** 9


def _values(i):
    return [
        ("b", bytearray(i.to_bytes(8, "little", signed=False) * 3 + b"\x00\xff")),
        ("d", i * 0.5),
        ("i", i * 7 - 2 ** 40),
        ("s", "row-%d-中文😀" % i),
        ("t", i % 2 == 0),
    ]


def _expected(i):
    return {k: v for k, v in _values(i)}


@pytest.fixture
def own_server(tmp_path):
    srv = TableSafeServer(tmp_path / "data", tmp_path / "server.log")
    try:
        srv.start()
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield srv
    srv.stop()


def _restart(srv):
    srv.port = None  # any free port; the data dir is what matters
    try:
        srv.start()
    except ServerStartError as e:
        pytest.fail("restart after crash failed: %s" % e, pytrace=False)


class Load:
    """Writer threads that record every acknowledged write."""

    def __init__(self, srv, table, start_id):
        self.srv, self.table = srv, table
        self.acked = {}            # row id -> True (values derive from the id)
        self.counter_acked = 0     # acknowledged increments of the counter row
        self.counter_sent = 0      # increments attempted (acked or not)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = []
        self.start_id = start_id

    def _single(self, k):
        cl = self.srv.client(socket_timeout=10)
        i = self.start_id + k
        while not self.stop.is_set():
            try:
                cl.put_row(self.table, Row([("id", i)], _values(i)), IGNORE)
            except Exception:
                return
            with self.lock:
                self.acked[i] = True
            i += N_SINGLE_WRITERS

    def _batch(self):
        cl = self.srv.client(socket_timeout=10)
        i = BATCH_BASE + self.start_id
        while not self.stop.is_set():
            ids = list(range(i, i + 50))
            req = BatchWriteRowRequest()
            req.add(TableInBatchWriteRowItem(self.table, [
                PutRowItem(Row([("id", j)], _values(j)), IGNORE) for j in ids]))
            try:
                res = cl.batch_write_row(req)
            except Exception:
                return
            with self.lock:
                for item, j in zip(res.get_put_by_table(self.table), ids):
                    if item.is_ok:
                        self.acked[j] = True
            i += 50

    def _increment(self):
        cl = self.srv.client(socket_timeout=10)
        while not self.stop.is_set():
            with self.lock:
                self.counter_sent += 1
            try:
                cl.update_row(self.table, Row([("id", -1)], {"increment": [("n", 1)]}), IGNORE)
            except Exception:
                return
            with self.lock:
                self.counter_acked += 1

    def start(self):
        for k in range(N_SINGLE_WRITERS):
            self.threads.append(threading.Thread(target=self._single, args=(k,), daemon=True))
        self.threads.append(threading.Thread(target=self._batch, daemon=True))
        self.threads.append(threading.Thread(target=self._increment, daemon=True))
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
            assert not t.is_alive(), "writer thread hung after the server was killed"


def _verify_rows(cl, table, ids):
    ids = sorted(ids)
    missing, wrong = [], []
    for off in range(0, len(ids), 100):
        chunk = ids[off:off + 100]
        req = BatchGetRowRequest()
        req.add(TableInBatchGetRowItem(table, [[("id", i)] for i in chunk], max_version=1))
        res = cl.batch_get_row(req).get_result_by_table(table)
        assert len(res) == len(chunk)
        for i, item in zip(chunk, res):
            assert item.is_ok, (i, item.error_code, item.error_message)
            if item.row is None:
                missing.append(i)
            elif attrs_latest(item.row) != _expected(i):
                wrong.append((i, attrs_latest(item.row)))
    assert not missing, "%d acknowledged rows lost after crash, e.g. %s" % (len(missing),
                                                                            missing[:10])
    assert not wrong, "rows corrupted after crash, e.g. %s" % (wrong[:3],)


def test_acknowledged_writes_survive_sigkill(own_server):
    srv = own_server
    table = "crash_t"
    srv.client().create_table(TableMeta(table, [("id", "INTEGER")]),
                              TableOptions(max_version=1), ReservedThroughput(CapacityUnit(0, 0)))
    all_acked = {}
    counter_min = 0
    counter_max = 0
    for cycle in range(2):
        load = Load(srv, table, start_id=cycle * 10 ** 6)
        load.start()
        time.sleep(1.5)
        with load.lock:
            acked_before_kill = len(load.acked)
        srv.kill()
        load.join()
        assert acked_before_kill > 0, "no write was acknowledged in 1.5 s of load"
        all_acked.update(load.acked)
        counter_min += load.counter_acked
        counter_max += load.counter_sent

        _restart(srv)
        cl = srv.client()
        assert table in cl.list_table()
        desc = cl.describe_table(table)
        assert desc.table_meta.schema_of_primary_key == [("id", "INTEGER")]
        _verify_rows(cl, table, all_acked)
        _, row, _ = cl.get_row(table, [("id", -1)])
        n = attrs_latest(row).get("n", 0) if row is not None else 0
        assert counter_min <= n <= counter_max, (counter_min, n, counter_max)
        # the recovered server accepts new writes
        cl.put_row(table, Row([("id", -2)], [("after", cycle)]), IGNORE)
        assert attrs_latest(cl.get_row(table, [("id", -2)])[1]) == {"after": cycle}


def test_sigterm_graceful_shutdown_and_restart(own_server):
    srv = own_server
    cl = srv.client()
    cl.create_table(TableMeta("keep_t", [("k", "STRING"), ("n", "INTEGER")]),
                    TableOptions(time_to_live=-1, max_version=3, max_time_deviation=7200),
                    ReservedThroughput(CapacityUnit(0, 0)))
    cl.create_table(TableMeta("drop_t", [("id", "INTEGER")]), TableOptions(),
                    ReservedThroughput(CapacityUnit(0, 0)))
    for i in range(50):
        cl.put_row("keep_t", Row([("k", "key%02d" % i), ("n", i)], _values(i)), IGNORE)
    cl.delete_row("keep_t", Row([("k", "key07"), ("n", 7)]), IGNORE)
    cl.delete_table("drop_t")

    t0 = time.monotonic()
    rc = srv.stop(signal.SIGTERM, timeout=20)
    assert rc == 0, "tablesafe exited with %s on SIGTERM" % rc
    assert time.monotonic() - t0 < 20

    _restart(srv)
    cl = srv.client()
    tables = cl.list_table()
    assert "keep_t" in tables and "drop_t" not in tables
    desc = cl.describe_table("keep_t")
    assert desc.table_meta.schema_of_primary_key == [("k", "STRING"), ("n", "INTEGER")]
    assert desc.table_options.max_version == 3
    assert desc.table_options.max_time_deviation == 7200
    for i in range(50):
        _, row, _ = cl.get_row("keep_t", [("k", "key%02d" % i), ("n", i)])
        if i == 7:
            assert row is None
        else:
            assert attrs_latest(row) == _expected(i), i
