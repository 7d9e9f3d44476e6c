"""Local transactions through the official Python SDK: the flows of Alibaba's own
`tests/transaction_test.py` (put, update, batch write and delete, each committed and
aborted, read inside and outside the transaction), the service's errors (an id it
never handed out, one that ended, a write outside the partition, a second
transaction or an outside write on a held partition, another key's transaction,
auto-increment tables), isolation under concurrent writers, and commits that are all
or nothing across `kill -9`.
"""

import threading
import time

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    PK_AUTO_INCR,
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    Direction,
    PutRowItem,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
    UpdateRowItem,
)
from tablestore.error import OTSServiceError

from sdk_helpers import (ServerStartError, TableSafeServer, attrs_latest, expect_error, server_with_keys,
                         unique_name)

IGNORE = Condition(RowExistenceExpectation.IGNORE)
INVALID = "TransactionID is invalid."
GONE = "Session not exist or may be timeout."
HELD = "Data is being modified by the other request."
WRITER = ("tsTxnWriter", "tsTxnWriterSecret0123456789")
OTHER = ("tsTxnOther", "tsTxnOtherSecret0123456789")
READER = ("tsTxnReader", "tsTxnReaderSecret0123456789")


@pytest.fixture
def txn_table(new_table):
    """The SDK tests' table: PK0 INTEGER (the partition key), PK1 STRING."""
    return new_table([("PK0", "INTEGER"), ("PK1", "STRING")], prefix="txn")


def _value(client, table, pk, transaction_id=None):
    _, row, _ = client.get_row(table, pk, ["value"], None, 1, transaction_id=transaction_id)
    return None if row is None else attrs_latest(row).get("value")


def _partition_rows(client, table, partition, transaction_id=None):
    """(PK1, value) of every row of the partition, through GetRange, page by page."""
    out, start = [], [("PK0", partition), ("PK1", INF_MIN)]
    while start is not None:
        _, start, rows, _ = client.get_range(
            table, Direction.FORWARD, start, [("PK0", partition), ("PK1", INF_MAX)], [], 2,
            max_version=1, transaction_id=transaction_id)
        out.extend((r.primary_key[1][1], attrs_latest(r).get("value")) for r in rows)
    return out


# ------------------------------------------------------ the SDK tests' flows


@pytest.mark.parametrize("outcome", ["commit", "abort"])
@pytest.mark.parametrize("write", ["put", "update", "batch"])
def test_a_write_is_seen_inside_and_only_after_commit_outside(client, txn_table, write, outcome):
    pk = [("PK0", 1), ("PK1", "transaction")]
    client.put_row(txn_table, Row(pk, [("value", "origin value")]), IGNORE)
    txn = client.start_local_transaction(txn_table, [("PK0", 1)])
    assert isinstance(txn, str) and txn
    if write == "put":
        client.put_row(txn_table, Row(pk, [("value", "new value")]), IGNORE, None, txn)
    elif write == "update":
        client.update_row(txn_table, Row(pk, {"PUT": [("value", "new value")]}), IGNORE, None, txn)
    else:
        request = BatchWriteRowRequest()
        request.add(TableInBatchWriteRowItem(
            txn_table, [UpdateRowItem(Row(pk, {"put": [("value", "new value")]}), IGNORE)]))
        request.set_transaction_id(txn)
        assert client.batch_write_row(request).is_all_succeed()

    assert _value(client, txn_table, pk, txn) == "new value"
    assert _value(client, txn_table, pk) == "origin value"
    if outcome == "commit":
        client.commit_transaction(txn)
        assert _value(client, txn_table, pk) == "new value"
    else:
        client.abort_transaction(txn)
        assert _value(client, txn_table, pk) == "origin value"


@pytest.mark.parametrize("outcome", ["commit", "abort"])
def test_a_delete_is_seen_by_get_range_inside_and_only_after_commit_outside(client, txn_table, outcome):
    pk = [("PK0", 1), ("PK1", "transaction")]
    client.put_row(txn_table, Row(pk, [("value", "origin value")]), IGNORE)
    txn = client.start_local_transaction(txn_table, [("PK0", 1)])
    client.delete_row(txn_table, Row(pk), IGNORE, transaction_id=txn)
    assert _partition_rows(client, txn_table, 1, txn) == []
    assert _partition_rows(client, txn_table, 1) == [("transaction", "origin value")]
    if outcome == "commit":
        client.commit_transaction(txn)
        assert _partition_rows(client, txn_table, 1) == []
    else:
        client.abort_transaction(txn)
        assert _partition_rows(client, txn_table, 1) == [("transaction", "origin value")]


