'use strict';
// BatchWriteRow / BatchGetRow / GetRange paging through the Node SDK.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const TableStore = require('tablestore');
const { startServer, uniqueName, expectOtsError, attrs, pkObj } = require('../helpers/server');

const Long = TableStore.Long;
const IGNORE = () => new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null);
const EXIST = () => new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, null);

let srv;
let client;

before(async () => {
  srv = await startServer();
  client = srv.client();
});

after(async () => {
  if (srv) {
    const alive = srv.alive();
    const tail = srv.logTail();
    await srv.stop();
    assert.ok(alive, 'tablesafe died during the Node batch/range tests; log tail:\n' + tail);
  }
});

async function createTable(primaryKey) {
  const name = uniqueName('nb');
  await client.createTable({
    tableMeta: { tableName: name, primaryKey },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive: -1, maxVersions: 1 },
  });
  return name;
}

const pk = (i) => [{ id: Long.fromNumber(i) }];
const idOf = (row) => Number(row.primaryKey[0].value.toString(10));

test('batchWriteRow mixed operations with one failing condition, order preserved', async () => {
  const t1 = await createTable([{ name: 'id', type: 'INTEGER' }]);
  const t2 = await createTable([{ name: 'k', type: 'STRING' }]);
  await client.putRow({ tableName: t1, condition: IGNORE(), primaryKey: pk(2),
    attributeColumns: [{ n: Long.fromNumber(1) }] });
  await client.putRow({ tableName: t1, condition: IGNORE(), primaryKey: pk(3),
    attributeColumns: [{ a: 'x' }] });

  const data = await client.batchWriteRow({ tables: [
    { tableName: t1, rows: [
      { type: 'PUT', condition: IGNORE(), primaryKey: pk(1),
        attributeColumns: [{ a: 'put' }, { d: 1.5 }],
        returnContent: { returnType: TableStore.ReturnType.Primarykey } },
      { type: 'UPDATE', condition: EXIST(), primaryKey: pk(2),
        attributeColumns: [{ INCREMENT: [{ n: Long.fromNumber(41) }] }, { PUT: [{ b: true }] }] },
      { type: 'UPDATE', condition: EXIST(), primaryKey: pk(99),
        attributeColumns: [{ PUT: [{ never: 'x' }] }] },
      { type: 'DELETE', condition: IGNORE(), primaryKey: pk(3) },
    ] },
    { tableName: t2, rows: [
      { type: 'PUT', condition: IGNORE(), primaryKey: [{ k: '中文' }],
        attributeColumns: [{ bin: Buffer.from([0, 1, 2]) }] },
    ] },
  ] });

  assert.equal(data.tables.length, 5);
  assert.deepEqual(data.tables.map((r) => [r.tableName, r.isOk]),
    [[t1, true], [t1, true], [t1, false], [t1, true], [t2, true]]);
  assert.equal(data.tables[2].errorCode, 'OTSConditionCheckFail');
  assert.equal(data.tables[0].primaryKey[0].value.toString(10), '1');

  const get = async (t, key) => (await client.getRow({ tableName: t, primaryKey: key })).row;
  assert.deepEqual(attrs(await get(t1, pk(1))), { a: 'put', d: 1.5 });
  const r2 = attrs(await get(t1, pk(2)));
  assert.equal(r2.n.toString(10), '42');
  assert.equal(r2.b, true);
  assert.ok(!(await get(t1, pk(99))).primaryKey);
  assert.ok(!(await get(t1, pk(3))).primaryKey);
  assert.deepEqual([...attrs(await get(t2, [{ k: '中文' }])).bin], [0, 1, 2]);

  await client.deleteTable({ tableName: t1 });
  await client.deleteTable({ tableName: t2 });
});

test('batchGetRow with a miss and a missing table', async () => {
  const t = await createTable([{ name: 'id', type: 'INTEGER' }]);
  await client.putRow({ tableName: t, condition: IGNORE(), primaryKey: pk(1), attributeColumns: [{ v: 'one' }] });
  await client.putRow({ tableName: t, condition: IGNORE(), primaryKey: pk(3), attributeColumns: [{ v: 'three' }] });
  const missing = uniqueName('nnosuch');
  const data = await client.batchGetRow({ tables: [
    { tableName: t, primaryKey: [pk(3), pk(2), pk(1)] },
    { tableName: missing, primaryKey: [pk(1)] },
  ] });
  assert.equal(data.tables.length, 2);
  const rows = data.tables[0];
  assert.deepEqual(rows.map((r) => r.isOk), [true, true, true]);
  assert.deepEqual(attrs(rows[0]), { v: 'three' });
  assert.equal(rows[1].primaryKey, null);
  assert.deepEqual(attrs(rows[2]), { v: 'one' });
  assert.equal(data.tables[1].length, 1);
  assert.equal(data.tables[1][0].isOk, false);
  assert.equal(data.tables[1][0].errorCode, 'OTSObjectNotExist');
  await client.deleteTable({ tableName: t });
});

