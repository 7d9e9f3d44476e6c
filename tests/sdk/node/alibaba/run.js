'use strict';
// Run the Node SDK's OWN tests (npm `tablestore` 5.6.5, node_modules/tablestore/test/) against a
// TableSafe server, unchanged, with mocha.
//
// The SDK's tests get their client from `require('../samples/client')`, which builds it from
// the environment variables accessKeyId / secretAccessKey / endpoint / instancename (meant to
// point at an Alibaba Cloud instance). Instead of that module this runner puts into require's
// cache a client built with the same four options pointing at a TableSafe server it started
// with helpers/server.js (its keys and instance): the SDK's test files then run as shipped,
// with only endpoint and keys adapted. Substituting the module, rather than exporting those
// variables, means nothing in the caller's environment can point the tests elsewhere, and lets
// the runner wrap the client (below).
//
// Two things help reading failures without changing what a test sends or checks: the client is
// wrapped to note every error an SDK call answers (printed with a failing test), and unhandled
// promise rejections are rethrown (see below).
//
// Tests listed in EXPECTED_FAILURES run too, but their failures are reported as expected and
// do not fail the run; one that passes is printed as UNEXPECTEDLY PASSED (still exit 0).
// Any other failing test makes the exit code 1.
//
//   cd tests/sdk/node && node alibaba/run.js
//   TABLESAFE_BIN   server binary (default ~/.cache/tablesafe/target/release/tablesafe)

const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');

process.env.TABLESAFE_BIN = process.env.TABLESAFE_BIN ||
  path.join(os.homedir(), '.cache', 'tablesafe', 'target', 'release', 'tablesafe');

const SDK_DIR = path.dirname(require.resolve('tablestore/package.json'));
const SDK_TEST_DIR = path.join(SDK_DIR, 'test');

// The SDK test files run, in this order (paths under node_modules/tablestore/test/).
const FILES = [
  'data_opration.test.js', // PutRow/GetRow/GetRange on a 3-column (STRING, INTEGER, BINARY) PK
  'table.test.js', // CreateTable/DescribeTable/UpdateTable with tableOptions.allowUpdate
  'protocol/plain_buffer.test.js', // client-side PlainBuffer encode/decode, no server
  'globalIndex.test.js', // CreateTable with indexMetas, CreateIndex, DescribeTable, DropIndex
];

// Full mocha titles of the tests expected to fail, with the reason (none now: the global
// index tests pass since TableSafe has secondary indexes). A test listed here still runs.
const EXPECTED_FAILURES = {};

let Mocha;
try {
  Mocha = require('mocha');
} catch (e) {
  console.error('alibaba/run.js: mocha is not installed; run `npm ci` in tests/sdk/node');
  process.exit(2);
}
const TableStore = require('tablestore');
const { startServer, ACCESS_KEY_ID, ACCESS_KEY_SECRET, INSTANCE } = require('../helpers/server');

// Put `client` into require's cache as node_modules/tablestore/samples/client.js.
function substituteSampleClient(client) {
  const file = require.resolve('tablestore/samples/client');
  const mod = new Module(file, module);
  mod.filename = file;
  mod.loaded = true;
  mod.exports = client;
  require.cache[file] = mod;
}

// The SDK calls callbacks inside async functions, so an assert failing in a test's callback
// becomes an unhandled rejection, which mocha ignores (the test then only times out).
// Rethrown, it is an uncaught exception, with which mocha fails the running test.
process.on('unhandledRejection', (reason) => { throw reason; });

// One line. An SDK error's message is the server's protobuf Error {code, message} as text.
function errText(err) {
  if (!err) return '';
  let text = String(err.message || err).split(/\n\s+at /)[0]
    .replace(/\n[\s\S](\w+)\x12(?:\uFFFD[\s\S]|[\s\S])/g, '$1: ');
  if (err.name === 'AssertionError') text += ` (assert ${err.operator} ${util.inspect(err.expected)})`;
  const status = typeof err.code === 'number' ? `HTTP ${err.code} ` : '';
  // eslint-disable-next-line no-control-regex
  return (status + text).replace(/[\x00-\x1f\s]+/g, ' ').trim().slice(0, 300);
}