def test_get_range_in_a_transaction_merges_its_writes_in_key_order_over_pages(client, txn_table):
    for name in ("b", "d", "f"):
        client.put_row(txn_table, Row([("PK0", 3), ("PK1", name)], [("value", "old " + name)]), IGNORE)
    client.put_row(txn_table, Row([("PK0", 4), ("PK1", "a")], [("value", "elsewhere")]), IGNORE)
    txn = client.start_local_transaction(txn_table, [("PK0", 3)])
    for name in ("a", "c", "e", "g"):
        client.put_row(txn_table, Row([("PK0", 3), ("PK1", name)], [("value", "new " + name)]), IGNORE,
                       None, txn)
    client.delete_row(txn_table, Row([("PK0", 3), ("PK1", "d")]), IGNORE, transaction_id=txn)
    client.update_row(txn_table, Row([("PK0", 3), ("PK1", "f")], {"put": [("value", "changed f")]}),
                      IGNORE, None, txn)
    inside = [("a", "new a"), ("b", "old b"), ("c", "new c"), ("e", "new e"), ("f", "changed f"),
              ("g", "new g")]
    assert _partition_rows(client, txn_table, 3, txn) == inside
    assert _partition_rows(client, txn_table, 3) == [("b", "old b"), ("d", "old d"), ("f", "old f")]
    # Backward, in one page.
    _, _, rows, _ = client.get_range(txn_table, Direction.BACKWARD, [("PK0", 3), ("PK1", INF_MAX)],
                                     [("PK0", 3), ("PK1", INF_MIN)], [], None, max_version=1,
                                     transaction_id=txn)
    assert [(r.primary_key[1][1], attrs_latest(r)["value"]) for r in rows] == inside[::-1]
    client.commit_transaction(txn)
    assert _partition_rows(client, txn_table, 3) == inside
    assert _partition_rows(client, txn_table, 4) == [("a", "elsewhere")]


def test_conditions_in_a_transaction_see_its_own_writes(client, txn_table):
    pk = [("PK0", 5), ("PK1", "x")]
    txn = client.start_local_transaction(txn_table, [("PK0", 5)])
    client.put_row(txn_table, Row(pk, [("value", "1")]), Condition(RowExistenceExpectation.EXPECT_NOT_EXIST),
                   None, txn)
    with expect_error(403, "OTSConditionCheckFail"):
        client.put_row(txn_table, Row(pk, [("value", "2")]),
                       Condition(RowExistenceExpectation.EXPECT_NOT_EXIST), None, txn)
    # A rejected request leaves the transaction as it was.
    client.update_row(txn_table, Row(pk, {"put": [("value", "3")]}),
                      Condition(RowExistenceExpectation.EXPECT_EXIST), None, txn)
    assert _value(client, txn_table, pk) is None
    client.commit_transaction(txn)
    assert _value(client, txn_table, pk) == "3"


# ------------------------------------------------------------------ errors


def test_an_id_never_handed_out_is_invalid_and_changes_nothing(client, simple_table):
    pk = [("id", 1)]
    client.put_row(simple_table, Row(pk, [("value", "old")]), IGNORE)
    txn = "not existed transaction id"
    calls = [
        lambda: client.put_row(simple_table, Row(pk, [("value", "new")]), IGNORE, None, txn),
        lambda: client.update_row(simple_table, Row(pk, {"put": [("value", "new")]}), IGNORE,
                                  transaction_id=txn),
        lambda: client.delete_row(simple_table, Row(pk), IGNORE, transaction_id=txn),
        lambda: client.get_row(simple_table, pk, transaction_id=txn),
        lambda: client.get_range(simple_table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)],
                                 transaction_id=txn),
        lambda: client.commit_transaction(txn),
        lambda: client.abort_transaction(txn),
    ]
    for call in calls:
        with expect_error(400, "OTSParameterInvalid") as ei:
            call()
        assert ei.value.get_error_message() == INVALID
    _, row, _ = client.get_row(simple_table, pk)
    assert attrs_latest(row) == {"value": "old"}


