#!/usr/bin/env node
// fault-proxy.js — a fault-injecting HTTP reverse proxy for pgark's S3 tests.
//
// It sits between pgark and the S3 test server (plain http on loopback) and
// forwards every request byte-transparently: method, path and query exactly as
// received (SigV4 signs them), every header as sent, Host included (the client
// talks to the proxy, so it signs the proxy's host:port, and the S3 test server
// checks the signature against the Host it receives, which is that one).
// Bodies are streamed both ways; client and upstream connections are kept alive.
//
// A control API lives on the same port under /__fault__ (an impossible S3
// bucket name, so it never collides with a real request):
//   POST   /__fault__      add a rule (JSON, below); answers {"id": N}
//   GET    /__fault__      the rules, with how many times each has fired
//   DELETE /__fault__      remove every rule
//   GET    /__fault__/log  every request seen, in order (JSON list)
//   DELETE /__fault__/log  forget them
// A rule:
//   {"match": {"method": "PUT", "path": "regex", "query": "regex",
//              "headers": {"name": "regex"}},        (all optional; all must match)
//    "action": A, "count": N (default 1; -1 = until cleared), "skip": K (let the
//    first K matching requests through first), and the options of the action}
// Actions (the first matching rule with something left fires; others pass):
//   500, 503, slowdown   an S3 <Error> (InternalError, ServiceUnavailable, SlowDown)
//                        after reading the request body; "forward": true sends the
//                        request upstream first (it happened, but the client is told
//                        it failed)
//   error                the same with your own "status" and "code"
//   error200             forward upstream, then answer 200 with an <Error> body
//                        (CompleteMultipartUpload can do that);
//   error200_noforward   the same without forwarding
//   drop                 read the request, then close the connection with no answer;
//                        "forward": true forwards it first (the answer is lost)
//   drop_body            close the connection as soon as part of the request body
//                        (or the headers, when there is no body) has arrived
//   stall                "forward" (default true): forward, hold the answer
//                        "stall_ms", then send it ("then": "respond", default) or
//                        drop; "forward": false holds the request, then forwards it
//                        or drops it
//   truncate             forward; send the status, the headers (Content-Length as
//                        upstream said) and the first "truncate_at" body bytes, then
//                        close the connection
//   stall_body           the same, but hold the connection "stall_ms" before closing
//   corrupt              forward; flip one bit of the body at "corrupt_at" (default:
//                        the middle)
// Log entries: {seq, time (ISO), t (epoch seconds), t_end (when the answer ended or the
// connection closed), conn (the client's port: one per client connection), method, path,
// query, headers (lower-case names; no
// authorization), status (what the client got; null if none), fault (action or
// null), upstream_status, outcome ("ok", "client_closed", "dropped", "truncated",
// "upstream_error")}.
//
// Usage: node fault-proxy.js --upstream http://127.0.0.1:PORT [--port N]
//        [--address 127.0.0.1] [--port-file FILE]
// Prints the port it listens on (one line); with --port-file also writes it there
// (atomically), for a parent process to wait for.
'use strict';

const http = require('http');
const fs = require('fs');

function parseArgs(argv) {
  const o = { address: '127.0.0.1', port: 0 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`${a}: needs a value`);
    if (a === '--upstream') o.upstream = new URL(v);
    else if (a === '--port') o.port = Number(v);
    else if (a === '--address') o.address = v;
    else if (a === '--port-file') o.portFile = v;
    else throw new Error(`unknown option ${a}`);
    i++;
  }
  if (!o.upstream || o.upstream.protocol !== 'http:') throw new Error('--upstream http://HOST:PORT is required');
  return o;
}

const opt = parseArgs(process.argv);
const upstreamAgent = new http.Agent({ keepAlive: true });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const ACTIONS = new Set(['500', '503', 'slowdown', 'error', 'error200', 'error200_noforward', 'drop', 'drop_body',
  'stall', 'truncate', 'stall_body', 'corrupt']);
let rules = [];
let nextRule = 1;
let log = [];
let seq = 0;

// ---------------------------------------------------------------- matching
function matches(rule, req, path, query) {
  const m = rule.match || {};
  if (m.method && m.method.toUpperCase() !== req.method) return false;
  if (m.path !== undefined && !new RegExp(m.path).test(path)) return false;
  if (m.query !== undefined && !new RegExp(m.query).test(query)) return false;
  for (const [name, re] of Object.entries(m.headers || {})) {
    const v = req.headers[name.toLowerCase()];
    if (v === undefined || !new RegExp(re).test(String(v))) return false;
  }
  return true;
}

