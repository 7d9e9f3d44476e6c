'use strict';
// Local transactions through the Node SDK: a write seen inside the transaction and
// outside only after commit, abort, BatchWriteRow and GetRange in a transaction, a
// held partition refusing outside writes, and an ended transaction.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const TableStore = require('tablestore');
const { startServer, uniqueName, expectOtsError, attrs } = require('../helpers/server');

const Long = TableStore.Long;
const IGNORE = () => new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null);

let srv;
let client;
let table; // (p INTEGER, k STRING)

before(async () => {
  srv = await startServer();
  client = srv.client();
  table = uniqueName('ntxn');
  await client.createTable({
    tableMeta: { tableName: table, primaryKey: [{ name: 'p', type: 'INTEGER' }, { name: 'k', type: 'STRING' }] },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive: -1, maxVersions: 1 },
  });
});

after(async () => {
  if (srv) {
    const alive = srv.alive();
    const tail = srv.logTail();
    await srv.stop();
    assert.ok(alive, 'tablesafe died during the Node transaction tests; log tail:\n' + tail);
  }
});

const key = (p, k) => [{ p: Long.fromNumber(p) }, { k }];

async function start(p) {
  const data = await client.startLocalTransaction({ tableName: table, primaryKey: [{ p: Long.fromNumber(p) }] });
  assert.ok(typeof data.transactionId === 'string' && data.transactionId.length > 0, JSON.stringify(data));
  return data.transactionId;
}

async function value(p, k, transactionId) {
  const params = { tableName: table, primaryKey: key(p, k), maxVersions: 1 };
  if (transactionId) params.transactionId = transactionId;
  const data = await client.getRow(params);
  return data.row && data.row.primaryKey ? attrs(data.row).v : undefined;
}

function put(p, k, v, transactionId) {
  const params = { tableName: table, condition: IGNORE(), primaryKey: key(p, k), attributeColumns: [{ v }] };
  if (transactionId) params.transactionId = transactionId;
  return client.putRow(params);
}

test('a write is seen inside its transaction, and outside only after commit', async () => {
  await put(1, 'a', 'old');
  const txn = await start(1);
  await put(1, 'a', 'new', txn);
  assert.equal(await value(1, 'a', txn), 'new');
  assert.equal(await value(1, 'a'), 'old');
  await client.commitTransaction({ transactionId: txn });
  assert.equal(await value(1, 'a'), 'new');
});

// The SDK decodes AbortTransaction's answer as an AbortTransactionRequest (whose id
// is required): TableSafe's answer carries the id, so that this succeeds.
test('an aborted transaction leaves nothing', async () => {
  const txn = await start(2);
  await put(2, 'a', 'never', txn);
  await client.abortTransaction({ transactionId: txn });
  assert.equal(await value(2, 'a'), undefined);
});

test('BatchWriteRow and GetRange inside a transaction', async () => {
  const txn = await start(3);
  await client.batchWriteRow({
    transactionId: txn,
    tables: [{
      tableName: table,
      rows: ['x', 'y'].map((k) => ({
        type: 'PUT', condition: IGNORE(), primaryKey: key(3, k), attributeColumns: [{ v: 'batch ' + k }],
      })),
    }],
  });
  const range = (transactionId) => {
    const params = {
      tableName: table,
      direction: TableStore.Direction.FORWARD,
      inclusiveStartPrimaryKey: [{ p: Long.fromNumber(3) }, { k: TableStore.INF_MIN }],
      exclusiveEndPrimaryKey: [{ p: Long.fromNumber(3) }, { k: TableStore.INF_MAX }],
      maxVersions: 1,
    };
    if (transactionId) params.transactionId = transactionId;
    return client.getRange(params).then((data) => data.rows.map((r) => attrs(r).v));
  };
  assert.deepEqual(await range(txn), ['batch x', 'batch y']);
  assert.deepEqual(await range(), []);
  await client.commitTransaction({ transactionId: txn });
  assert.deepEqual(await range(), ['batch x', 'batch y']);
});

test('a held partition refuses outside writes and a second transaction', async () => {
  const txn = await start(4);
  await expectOtsError(() => put(4, 'a', 'outside'), 409, 'OTSRowOperationConflict');
  await expectOtsError(() => start(4), 409, 'OTSRowOperationConflict');
  await put(5, 'a', 'another partition');
  await client.abortTransaction({ transactionId: txn });
  await put(4, 'a', 'after');
  assert.equal(await value(4, 'a'), 'after');
});

test('an ended transaction is gone', async () => {
  const txn = await start(6);
  await client.commitTransaction({ transactionId: txn });
  await expectOtsError(() => client.commitTransaction({ transactionId: txn }), 404, 'OTSSessionNotExist');
  await expectOtsError(() => put(6, 'a', 'late', txn), 404, 'OTSSessionNotExist');
});