def test_an_ended_transaction_is_gone(client, txn_table):
    for end in (client.commit_transaction, client.abort_transaction):
        txn = client.start_local_transaction(txn_table, [("PK0", 7)])
        end(txn)
        for call in (lambda: client.commit_transaction(txn), lambda: client.abort_transaction(txn),
                     lambda: client.put_row(txn_table, Row([("PK0", 7), ("PK1", "a")], [("value", "v")]),
                                            IGNORE, None, txn)):
            with expect_error(404, "OTSSessionNotExist") as ei:
                call()
            assert ei.value.get_error_message() == GONE
    assert _partition_rows(client, txn_table, 7) == []


def test_a_held_partition_refuses_outside_writes_and_a_second_transaction(client, txn_table):
    held, free = [("PK0", 8), ("PK1", "a")], [("PK0", 9), ("PK1", "a")]
    client.put_row(txn_table, Row(held, [("value", "before")]), IGNORE)
    txn = client.start_local_transaction(txn_table, [("PK0", 8)])
    outside = [
        lambda: client.put_row(txn_table, Row(held, [("value", "outside")]), IGNORE),
        lambda: client.update_row(txn_table, Row([("PK0", 8), ("PK1", "new")], {"put": [("value", "x")]}),
                                  IGNORE),
        lambda: client.delete_row(txn_table, Row(held), IGNORE),
        lambda: client.start_local_transaction(txn_table, [("PK0", 8)]),
    ]
    for call in outside:
        with expect_error(409, "OTSRowOperationConflict") as ei:
            call()
        assert ei.value.get_error_message() == HELD
    # In a batch, the row of the held partition fails alone.
    request = BatchWriteRowRequest()
    request.add(TableInBatchWriteRowItem(txn_table, [
        PutRowItem(Row(held, [("value", "batch")]), IGNORE), PutRowItem(Row(free, [("value", "batch")]), IGNORE)]))
    results = client.batch_write_row(request).get_put_by_table(txn_table)
    assert (results[0].is_ok, results[0].error_code, results[1].is_ok) == (False, "OTSRowOperationConflict", True)
    # Reads outside see the committed row; another partition is free.
    assert _value(client, txn_table, held) == "before"
    other = client.start_local_transaction(txn_table, [("PK0", 9)])
    client.abort_transaction(other)
    client.abort_transaction(txn)
    client.put_row(txn_table, Row(held, [("value", "after")]), IGNORE)
    assert _value(client, txn_table, held) == "after"


def test_rows_outside_the_partition_or_table_are_refused_and_the_transaction_stays(client, txn_table,
                                                                                   new_table):
    other_table = new_table([("PK0", "INTEGER"), ("PK1", "STRING")], prefix="txnother")
    txn = client.start_local_transaction(txn_table, [("PK0", 10)])
    with expect_error(400, "OTSDataOutOfRange") as ei:
        client.put_row(txn_table, Row([("PK0", 11), ("PK1", "a")], [("value", "v")]), IGNORE, None, txn)
    assert ei.value.get_error_message() == \
        "Data out of scope of transaction. Transaction PartKey:10. Data PartKey:11"
    with expect_error(400, "OTSDataOutOfRange"):
        client.get_range(txn_table, Direction.FORWARD, [("PK0", 10), ("PK1", INF_MIN)],
                         [("PK0", 11), ("PK1", INF_MAX)], [], None, transaction_id=txn)
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(other_table, Row([("PK0", 10), ("PK1", "a")], [("value", "v")]), IGNORE, None, txn)
    client.put_row(txn_table, Row([("PK0", 10), ("PK1", "a")], [("value", "kept")]), IGNORE, None, txn)
    client.commit_transaction(txn)
    assert _partition_rows(client, txn_table, 10) == [("a", "kept")]
    assert _partition_rows(client, txn_table, 11) == []