test('batchWriteRow over 200 rows is 400', async () => {
  const t = await createTable([{ name: 'id', type: 'INTEGER' }]);
  const rows = [];
  for (let i = 0; i < 201; i++) {
    rows.push({ type: 'PUT', condition: IGNORE(), primaryKey: pk(i), attributeColumns: [{ v: 'x' }] });
  }
  await expectOtsError(() => client.batchWriteRow({ tables: [{ tableName: t, rows }] }),
    400, 'OTSParameterInvalid');
  await client.deleteTable({ tableName: t });
});

test('getRange paging forward and backward over 6000 rows', async () => {
  const t = await createTable([{ name: 'id', type: 'INTEGER' }]);
  const N = 6000;
  for (let off = 0; off < N; off += 200) {
    const rows = [];
    for (let i = off; i < off + 200; i++) {
      rows.push({ type: 'PUT', condition: IGNORE(), primaryKey: pk(i),
        attributeColumns: [{ v: Long.fromNumber(i) }, { s: `row-${i}` }] });
    }
    const res = await client.batchWriteRow({ tables: [{ tableName: t, rows }] });
    assert.ok(res.tables.every((r) => r.isOk));
  }

  // first page stops at 5000 rows with a next start key
  const first = await client.getRange({ tableName: t, direction: TableStore.Direction.FORWARD,
    inclusiveStartPrimaryKey: [{ id: TableStore.INF_MIN }],
    exclusiveEndPrimaryKey: [{ id: TableStore.INF_MAX }] });
  assert.equal(first.rows.length, 5000);
  assert.ok(first.nextStartPrimaryKey);
  assert.equal(first.nextStartPrimaryKey[0].value.toString(10), '5000');
  assert.equal(attrs(first.rows[4321]).s, 'row-4321');

  const scan = async (direction, start, end, limit) => {
    const ids = [];
    let next = start;
    let pages = 0;
    while (next) {
      const page = await client.getRange({ tableName: t, direction,
        inclusiveStartPrimaryKey: next, exclusiveEndPrimaryKey: end, limit });
      pages += 1;
      for (const r of page.rows) ids.push(idOf(r));
      next = page.nextStartPrimaryKey ? pkObj(page.nextStartPrimaryKey) : null;
      assert.ok(pages < 500);
    }
    return ids;
  };

  const fwd = await scan(TableStore.Direction.FORWARD, [{ id: TableStore.INF_MIN }], [{ id: TableStore.INF_MAX }]);
  assert.equal(fwd.length, N);
  assert.ok(fwd.every((v, i) => v === i), 'forward scan out of order or incomplete');

  const bwd = await scan(TableStore.Direction.BACKWARD, [{ id: TableStore.INF_MAX }], [{ id: TableStore.INF_MIN }]);
  assert.equal(bwd.length, N);
  assert.ok(bwd.every((v, i) => v === N - 1 - i), 'backward scan out of order or incomplete');

  const limited = await scan(TableStore.Direction.FORWARD, pk(100), pk(350), 33);
  assert.deepEqual(limited, Array.from({ length: 250 }, (_, i) => 100 + i));

  // filter on a range
  const filt = await client.getRange({ tableName: t, direction: TableStore.Direction.FORWARD,
    inclusiveStartPrimaryKey: pk(0), exclusiveEndPrimaryKey: pk(100),
    columnFilter: new TableStore.SingleColumnCondition('v', Long.fromNumber(95),
      TableStore.ComparatorType.GREATER_THAN) });
  assert.deepEqual(filt.rows.map(idOf), [96, 97, 98, 99]);

  await expectOtsError(() => client.getRange({ tableName: t, direction: TableStore.Direction.FORWARD,
    inclusiveStartPrimaryKey: pk(10), exclusiveEndPrimaryKey: pk(5) }), 400, 'OTSParameterInvalid');
  await expectOtsError(() => client.getRange({ tableName: t, direction: TableStore.Direction.BACKWARD,
    inclusiveStartPrimaryKey: pk(5), exclusiveEndPrimaryKey: pk(10) }), 400, 'OTSParameterInvalid');

  await client.deleteTable({ tableName: t });
});
