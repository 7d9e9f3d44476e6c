'use strict';
// Row APIs, value types, conditions, filters and auto-increment through the Node SDK.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const TableStore = require('tablestore');
const { startServer, uniqueName, expectOtsError, num, attrs } = require('../helpers/server');

const Long = TableStore.Long;
const IGNORE = () => new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null);

let srv;
let client;
let table; // (id INTEGER), max_versions 3

before(async () => {
  srv = await startServer();
  client = srv.client();
  table = uniqueName('nrows');
  await client.createTable({
    tableMeta: { tableName: table, primaryKey: [{ name: 'id', type: 'INTEGER' }] },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive: -1, maxVersions: 3 },
  });
});

after(async () => {
  if (srv) {
    const alive = srv.alive();
    const tail = srv.logTail();
    await srv.stop();
    assert.ok(alive, 'tablesafe died during the Node row tests; log tail:\n' + tail);
  }
});

const pk = (i) => [{ id: Long.fromNumber(i) }];

async function getRow(i, extra = {}) {
  const data = await client.getRow(Object.assign({ tableName: table, primaryKey: pk(i) }, extra));
  return data.row && data.row.primaryKey ? data.row : null;
}

test('put/get every value type', async () => {
  const cols = [
    { s_empty: '' },
    { s_ascii: 'hello' },
    { s_unicode: '中文ü😀' },
    { bin: Buffer.from([0x00, 0xff, 0x01, 0x80]) },
    { bin_empty: Buffer.alloc(0) },
    { b_true: true },
    { b_false: false },
    { i_max: Long.fromString('9223372036854775807') },
    { i_min: Long.fromString('-9223372036854775808') },
    { i_neg: Long.fromNumber(-42) },
    { d_zero: 0.0 },
    { d_negzero: -0.0 },
    { d_big: 1e308 },
    { d_frac: -2.75 },
    { d_int_like: 3 }, // a plain JS number is sent as DOUBLE
  ];
  const put = await client.putRow({ tableName: table, condition: IGNORE(), primaryKey: pk(1),
    attributeColumns: cols });
  assert.ok(num(put.consumed.capacityUnit.write) >= 1);

  const row = await getRow(1);
  assert.ok(row, 'row not found');
  assert.equal(row.primaryKey.length, 1);
  assert.equal(row.primaryKey[0].name, 'id');
  assert.equal(row.primaryKey[0].value.toString(10), '1');
  const got = attrs(row);
  assert.deepEqual(Object.keys(got).sort(), cols.map((c) => Object.keys(c)[0]).sort());
  assert.equal(got.s_empty, '');
  assert.equal(got.s_ascii, 'hello');
  assert.equal(got.s_unicode, '中文ü😀');
  assert.ok(Buffer.isBuffer(got.bin));
  assert.deepEqual([...got.bin], [0x00, 0xff, 0x01, 0x80]);
  assert.equal(got.bin_empty.length, 0);
  assert.equal(got.b_true, true);
  assert.equal(got.b_false, false);
  assert.equal(got.i_max.toString(10), '9223372036854775807');
  assert.equal(got.i_min.toString(10), '-9223372036854775808');
  assert.equal(got.i_neg.toString(10), '-42');
  assert.ok(Object.is(got.d_zero, 0));
  assert.ok(Object.is(got.d_negzero, -0));
  assert.equal(got.d_big, 1e308);
  assert.equal(got.d_frac, -2.75);
  assert.equal(typeof got.d_int_like, 'number');
  assert.equal(got.d_int_like, 3);
});