// `client` with each callback-style call noting the error it is answered with.
function noteErrors(client, note) {
  return new Proxy(client, {
    get(target, prop) {
      const fn = target[prop];
      if (typeof fn !== 'function') return fn;
      return function (...args) {
        const cb = args[args.length - 1];
        if (typeof cb === 'function') {
          args[args.length - 1] = function (err, data) {
            if (err) note(`${String(prop)} answered ${errText(err)}`);
            return cb.call(this, err, data);
          };
        }
        return fn.apply(target, args);
      };
    },
  });
}

function runMocha(client) {
  return new Promise((resolve) => {
    let notes = []; // SDK errors seen during the running test
    substituteSampleClient(noteErrors(client, (n) => notes.push(n)));
    const mocha = new Mocha({ reporter: 'spec' });
    for (const f of FILES) mocha.addFile(path.join(SDK_TEST_DIR, f));
    const results = new Map(); // key -> {file, title, ok, error, notes}
    const key = (t) => `${t.file}\0${t.fullTitle()}`;
    const runner = mocha.run();
    runner.on('test', () => { notes = []; });
    runner.on('pass', (t) => {
      if (!results.has(key(t))) results.set(key(t), { file: t.file, title: t.fullTitle(), ok: true });
    });
    // A failure wins over an earlier pass (e.g. "done() called multiple times").
    runner.on('fail', (t, err) => {
      results.set(key(t), {
        file: t.file, title: t.fullTitle(), ok: false, error: errText(err), notes: notes.slice(),
      });
    });
    runner.on('end', () => resolve([...results.values()]));
  });
}

async function main() {
  const server = await startServer();
  let results;
  try {
    const client = new TableStore.Client({
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: ACCESS_KEY_SECRET,
      endpoint: server.endpoint,
      instancename: INSTANCE,
    });
    results = await runMocha(client);
  } finally {
    if (!server.alive()) console.error('tablesafe exited during the run; log tail:\n' + server.logTail());
    await server.stop();
  }

  let passed = 0; let failed = 0; let xfailed = 0; let xpassed = 0;
  console.log('\n=== SDK tests (tablestore 5.6.5 test/) against TableSafe ===');
  for (const r of results) {
    const rel = r.file ? path.relative(SDK_TEST_DIR, r.file) : '(no file)';
    const why = EXPECTED_FAILURES[r.title];
    let label;
    if (why !== undefined && r.ok) { label = 'UNEXPECTEDLY PASSED'; xpassed++; }
    else if (why !== undefined) { label = 'XFAIL'; xfailed++; }
    else if (r.ok) { label = 'PASS'; passed++; }
    else { label = 'FAIL'; failed++; }
    console.log(`${label.padEnd(5)}  ${rel}: ${r.title}`);
    if (!r.ok) {
      console.log(`       ${r.error}`);
      for (const n of r.notes || []) console.log(`       SDK call: ${n}`);
    }
    if (why !== undefined) console.log(`       (${why})`);
  }
  const seen = new Set(results.map((r) => r.title));
  const missing = Object.keys(EXPECTED_FAILURES).filter((t) => !seen.has(t));
  for (const t of missing) console.log(`NOT RUN  expected-failure entry matched no test: ${t}`);
  if (xpassed) {
    console.log(`\n${xpassed} test(s) in EXPECTED_FAILURES UNEXPECTEDLY PASSED: ` +
      'remove them from EXPECTED_FAILURES in tests/sdk/node/alibaba/run.js');
  }
  console.log(`\n${xfailed} expected failure(s), ${xpassed} unexpected pass(es)`);
  console.log(`alibaba: ${passed + xpassed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error('alibaba/run.js:', err);
  process.exit(1);
});
