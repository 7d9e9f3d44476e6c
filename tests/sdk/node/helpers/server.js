'use strict';
// Start/stop a TableSafe server for the Node SDK compatibility tests.
//
// Environment: TABLESAFE_BIN (default ~/.cache/tablesafe/target/release/tablesafe)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const TableStore = require('tablestore');

const BIN = process.env.TABLESAFE_BIN ||
  path.join(os.homedir(), '.cache', 'tablesafe', 'target', 'debug', 'tablesafe');
const ACCESS_KEY_ID = 'tsTestAccessKeyId';
const ACCESS_KEY_SECRET = 'tsTestAccessKeySecret0123456789';
const INSTANCE = 'tstest';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function logTail(logPath, lines = 40) {
  try {
    return fs.readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
  } catch (e) {
    return '(no log)';
  }
}

async function spawnOnce(dataDir, logPath, port) {
  const logFd = fs.openSync(logPath, 'a');
  fs.writeSync(logFd, `\n==== starting tablesafe on port ${port} ====\n`);
  const proc = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`,
    '--instance', INSTANCE], {
    env: Object.assign({}, process.env, {
      TABLESAFE_ACCESS_KEY_ID: ACCESS_KEY_ID,
      TABLESAFE_ACCESS_KEY_SECRET: ACCESS_KEY_SECRET,
    }),
    stdio: ['ignore', logFd, logFd],
  });
  fs.closeSync(logFd);
  let exited = null;
  proc.once('exit', (code, signal) => { exited = { code, signal }; });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(`tablesafe exited during startup (${JSON.stringify(exited)}); log tail:\n` +
        logTail(logPath));
    }
    if (await canConnect(port)) return { proc, exitedRef: () => exited };
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`tablesafe did not accept connections on ${port} within 30s; log tail:\n` +
    logTail(logPath));
}

async function startServer() {
  if (!fs.existsSync(BIN)) {
    throw new Error(`tablesafe binary not found at ${BIN} (set TABLESAFE_BIN or build it first)`);
  }
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tablesafe-node-'));
  const dataDir = path.join(base, 'data');
  const logPath = path.join(base, 'server.log');
  fs.mkdirSync(dataDir);
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      const { proc, exitedRef } = await spawnOnce(dataDir, logPath, port);
      return makeHandle({ proc, exitedRef, port, base, dataDir, logPath });
    } catch (e) {
      lastErr = e;
    }
  }
  throw lastErr;
}

function makeHandle(h) {
  const endpoint = `http://127.0.0.1:${h.port}`;
  return {
    port: h.port,
    endpoint,
    dataDir: h.dataDir,
    logPath: h.logPath,
    logTail: (n) => logTail(h.logPath, n),
    alive: () => h.exitedRef() === null,
    client(opts = {}) {
      return new TableStore.Client(Object.assign({
        accessKeyId: ACCESS_KEY_ID,
        secretAccessKey: ACCESS_KEY_SECRET,
        endpoint,
        instancename: INSTANCE,
        maxRetries: 0,
      }, opts));
    },
    async stop() {
      if (h.exitedRef() === null) {
        const exited = new Promise((resolve) => h.proc.once('exit', resolve));
        h.proc.kill('SIGTERM');
        const timer = setTimeout(() => h.proc.kill('SIGKILL'), 20000);
        await exited;
        clearTimeout(timer);
      }
      if (!process.env.TABLESAFE_KEEP_TMP) {
        fs.rmSync(h.base, { recursive: true, force: true });
      }
    },
  };
}

let nameCounter = 0;
function uniqueName(prefix = 't') {
  nameCounter += 1;
  return `${prefix}_${process.pid}_${nameCounter}_${Math.random().toString(16).slice(2, 8)}`;
}

// Run `fn` and return the error it rejects with (fails if it resolves).
async function expectReject(fn) {
  try {
    const res = await fn();
    throw Object.assign(new Error('expected the call to fail but it succeeded: ' +
      JSON.stringify(res, (k, v) => (typeof v === 'bigint' ? v.toString() : v)).slice(0, 300)),
    { unexpectedSuccess: true });
  } catch (e) {
    if (e.unexpectedSuccess) throw e;
    return e;
  }
}

// Node 5.6.5 never decodes the protobuf Error: err.code is the HTTP status and err.message
// holds the raw Error bytes (which contain the code string).
async function expectOtsError(fn, status, code) {
  const err = await expectReject(fn);
  const assert = require('node:assert/strict');
  assert.equal(err.code, status, `expected HTTP ${status} ${code}, got code=${err.code} ` +
    `message=${JSON.stringify(String(err.message)).slice(0, 300)}`);
  if (code) {
    const codes = Array.isArray(code) ? code : [code];
    assert.ok(codes.some((c) => String(err.message).includes(c)),
      `expected one of ${codes} in error message, got ${JSON.stringify(String(err.message))}`);
  }
  return err;
}

function num(x) {
  if (x === null || x === undefined) return x;
  if (typeof x === 'number') return x;
  if (typeof x.toNumber === 'function') return x.toNumber();
  return Number(x);
}

// {name: value} using the newest version of each attribute column.
function attrs(row) {
  const out = {};
  const ts = {};
  if (!row || !row.attributes) return out;
  for (const a of row.attributes) {
    const t = num(a.timestamp);
    if (!(a.columnName in ts) || t > ts[a.columnName]) {
      ts[a.columnName] = t;
      out[a.columnName] = a.columnValue;
    }
  }
  return out;
}

function pkObj(primaryKey) {
  // decoded [{name, value}] -> request form [{name: value}]
  return primaryKey.map((c) => ({ [c.name]: c.value }));
}

module.exports = {
  ACCESS_KEY_ID, ACCESS_KEY_SECRET, INSTANCE, BIN,
  startServer, uniqueName, expectReject, expectOtsError, num, attrs, pkObj, sleep,
};
