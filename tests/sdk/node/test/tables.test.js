'use strict';
// Table APIs through the official Node SDK (tablestore 5.6.5).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const TableStore = require('tablestore');
const { startServer, uniqueName, expectOtsError, num } = require('../helpers/server');

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
    assert.ok(alive, 'tablesafe died during the Node table tests; log tail:\n' + tail);
  }
});

function createParams(name, primaryKey, tableOptions, cu) {
  return {
    tableMeta: { tableName: name, primaryKey },
    reservedThroughput: { capacityUnit: cu || { read: 0, write: 0 } },
    tableOptions: tableOptions || { timeToLive: -1, maxVersions: 1 },
  };
}

test('create, list, describe, delete', async () => {
  const name = uniqueName('ntbl');
  await client.createTable(createParams(name, [
    { name: 's', type: 'STRING' },
    { name: 'i', type: 'INTEGER' },
    { name: 'b', type: 'BINARY' },
    { name: 'a', type: 'INTEGER', option: 'AUTO_INCREMENT' },
  ], { timeToLive: 86400 * 2, maxVersions: 3, maxTimeDeviation: 3600 }, { read: 1, write: 2 }));

  const list = await client.listTable({});
  assert.ok(list.tableNames.includes(name), JSON.stringify(list.tableNames));

  const desc = await client.describeTable({ tableName: name });
  assert.equal(desc.tableMeta.tableName, name);
  assert.deepEqual(desc.tableMeta.primaryKey.map((c) => [c.name, c.type]), [
    ['s', TableStore.PrimaryKeyType.STRING],
    ['i', TableStore.PrimaryKeyType.INTEGER],
    ['b', TableStore.PrimaryKeyType.BINARY],
    ['a', TableStore.PrimaryKeyType.INTEGER],
  ]);
  assert.equal(desc.tableMeta.primaryKey[3].option, TableStore.PrimaryKeyOption.AUTO_INCREMENT);
  // protobufjs reports absent optional enums as the enum's first value, so
  // check presence rather than truthiness.
  assert.ok(!Object.prototype.hasOwnProperty.call(desc.tableMeta.primaryKey[0], 'option'));
  assert.equal(num(desc.tableOptions.timeToLive), 86400 * 2);
  assert.equal(num(desc.tableOptions.maxVersions), 3);
  assert.equal(num(desc.tableOptions.deviationCellVersionInSec), 3600);
  assert.equal(num(desc.reservedThroughputDetails.capacityUnit.read), 1);
  assert.equal(num(desc.reservedThroughputDetails.capacityUnit.write), 2);

  await client.deleteTable({ tableName: name });
  const list2 = await client.listTable({});
  assert.ok(!list2.tableNames.includes(name));
  await expectOtsError(() => client.describeTable({ tableName: name }), 404, 'OTSObjectNotExist');
});

test('update table options', async () => {
  const name = uniqueName('nupd');
  await client.createTable(createParams(name, [{ name: 'id', type: 'INTEGER' }]));
  try {
    const resp = await client.updateTable({
      tableName: name,
      tableOptions: { timeToLive: 86400 * 5, maxVersions: 4, maxTimeDeviation: 7200 },
    });
    assert.equal(num(resp.tableOptions.timeToLive), 86400 * 5);
    assert.equal(num(resp.tableOptions.maxVersions), 4);
    const desc = await client.describeTable({ tableName: name });
    assert.equal(num(desc.tableOptions.timeToLive), 86400 * 5);
    assert.equal(num(desc.tableOptions.maxVersions), 4);
    assert.equal(num(desc.tableOptions.deviationCellVersionInSec), 7200);
  } finally {
    await client.deleteTable({ tableName: name });
  }
});

test('duplicate create is 409 OTSObjectAlreadyExist', async () => {
  const name = uniqueName('ndup');
  await client.createTable(createParams(name, [{ name: 'id', type: 'INTEGER' }]));
  try {
    await expectOtsError(() => client.createTable(createParams(name, [{ name: 'id', type: 'INTEGER' }])),
      409, 'OTSObjectAlreadyExist');
  } finally {
    await client.deleteTable({ tableName: name });
  }
});

test('missing table errors are 404 OTSObjectNotExist', async () => {
  const name = uniqueName('nmissing');
  await expectOtsError(() => client.describeTable({ tableName: name }), 404, 'OTSObjectNotExist');
  await expectOtsError(() => client.deleteTable({ tableName: name }), 404, 'OTSObjectNotExist');
  await expectOtsError(() => client.getRow({
    tableName: name, primaryKey: [{ id: TableStore.Long.fromNumber(1) }],
  }), 404, 'OTSObjectNotExist');
});

test('invalid table definitions are 400 OTSParameterInvalid', async () => {
  const pk = [{ name: 'id', type: 'INTEGER' }];
  await expectOtsError(() => client.createTable(createParams('bad-name', pk)), 400, 'OTSParameterInvalid');
  await expectOtsError(() => client.createTable(createParams('9starts_with_digit', pk)), 400, 'OTSParameterInvalid');
  await expectOtsError(() => client.createTable(createParams('T'.repeat(256), pk)), 400, 'OTSParameterInvalid');
  await expectOtsError(() => client.createTable(createParams(uniqueName('n5'), [
    { name: 'a', type: 'INTEGER' }, { name: 'b', type: 'INTEGER' }, { name: 'c', type: 'INTEGER' },
    { name: 'd', type: 'INTEGER' }, { name: 'e', type: 'INTEGER' }])), 400, 'OTSParameterInvalid');
  await expectOtsError(() => client.createTable(createParams(uniqueName('n0'), [])), 400, 'OTSParameterInvalid');
  await expectOtsError(() => client.createTable(createParams(uniqueName('nttl'), pk,
    { timeToLive: -2, maxVersions: 1 })), 400, 'OTSParameterInvalid');
});

test('wrong secret is 403 OTSAuthFailed', async () => {
  const bad = srv.client({ secretAccessKey: 'wrong-secret' });
  await expectOtsError(() => bad.listTable({}), 403, 'OTSAuthFailed');
});