def test_the_key_of_start_local_transaction_is_the_partition_key_alone(client, txn_table, new_table):
    with expect_error(400, "OTSParameterInvalid") as ei:
        client.start_local_transaction(txn_table, [("PK0", 1), ("PK1", "a")])
    assert ei.value.get_error_message() == "StartLocalTransaction support only one primary key."
    with expect_error(400, "OTSInvalidPK") as ei:
        client.start_local_transaction(txn_table, [("PK1", 1)])
    assert ei.value.get_error_message() == "Validate PK name fail. Input: PK1, Meta: PK0."
    with expect_error(400, "OTSInvalidPK"):
        client.start_local_transaction(txn_table, [("PK0", "text")])
    with expect_error(404, "OTSObjectNotExist"):
        client.start_local_transaction(unique_name("missing"), [("PK0", 1)])
    autoinc = new_table([("PK0", "INTEGER"), ("PK1", "INTEGER", PK_AUTO_INCR)], prefix="txnauto")
    with expect_error(400, "OTSParameterInvalid"):
        client.start_local_transaction(autoinc, [("PK0", 1)])


# ------------------------------------------------ keys, isolation, crashes


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    keys = [WRITER + ("read-write",), OTHER + ("read-write",), READER + ("read-only",)]
    try:
        srv = server_with_keys(tmp_path_factory.mktemp("txnkeys"), keys)
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield srv
    srv.stop()


def test_a_transaction_is_its_starters_alone(keyed_server):
    writer = keyed_server.client()
    other = keyed_server.client(access_key_id=OTHER[0], access_key_secret=OTHER[1])
    reader = keyed_server.client(access_key_id=READER[0], access_key_secret=READER[1])
    table = unique_name("txnkeys")
    writer.create_table(TableMeta(table, [("PK0", "INTEGER"), ("PK1", "STRING")]), TableOptions(),
                        ReservedThroughput(CapacityUnit(0, 0)))
    pk = [("PK0", 1), ("PK1", "secret")]
    txn = writer.start_local_transaction(table, [("PK0", 1)])
    writer.put_row(table, Row(pk, [("value", "uncommitted")]), IGNORE, None, txn)
    # Another key, even one that may write, cannot read, write or end it.
    for who in (other, reader):
        for call in (lambda: who.get_row(table, pk, ["value"], None, 1, transaction_id=txn),
                     lambda: who.commit_transaction(txn)):
            with pytest.raises(OTSServiceError) as ei:
                call()
            assert ei.value.get_error_code() in ("OTSSessionNotExist", "OTSAuthFailed"), ei.value
    with expect_error(404, "OTSSessionNotExist"):
        other.put_row(table, Row(pk, [("value", "hijack")]), IGNORE, None, txn)
    with expect_error(403, "OTSAuthFailed"):
        reader.start_local_transaction(table, [("PK0", 2)])
    assert _value(writer, table, pk, txn) == "uncommitted"
    writer.commit_transaction(txn)
    assert _value(reader, table, pk) == "uncommitted"


ACCOUNTS = 6
TOTAL = 600


def _balances(client, table):
    """The accounts, read in one GetRange page (one consistent read of the table)."""
    _, _, rows, _ = client.get_range(table, Direction.FORWARD, [("PK0", 1), ("PK1", INF_MIN)],
                                     [("PK0", 1), ("PK1", INF_MAX)], [], None, max_version=1)
    assert len(rows) <= ACCOUNTS + 1
    return {r.primary_key[1][1]: int(attrs_latest(r)["value"]) for r in rows
            if r.primary_key[1][1].startswith("acct")}