test('primary key types round trip', async () => {
  const name = uniqueName('npk');
  await client.createTable({
    tableMeta: { tableName: name, primaryKey: [
      { name: 's', type: 'STRING' }, { name: 'i', type: 'INTEGER' }, { name: 'b', type: 'BINARY' }] },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive: -1, maxVersions: 1 },
  });
  try {
    const key = [{ s: '中文ü😀' }, { i: Long.fromString('-9223372036854775808') },
      { b: Buffer.from([0, 255]) }];
    await client.putRow({ tableName: name, condition: IGNORE(), primaryKey: key,
      attributeColumns: [{ v: 'x' }] });
    const data = await client.getRow({ tableName: name, primaryKey: key });
    assert.equal(data.row.primaryKey[0].value, '中文ü😀');
    assert.equal(data.row.primaryKey[1].value.toString(10), '-9223372036854775808');
    assert.deepEqual([...data.row.primaryKey[2].value], [0, 255]);
    assert.deepEqual(attrs(data.row), { v: 'x' });
  } finally {
    await client.deleteTable({ tableName: name });
  }
});

test('missing row reads as empty', async () => {
  const data = await client.getRow({ tableName: table, primaryKey: pk(404404) });
  assert.ok(!data.row || !data.row.primaryKey);
});

test('update: put, delete one version, delete all, increment', async () => {
  const now = Date.now();
  const t1 = now - 5000;
  const t2 = now - 4000;
  await client.putRow({ tableName: table, condition: IGNORE(), primaryKey: pk(2),
    attributeColumns: [{ gone: 'g' }, { n: Long.fromNumber(10) }, { v: 'old', timestamp: t1 }] });
  await client.updateRow({ tableName: table, condition: IGNORE(), primaryKey: pk(2),
    updateOfAttributeColumns: [{ PUT: [{ v: 'new', timestamp: t2 }] }] });
  let row = await getRow(2, { maxVersions: 3 });
  assert.deepEqual(row.attributes.filter((a) => a.columnName === 'v')
    .map((a) => [a.columnValue, num(a.timestamp)]), [['new', t2], ['old', t1]]);

  await client.updateRow({ tableName: table, condition: IGNORE(), primaryKey: pk(2),
    updateOfAttributeColumns: [
      { PUT: [{ added: 'yes' }] },
      { DELETE: [{ v: t1 }] },
      { DELETE_ALL: ['gone'] },
      { INCREMENT: [{ n: Long.fromNumber(32) }] },
    ] });
  row = await getRow(2, { maxVersions: 3 });
  const got = attrs(row);
  assert.equal(got.added, 'yes');
  assert.equal(got.v, 'new');
  assert.equal(got.n.toString(10), '42');
  assert.ok(!('gone' in got));
  assert.deepEqual(row.attributes.filter((a) => a.columnName === 'v').map((a) => num(a.timestamp)), [t2]);
});

test('put replaces row; delete removes it', async () => {
  await client.putRow({ tableName: table, condition: IGNORE(), primaryKey: pk(3),
    attributeColumns: [{ a: 'a' }, { b: 'b' }] });
  await client.putRow({ tableName: table, condition: IGNORE(), primaryKey: pk(3),
    attributeColumns: [{ c: 'c' }] });
  assert.deepEqual(attrs(await getRow(3)), { c: 'c' });
  await client.deleteRow({ tableName: table, condition: IGNORE(), primaryKey: pk(3) });
  assert.equal(await getRow(3), null);
  // deleting a missing row with IGNORE succeeds
  await client.deleteRow({ tableName: table, condition: IGNORE(), primaryKey: pk(3) });
});

test('columnsToGet, maxVersions and timeRange', async () => {
  const base = Date.now() - 20000;
  for (let v = 0; v < 3; v++) {
    await client.updateRow({ tableName: table, condition: IGNORE(), primaryKey: pk(4),
      updateOfAttributeColumns: [{ PUT: [{ c: Long.fromNumber(v), timestamp: base + v * 1000 }] }] });
  }
  await client.updateRow({ tableName: table, condition: IGNORE(), primaryKey: pk(4),
    updateOfAttributeColumns: [{ PUT: [{ other: 'o' }] }] });

  let row = await getRow(4, { columnsToGet: ['c'], maxVersions: 2 });
  assert.deepEqual(row.attributes.map((a) => [a.columnName, a.columnValue.toString(10), num(a.timestamp)]),
    [['c', '2', base + 2000], ['c', '1', base + 1000]]);

  row = await getRow(4, { columnsToGet: ['c'], maxVersions: 3,
    timeRange: { startTime: base, endTime: base + 2000 } });
  assert.deepEqual(row.attributes.map((a) => num(a.timestamp)), [base + 1000, base]);

  row = await getRow(4, { maxVersions: 3, timeRange: { specificTime: base + 1000 } });
  assert.deepEqual(row.attributes.map((a) => [a.columnName, num(a.timestamp)]), [['c', base + 1000]]);
});

