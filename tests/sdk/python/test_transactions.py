"""Local transactions are not served: StartLocalTransaction is an unsupported operation,
so no transaction id names a transaction, and a row request carrying one fails as the
service fails an unknown id: 400 OTSParameterInvalid "TransactionID is invalid."."""

from tablestore import (
    INF_MAX,
    INF_MIN,
    Condition,
    Row,
    RowExistenceExpectation,
)

from sdk_helpers import attrs_latest, expect_error

IGNORE = Condition(RowExistenceExpectation.IGNORE)
INVALID = "TransactionID is invalid."


def _expect_invalid_transaction(call):
    with expect_error(400, "OTSParameterInvalid") as ei:
        call()
    assert ei.value.get_error_message() == INVALID


def test_row_requests_with_a_transaction_id_fail_and_change_nothing(client, simple_table):
    pk = [("id", 1)]
    client.put_row(simple_table, Row(pk, [("value", "old")]), IGNORE)
    txn = "not existed transaction id"
    _expect_invalid_transaction(
        lambda: client.put_row(simple_table, Row(pk, [("value", "new")]), IGNORE, None, txn))
    _expect_invalid_transaction(
        lambda: client.put_row(simple_table, Row([("id", 2)], [("value", "new")]), IGNORE,
                               transaction_id=txn))
    _expect_invalid_transaction(
        lambda: client.update_row(simple_table, Row(pk, {"put": [("value", "new")]}), IGNORE,
                                  transaction_id=txn))
    _expect_invalid_transaction(
        lambda: client.delete_row(simple_table, Row(pk), IGNORE, transaction_id=txn))
    _expect_invalid_transaction(lambda: client.get_row(simple_table, pk, transaction_id=txn))
    _expect_invalid_transaction(
        lambda: client.get_range(simple_table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)],
                                 transaction_id=txn))
    # Nothing was written: the row is as it was, and no other row appeared.
    _, row, _ = client.get_row(simple_table, pk)
    assert attrs_latest(row) == {"value": "old"}
    assert client.get_row(simple_table, [("id", 2)])[1] is None


def test_start_local_transaction_is_not_served(client, simple_table):
    with expect_error(400, "OTSParameterInvalid") as ei:
        client.start_local_transaction(simple_table, [("id", 1)])
    assert ei.value.get_error_message() == "Unsupported operation: StartLocalTransaction."