def test_concurrent_transfers_are_isolated_and_atomic(client, new_table):
    """Transactions move amounts between the accounts of one partition; outside
    readers, paging through the partition, always see a total of TOTAL, never a
    transfer half done, and outside writers are refused while one is open."""
    table = new_table([("PK0", "INTEGER"), ("PK1", "STRING")], prefix="txnbank")
    for i in range(ACCOUNTS):
        client.put_row(table, Row([("PK0", 1), ("PK1", "acct%d" % i)], [("value", str(TOTAL // ACCOUNTS))]), IGNORE)
    stop = threading.Event()
    seen, refused, committed, errors = [], [0], [0], []

    def transfers(k):
        cl = client
        n = 0
        while not stop.is_set():
            try:
                txn = cl.start_local_transaction(table, [("PK0", 1)])
            except OTSServiceError as e:
                if e.get_error_code() != "OTSRowOperationConflict":
                    errors.append(e)
                continue
            try:
                a, b = "acct%d" % (n % ACCOUNTS), "acct%d" % ((n * 7 + k + 1) % ACCOUNTS)
                n += 1
                values = {name: int(_value(cl, table, [("PK0", 1), ("PK1", name)], txn)) for name in {a, b}}
                if a != b:
                    values[a] -= 5
                    values[b] += 5
                for name, value in values.items():
                    cl.update_row(table, Row([("PK0", 1), ("PK1", name)], {"put": [("value", str(value))]}),
                                  IGNORE, None, txn)
                if n % 4 == 0:
                    cl.abort_transaction(txn)
                else:
                    cl.commit_transaction(txn)
                    committed[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported below
                errors.append(e)
                return

    def outside_reads():
        cl = client
        while not stop.is_set():
            balances = _balances(cl, table)
            seen.append(sum(balances.values()))
            try:
                # Between two transactions this gets through; during one it must not.
                cl.put_row(table, Row([("PK0", 1), ("PK1", "outside")], [("value", "0")]), IGNORE)
            except OTSServiceError as e:
                if e.get_error_code() == "OTSRowOperationConflict":
                    refused[0] += 1
                else:
                    errors.append(e)

    threads = [threading.Thread(target=transfers, args=(k,), daemon=True) for k in range(2)]
    threads.append(threading.Thread(target=outside_reads, daemon=True))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while committed[0] < 40 and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:3]
    assert committed[0] >= 40, committed
    assert seen and all(total == TOTAL for total in seen), [t for t in seen if t != TOTAL][:5]
    assert sum(_balances(client, table).values()) == TOTAL
    # Outside writes met open transactions (and were refused) at least once.
    assert refused[0] > 0


def test_a_commit_is_all_or_nothing_across_kill_9(tmp_path):
    """Transactions of 20 rows each are committed while the server is killed with
    SIGKILL; after the restart each holds all its rows (when its commit was
    acknowledged, always) or none, and an open transaction left nothing."""
    srv = TableSafeServer(tmp_path / "data", tmp_path / "server.log")
    srv.start()
    table = "txn_crash"
    srv.client().create_table(TableMeta(table, [("PK0", "INTEGER"), ("PK1", "INTEGER")]), TableOptions(),
                              ReservedThroughput(CapacityUnit(0, 0)))
    acked, attempted = set(), set()
    stop = threading.Event()
    open_partition = 10 ** 6

    def committer():
        cl = srv.client(socket_timeout=10)
        partition = 0
        while not stop.is_set():
            try:
                txn = cl.start_local_transaction(table, [("PK0", partition)])
                attempted.add(partition)
                for j in range(20):
                    cl.put_row(table, Row([("PK0", partition), ("PK1", j)], [("value", str(j))]), IGNORE,
                               None, txn)
                cl.commit_transaction(txn)
            except Exception:
                return
            acked.add(partition)
            partition += 1

    cl = srv.client()
    left_open = cl.start_local_transaction(table, [("PK0", open_partition)])
    for j in range(5):
        cl.put_row(table, Row([("PK0", open_partition), ("PK1", j)], [("value", "open")]), IGNORE, None,
                   left_open)
    thread = threading.Thread(target=committer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(acked) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.kill()
    stop.set()
    thread.join(timeout=30)
    assert len(acked) >= 10, "fewer than 10 transactions committed in 30 s"
    srv.port = None
    srv.start()
    try:
        cl = srv.client()
        for partition in sorted(attempted | {open_partition}):
            _, _, rows, _ = cl.get_range(table, Direction.FORWARD, [("PK0", partition), ("PK1", INF_MIN)],
                                         [("PK0", partition), ("PK1", INF_MAX)], [], None, max_version=1)
            count = len(rows)
            if partition in acked:
                assert count == 20, (partition, count)
            elif partition == open_partition:
                assert count == 0, count
            else:
                assert count in (0, 20), (partition, count)
        # The transaction open at the kill is gone, and its partition is free.
        with expect_error(404, "OTSSessionNotExist"):
            cl.commit_transaction(left_open)
        cl.put_row(table, Row([("PK0", open_partition), ("PK1", 0)], [("value", "after")]), IGNORE)
    finally:
        srv.stop()