test('non-finite doubles are rejected', async () => {
  for (const v of [NaN, Infinity, -Infinity]) {
    await expectOtsError(() => client.putRow({ tableName: table, condition: IGNORE(), primaryKey: pk(5),
      attributeColumns: [{ d: v }] }), 400, 'OTSParameterInvalid');
  }
  assert.equal(await getRow(5), null);
});

test('primary key type mismatch is 400 OTSInvalidPK', async () => {
  await expectOtsError(() => client.putRow({ tableName: table, condition: IGNORE(),
    primaryKey: [{ id: 'string-not-int' }], attributeColumns: [{ a: 1 }] }), 400, 'OTSInvalidPK');
  // BINARY value for an INTEGER column
  await expectOtsError(() => client.getRow({ tableName: table, primaryKey: [{ id: Buffer.from('x') }] }),
    400, 'OTSInvalidPK');
});

test('row existence conditions', async () => {
  const EXIST = new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, null);
  const NOT_EXIST = new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_NOT_EXIST, null);
  await expectOtsError(() => client.updateRow({ tableName: table, condition: EXIST, primaryKey: pk(6),
    updateOfAttributeColumns: [{ PUT: [{ a: 'x' }] }] }), 403, 'OTSConditionCheckFail');
  assert.equal(await getRow(6), null);
  await client.putRow({ tableName: table, condition: NOT_EXIST, primaryKey: pk(6),
    attributeColumns: [{ a: 'first' }] });
  await expectOtsError(() => client.putRow({ tableName: table, condition: NOT_EXIST, primaryKey: pk(6),
    attributeColumns: [{ a: 'second' }] }), 403, 'OTSConditionCheckFail');
  await client.putRow({ tableName: table, condition: EXIST, primaryKey: pk(6),
    attributeColumns: [{ a: 'third' }] });
  assert.deepEqual(attrs(await getRow(6)), { a: 'third' });
  await client.deleteRow({ tableName: table, condition: EXIST, primaryKey: pk(6) });
  await expectOtsError(() => client.deleteRow({ tableName: table, condition: EXIST, primaryKey: pk(6) }),
    403, 'OTSConditionCheckFail');
});

test('column conditions: single and composite', async () => {
  const CT = TableStore.ComparatorType;
  const LO = TableStore.LogicalOperator;
  await client.putRow({ tableName: table, condition: IGNORE(), primaryKey: pk(7),
    attributeColumns: [{ price: Long.fromNumber(100) }, { name: 'apple' }] });

  const update = (cond, v) => client.updateRow({ tableName: table, primaryKey: pk(7),
    condition: new TableStore.Condition(TableStore.RowExistenceExpectation.EXPECT_EXIST, cond),
    updateOfAttributeColumns: [{ PUT: [{ touched: v }] }] });

  await update(new TableStore.SingleColumnCondition('price', Long.fromNumber(100), CT.EQUAL), 'eq');
  assert.equal(attrs(await getRow(7)).touched, 'eq');
  await expectOtsError(() => update(
    new TableStore.SingleColumnCondition('price', Long.fromNumber(100), CT.GREATER_THAN), 'gt'),
  403, 'OTSConditionCheckFail');
  assert.equal(attrs(await getRow(7)).touched, 'eq');

  const and = new TableStore.CompositeCondition(LO.AND);
  and.addSubCondition(new TableStore.SingleColumnCondition('price', Long.fromNumber(50), CT.GREATER_EQUAL));
  and.addSubCondition(new TableStore.SingleColumnCondition('name', 'apple', CT.EQUAL));
  await update(and, 'and');
  assert.equal(attrs(await getRow(7)).touched, 'and');

  const or = new TableStore.CompositeCondition(LO.OR);
  or.addSubCondition(new TableStore.SingleColumnCondition('price', Long.fromNumber(1), CT.EQUAL));
  or.addSubCondition(new TableStore.SingleColumnCondition('name', 'pear', CT.EQUAL));
  await expectOtsError(() => update(or, 'or'), 403, 'OTSConditionCheckFail');

  const not = new TableStore.CompositeCondition(LO.NOT);
  not.addSubCondition(new TableStore.SingleColumnCondition('name', 'pear', CT.EQUAL));
  await update(not, 'not');
  assert.equal(attrs(await getRow(7)).touched, 'not');

  // pass_if_missing
  await update(new TableStore.SingleColumnCondition('absent', 'x', CT.EQUAL, true), 'missing-ok');
  await expectOtsError(() => update(
    new TableStore.SingleColumnCondition('absent', 'x', CT.EQUAL, false), 'missing-fail'),
  403, 'OTSConditionCheckFail');
  assert.equal(attrs(await getRow(7)).touched, 'missing-ok');
});