// The rule that fires for this request, if any (counts are consumed here).
function pickRule(req, path, query) {
  for (const r of rules) {
    if (r.count === 0 || !matches(r, req, path, query)) continue;
    if (r.skip > 0) { r.skip--; continue; }
    if (r.count > 0) r.count--;
    r.fired++;
    return r;
  }
  return null;
}

// ---------------------------------------------------------------- helpers
function s3Error(res, status, code, entry) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>injected by fault-proxy</Message>` +
    `<RequestId>fault-${entry.seq}</RequestId></Error>\n`;
  entry.status = status;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function drain(req) {
  return new Promise((resolve) => {
    if (req.complete) return resolve();
    req.on('end', resolve); req.on('error', resolve); req.on('close', resolve);
    req.resume();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Close the client connection without (the rest of) an answer.
function drop(req, entry, outcome) {
  entry.outcome = outcome || 'dropped';
  req.socket.destroy();
}

// Send the request upstream, streaming its body (or sending `body`, when it has
// been read already); resolves with the upstream response (not yet read) or
// rejects on a connection error.
function forward(req, body) {
  return new Promise((resolve, reject) => {
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const n = req.rawHeaders[i].toLowerCase();
      if (n === 'connection' || n === 'keep-alive' || n === 'proxy-connection') continue;
      headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    const up = http.request({
      host: opt.upstream.hostname, port: opt.upstream.port, method: req.method,
      path: req.url, headers, setHost: false, agent: upstreamAgent,
    }, resolve);
    up.on('error', reject);
    if (body) return up.end(body);
    req.on('close', () => { if (!req.complete) up.destroy(); });
    return req.pipe(up);
  });
}

function readBody(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

// The upstream response's headers, without hop-by-hop ones (framing is Node's
// business: Content-Length is kept, chunked is redone if needed).
function responseHeaders(ures) {
  const h = [];
  for (let i = 0; i < ures.rawHeaders.length; i += 2) {
    if (!HOP.has(ures.rawHeaders[i].toLowerCase())) h.push(ures.rawHeaders[i], ures.rawHeaders[i + 1]);
  }
  return h;
}

// ---------------------------------------------------------------- the proxy
async function proxy(req, res, rule, entry) {
  const a = rule ? String(rule.action) : 'pass';
  const fwd = rule && rule.forward !== undefined ? !!rule.forward : (a === 'error200' || a === 'stall');
  const errors = { 500: [500, 'InternalError'], 503: [503, 'ServiceUnavailable'],
    slowdown: [503, 'SlowDown'], error: [rule && rule.status || 500, rule && rule.code || 'InternalError'],
    error200: [200, 'InternalError'], error200_noforward: [200, 'InternalError'] };

  if (a === 'drop_body') {
    if (req.complete || (!req.headers['content-length'] && !req.headers['transfer-encoding'])) return drop(req, entry);
    return req.once('data', () => drop(req, entry));
  }
  let held = null;
  if (a === 'stall' && !fwd) {
    held = await readBody(req);
    await sleep(rule.stall_ms || 0);
    if (req.socket.destroyed) return undefined; // the client gave up waiting
    if (rule.then === 'drop') return drop(req, entry);
  }
  let ures = null;
  if (fwd || !(a in errors || a === 'drop' || a === 'stall') || held) {
    try {
      ures = await forward(req, held);
    } catch (e) {
      entry.outcome = 'upstream_error';
      entry.error = e.code || e.message;
      if (!res.headersSent && !req.socket.destroyed) s3Error(res, 502, 'BadGateway', entry);
      return undefined;
    }
    entry.upstream_status = ures.statusCode;
  } else {
    await drain(req);
  }

  if (a in errors) {
    if (ures) await readBody(ures);
    return s3Error(res, errors[a][0], errors[a][1], entry);
  }
  if (a === 'drop') {
    if (ures) await readBody(ures);
    return drop(req, entry);
  }
  if (a === 'stall' && fwd) {
    const body = await readBody(ures);
    await sleep(rule.stall_ms || 0);
    if (req.socket.destroyed) return undefined; // the client gave up waiting
    if (rule.then === 'drop') return drop(req, entry);
    entry.status = ures.statusCode;
    res.writeHead(ures.statusCode, ures.statusMessage, responseHeaders(ures));
    return res.end(body);
  }
  if (a === 'truncate' || a === 'stall_body') {
    const at = rule.truncate_at || 0;
    const body = await readBody(ures);
    entry.status = ures.statusCode;
    res.writeHead(ures.statusCode, ures.statusMessage, responseHeaders(ures));
    res.flushHeaders();
    const part = body.subarray(0, Math.min(at, body.length));
    const cut = () => drop(req, entry, body.length > at ? 'truncated' : 'dropped');
    // let the bytes reach the socket before it is destroyed
    const then = () => (a === 'stall_body' ? setTimeout(cut, rule.stall_ms || 0) : cut());
    return part.length ? res.write(part, then) : setImmediate(then);
  }
  if (a === 'corrupt') {
    const body = await readBody(ures);
    if (body.length) {
      const at = Math.min(rule.corrupt_at !== undefined ? rule.corrupt_at : body.length >> 1, body.length - 1);
      body[at] ^= 0x01;
    }
    entry.status = ures.statusCode;
    res.writeHead(ures.statusCode, ures.statusMessage, responseHeaders(ures));
    return res.end(body);
  }
  // pass-through (or a stall that ends by forwarding): stream the answer
  entry.status = ures.statusCode;
  res.writeHead(ures.statusCode, ures.statusMessage, responseHeaders(ures));
  ures.pipe(res);
  ures.on('aborted', () => drop(req, entry, 'upstream_error'));
  res.on('close', () => { if (!res.writableFinished) ures.destroy(); });
  return undefined;
}

// ---------------------------------------------------------------- control API
function control(req, res, path) {
  const send = (status, obj) => {
    const body = JSON.stringify(obj) + '\n';
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  readBody(req).then((body) => {
    if (path === '/__fault__/log') {
      if (req.method === 'GET') return send(200, log);
      if (req.method === 'DELETE') { log = []; return send(200, { cleared: true }); }
    } else if (path === '/__fault__') {
      if (req.method === 'GET') return send(200, rules);
      if (req.method === 'DELETE') { rules = []; return send(200, { cleared: true }); }
      if (req.method === 'POST') {
        let r;
        try {
          r = JSON.parse(body.toString('utf8'));
          if (!r || !ACTIONS.has(String(r.action))) throw new Error(`action must be one of ${[...ACTIONS].join(' ')}`);
          for (const re of [r.match && r.match.path, r.match && r.match.query]) if (re !== undefined) new RegExp(re);
        } catch (e) {
          return send(400, { error: String(e.message || e) });
        }
        r.id = nextRule++;
        r.count = r.count === undefined ? 1 : Number(r.count);
        r.skip = Number(r.skip || 0);
        r.fired = 0;
        rules.push(r);
        return send(200, { id: r.id });
      }
    }
    return send(404, { error: `no control endpoint ${req.method} ${path}` });
  }, () => {});
}

// ---------------------------------------------------------------- server
const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  if (path === '/__fault__' || path.startsWith('/__fault__/')) return control(req, res, path);

  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (k !== 'authorization') headers[k] = v;
  const rule = pickRule(req, path, query);
  const entry = { seq: ++seq, time: new Date().toISOString(), t: Date.now() / 1000, t_end: null,
    conn: req.socket.remotePort, method: req.method, path, query, headers,
    status: null, fault: rule ? String(rule.action) : null, upstream_status: null, outcome: 'ok' };
  log.push(entry);
  if (log.length > 20000) log.shift();
  res.on('close', () => {
    entry.t_end = Date.now() / 1000;
    if (!res.writableFinished && entry.outcome === 'ok') entry.outcome = 'client_closed';
  });
  req.on('error', () => {});
  res.on('error', () => {});
  proxy(req, res, rule, entry).catch((e) => {
    entry.outcome = 'upstream_error';
    entry.error = String(e && e.message || e);
    req.socket.destroy();
  });
  return undefined;
});
server.keepAliveTimeout = 30000;
server.headersTimeout = 60000;
server.requestTimeout = 0;

server.listen(opt.port, opt.address, () => {
  const port = server.address().port;
  process.stdout.write(`${port}\n`);
  if (opt.portFile) {
    fs.writeFileSync(`${opt.portFile}.tmp`, `${port}\n`);
    fs.renameSync(`${opt.portFile}.tmp`, opt.portFile);
  }
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
