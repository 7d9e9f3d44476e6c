'use strict';
// The row semantics Alibaba's own SDK tests hold the service to, through the Node SDK:
// an UpdateRow of only deletes on a missing row writes none; BatchWriteRow's and
// BatchGetRow's tables without rows; OTSInvalidPK's details; read capacity of a 4,090-byte
// row; ListSearchIndex of a table without search indexes; a transaction id never
// handed out. (The Python suite checks the same through the Python SDK.)

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const TableStore = require('tablestore');
const { startServer, uniqueName, expectOtsError, num } = require('../helpers/server');

const Long = TableStore.Long;
const IGNORE = () => new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null);

let srv;
let client;
let table; // (PK1 INTEGER, PK2 STRING)

before(async () => {
  srv = await startServer();
  client = srv.client();
  table = uniqueName('nsem');
  await client.createTable({
    tableMeta: { tableName: table, primaryKey: [{ name: 'PK1', type: 'INTEGER' }, { name: 'PK2', type: 'STRING' }] },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive: -1, maxVersions: 1 },
  });
});

after(async () => {
  if (srv) {
    const alive = srv.alive();
    const tail = srv.logTail();
    await srv.stop();
    assert.ok(alive, 'tablesafe died during the Node semantics tests; log tail:\n' + tail);
  }
});

const key = (i, s) => [{ PK1: Long.fromNumber(i) }, { PK2: s }];

async function rowOf(pk) {
  const data = await client.getRow({ tableName: table, primaryKey: pk, maxVersions: 1 });
  return data.row && data.row.primaryKey ? data.row : null;
}

// The raw Error bytes the SDK leaves in err.message hold the service's message.
async function expectMessage(fn, status, code, message) {
  const err = await expectOtsError(fn, status, code);
  assert.ok(String(err.message).includes(message), `expected ${JSON.stringify(message)} in ${String(err.message)}`);
}

test('an UpdateRow of only deletes on a missing row leaves no row', async () => {
  await client.updateRow({
    tableName: table,
    condition: IGNORE(),
    primaryKey: key(1, 'missing'),
    updateOfAttributeColumns: [{ DELETE_ALL: ['a', 'b'] }],
  });
  assert.equal(await rowOf(key(1, 'missing')), null);
});

test("BatchWriteRow refuses a table without rows; BatchGetRow accepts one", async () => {
  await expectMessage(() => client.batchWriteRow({ tables: [{ tableName: table, rows: [] }] }), 400,
    'OTSParameterInvalid', `No operation is specified for table: '${table}'.`);
  // An empty request and a BOOLEAN key (below) never leave the Node SDK, which refuses
  // them itself; the Python suite checks the server's answers to both.
  const got = await client.batchGetRow({ tables: [{ tableName: table, primaryKey: [], maxVersions: 1 }] });
  assert.ok(Array.isArray(got.tables), JSON.stringify(got));
});

test('OTSInvalidPK carries the detail the service gives', async () => {
  const put = (primaryKey) => client.putRow({ tableName: table, condition: IGNORE(), primaryKey, attributeColumns: [{ v: 1 }] });
  await expectMessage(() => put([{ PK1: Long.fromNumber(1) }, { PK3: 'x' }]), 400, 'OTSInvalidPK',
    'Validate PK name fail. Input: PK3, Meta: PK2.');
  await expectMessage(() => put([{ PK1: Long.fromNumber(1) }]), 400, 'OTSInvalidPK',
    'Validate PK size fail. Input: 1, Meta: 2.');
});

test('a 4,090-byte row reads as one capacity unit', async () => {
  const pk = key(2, 'x');
  // Key: "PK1" + 8 + "PK2" + 1 = 15 bytes; column: "v" + 4,074 = 4,075 bytes.
  await client.putRow({ tableName: table, condition: IGNORE(), primaryKey: pk, attributeColumns: [{ v: 'y'.repeat(4074) }] });
  const data = await client.getRow({ tableName: table, primaryKey: pk, maxVersions: 1 });
  assert.equal(num(data.consumed.capacityUnit.read), 1);
});

test('ListSearchIndex of a table without search indexes is empty', async () => {
  const data = await client.listSearchIndex({ tableName: table });
  assert.deepEqual(data.indices || [], []);
});

test('a transaction id never handed out is invalid and writes nothing', async () => {
  await expectMessage(() => client.putRow({
    tableName: table, condition: IGNORE(), primaryKey: key(3, 'x'), attributeColumns: [{ v: 1 }],
    transactionId: 'not existed transaction id',
  }), 400, 'OTSParameterInvalid', 'TransactionID is invalid.');
  assert.equal(await rowOf(key(3, 'x')), null);
});