test('getRow filters, including latestVersionOnly=false', async () => {
  const CT = TableStore.ComparatorType;
  const base = Date.now() - 10000;
  await client.updateRow({ tableName: table, condition: IGNORE(), primaryKey: pk(8),
    updateOfAttributeColumns: [{ PUT: [{ v: Long.fromNumber(5), timestamp: base }] }] });
  await client.updateRow({ tableName: table, condition: IGNORE(), primaryKey: pk(8),
    updateOfAttributeColumns: [{ PUT: [{ v: Long.fromNumber(1), timestamp: base + 1000 }] }] });

  assert.ok(await getRow(8, { columnFilter: new TableStore.SingleColumnCondition('v', Long.fromNumber(1), CT.EQUAL) }));
  assert.equal(await getRow(8, {
    columnFilter: new TableStore.SingleColumnCondition('v', Long.fromNumber(5), CT.EQUAL) }), null);
  const anyVersion = new TableStore.SingleColumnCondition('v', Long.fromNumber(5), CT.EQUAL, true, false);
  const row = await getRow(8, { columnFilter: anyVersion });
  assert.ok(row);
  assert.equal(attrs(row).v.toString(10), '1');
});

test('auto-increment primary key with returnContent Primarykey', async () => {
  const name = uniqueName('nai');
  await client.createTable({
    tableMeta: { tableName: name, primaryKey: [
      { name: 'part', type: 'STRING' }, { name: 'seq', type: 'INTEGER', option: 'AUTO_INCREMENT' }] },
    reservedThroughput: { capacityUnit: { read: 0, write: 0 } },
    tableOptions: { timeToLive: -1, maxVersions: 1 },
  });
  try {
    const seqs = [];
    for (let i = 0; i < 5; i++) {
      const data = await client.putRow({ tableName: name, condition: IGNORE(),
        primaryKey: [{ part: 'p' }, { seq: TableStore.PK_AUTO_INCR }],
        attributeColumns: [{ i: Long.fromNumber(i) }],
        returnContent: { returnType: TableStore.ReturnType.Primarykey } });
      assert.equal(data.row.primaryKey.length, 2);
      assert.equal(data.row.primaryKey[0].name, 'part');
      assert.equal(data.row.primaryKey[0].value, 'p');
      assert.equal(data.row.primaryKey[1].name, 'seq');
      seqs.push(BigInt(data.row.primaryKey[1].value.toString(10)));
    }
    for (let i = 1; i < seqs.length; i++) {
      assert.ok(seqs[i] > seqs[i - 1], `not increasing: ${seqs}`);
    }
    const got = await client.getRow({ tableName: name,
      primaryKey: [{ part: 'p' }, { seq: Long.fromString(seqs[2].toString()) }] });
    assert.equal(attrs(got.row).i.toString(10), '2');
  } finally {
    await client.deleteTable({ tableName: name });
  }
});
