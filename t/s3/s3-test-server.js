#!/usr/bin/env node
// S3 test server: @20minutes/s3rver 4.0.4 (a fork of s3rver that, unlike
// s3rver 3.7.1, really verifies AWS Signature V4) plus one extra middleware,
// run right after s3rver's signature check, that adds what a WAL archiver's
// tests need and s3rver lacks:
//   * refuses unsigned (anonymous) requests                 -> 403 AccessDenied
//   * checks a hex x-amz-content-sha256 against the body    -> 400 XAmzContentSHA256Mismatch
//   * If-None-Match: * and If-Match on PutObject and CompleteMultipartUpload
//     (under a per-key lock, so two racing PUTs cannot both win) -> 412 PreconditionFailed
//   * AbortMultipartUpload (DELETE ?uploadId=)             -> 204, or 404 NoSuchUpload
//   * UploadPart / Complete with an unknown uploadId       -> 404 NoSuchUpload
//   * suffix ranges (Range: bytes=-N), which s3rver gets wrong -> rewritten to bytes=S-E
//   * any range of an empty object                         -> 416 InvalidRange (as S3)
//   * credentials of your choice (default S3RVER / S3RVER)
// Request bodies are buffered in memory: fine for test objects up to some hundred MB.
// Path-style addressing only (http://127.0.0.1:PORT/bucket/key).
// Usage: node s3-test-server.js --directory DIR [--address 127.0.0.1] [--port 0]
//        [--access-key K] [--secret-key S] [--tls-key F --tls-cert F]
//        [--allow-anonymous] [--no-strict] [--ready-file F] [--silent]
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Readable } = require('stream');

function parseArgs(argv) {
  const o = { address: '127.0.0.1', port: 0, accessKey: 'S3RVER', secretKey: 'S3RVER',
    strict: true, anonymous: false, silent: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--directory': case '-d': o.directory = next(); break;
      case '--address': case '-a': o.address = next(); break;
      case '--port': case '-p': o.port = Number(next()); break;
      case '--access-key': o.accessKey = next(); break;
      case '--secret-key': o.secretKey = next(); break;
      case '--tls-key': o.tlsKey = next(); break;
      case '--tls-cert': o.tlsCert = next(); break;
      case '--ready-file': o.readyFile = next(); break;
      case '--allow-anonymous': o.anonymous = true; break;
      case '--no-strict': o.strict = false; break;
      case '--silent': case '-s': o.silent = true; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (!o.directory) throw new Error('--directory is required');
  if (!!o.tlsKey !== !!o.tlsCert) throw new Error('--tls-key and --tls-cert go together');
  return o;
}

function readAll(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

// A fresh readable that looks enough like http.IncomingMessage for Koa and s3rver.
function replayRequest(req, body) {
  const r = Readable.from(body.length ? [body] : []);
  for (const k of ['headers', 'rawHeaders', 'method', 'url', 'httpVersion', 'httpVersionMajor',
    'httpVersionMinor', 'socket', 'connection', 'trailers', 'rawTrailers', 'baseUrl']) {
    r[k] = req[k];
  }
  return r;
}

const locks = new Map();
async function withKeyLock(name, fn) {
  const prev = locks.get(name) || Promise.resolve();
  let release;
  const mine = new Promise((r) => { release = r; });
  const chain = prev.then(() => mine);
  locks.set(name, chain);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(name) === chain) locks.delete(name);
  }
}

async function main() {
  const o = parseArgs(process.argv);
  fs.mkdirSync(o.directory, { recursive: true });

  const S3rver = require('@20minutes/s3rver');
  const router = require('@20minutes/s3rver/lib/routes');
  const S3Error = require('@20minutes/s3rver/lib/models/error');
  const AWSAccount = require('@20minutes/s3rver/lib/models/account');

  if (o.accessKey !== 'S3RVER') AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(o.accessKey, o.secretKey);

  const exists = (p) => fs.promises.stat(p).then(() => true, () => false);
  const err = (code, message, detail, status) => {
    const e = new S3Error(code, message, detail);
    if (status) { e.status = status; e.expose = status < 500; }
    return e;
  };

  async function strictChecks(ctx, next) {
    if (!ctx.state.account && !o.anonymous) {
      throw err('AccessDenied', 'Access Denied (this test server refuses unsigned requests)');
    }
    // buffer the body so that it can be checked, then hand s3rver a replay of it
    const body = await readAll(ctx.req);
    const replay = replayRequest(ctx.req, body);
    ctx.req = ctx.request.req = ctx.response.req = replay;
    if (!o.strict) return next();

    const claimed = ctx.get('x-amz-content-sha256');
    if (/^[0-9a-fA-F]{64}$/.test(claimed)) {
      const actual = crypto.createHash('sha256').update(body).digest('hex');
      if (actual !== claimed.toLowerCase()) {
        throw err('XAmzContentSHA256Mismatch',
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
          { ClientComputedContentSHA256: claimed, S3ComputedContentSHA256: actual }, 400);
      }
    }
    const { bucket, key } = ctx.params;
    if (!bucket || !key) return next();
    const store = ctx.store;
    const uploadId = ctx.query.uploadId;
    const uploadDir = (id) => path.join(store.getResourcePath(bucket, undefined, 'uploads'), id);
    const uploadKnown = async (id) =>
      typeof id === 'string' && /^[A-Za-z0-9._-]+$/.test(id) && exists(path.join(uploadDir(id), 'key'));

    if (ctx.method === 'DELETE' && uploadId !== undefined) { // AbortMultipartUpload
      if (!(await uploadKnown(uploadId))) {
        throw err('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
      }
      await fs.promises.rm(uploadDir(uploadId), { recursive: true, force: true });
      ctx.status = 204;
      return undefined;
    }
    if ((ctx.method === 'PUT' || ctx.method === 'POST') && uploadId !== undefined &&
        !(await uploadKnown(uploadId))) {
      throw err('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
    }
    const range = ctx.get('range');
    if (ctx.method === 'GET' && range) {
      const meta = await store.getMetadata(bucket, key).catch(() => null);
      if (meta) {
        const size = Number(meta['content-length']);
        // an empty object has no byte to give: S3 answers 416 InvalidRange to
        // any range (s3rver would send a 206 announcing 1 byte and none)
        if (size === 0) {
          throw err('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: range });
        }
        if (/^bytes=-\d+$/.test(range)) { // suffix range
          const n = Number(range.slice(7));
          if (n === 0) {
            throw err('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: range });
          }
          ctx.req.headers.range = `bytes=${Math.max(0, size - n)}-${size - 1}`;
        }
      }
    }
    const isPut = ctx.method === 'PUT' && Object.keys(ctx.query).length === 0;
    const isComplete = ctx.method === 'POST' && uploadId !== undefined;
    const inm = ctx.headers['if-none-match'];
    const im = ctx.headers['if-match'];
    if (!(isPut || isComplete) || (inm === undefined && im === undefined)) return next();

    return withKeyLock(`${bucket}/${key}`, async () => {
      const present = await store.existsObject(bucket, key);
      if (inm !== undefined) {
        if (inm.trim() !== '*') {
          throw err('NotImplemented', 'If-None-Match on a write only supports *', { Header: 'If-None-Match' });
        }
        if (present) {
          throw err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold',
            { Condition: 'If-None-Match' });
        }
      }
      if (im !== undefined) {
        if (!present) throw err('NoSuchKey', 'The specified key does not exist.', { Key: key });
        const md5Path = store.getResourcePath(bucket, key, 'object.md5');
        const etag = (await fs.promises.readFile(md5Path, 'utf8').catch(() => '')).trim();
        if (im.trim() !== '*' && im.replace(/"/g, '').trim() !== etag) {
          throw err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold',
            { Condition: 'If-Match' });
        }
      }
      return next();
    });
  }

  // put strictChecks right after s3rver's authentication middleware
  router.use('/:bucket?/:key*', strictChecks);
  const layer = router.stack.pop();
  const authIdx = router.stack.findIndex((l) => l.stack.some((f) => f.name === 'authentication'));
  if (authIdx < 0) throw new Error('s3rver authentication middleware not found (unexpected s3rver version)');
  router.stack.splice(authIdx + 1, 0, layer);

  const opts = { directory: o.directory, address: o.address, port: o.port, silent: o.silent,
    vhostBuckets: false, allowMismatchedSignatures: false };
  if (o.tlsKey) {
    opts.key = fs.readFileSync(o.tlsKey);
    opts.cert = fs.readFileSync(o.tlsCert);
  }
  const app = new S3rver(opts);
  const addr = await app.run();
  const scheme = o.tlsKey ? 'https' : 'http';
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const info = { endpoint: `${scheme}://${host}:${addr.port}`, port: addr.port, pid: process.pid,
    access_key: o.accessKey, secret_key: o.secretKey };
  if (o.readyFile) {
    fs.writeFileSync(`${o.readyFile}.tmp`, `${JSON.stringify(info)}\n`);
    fs.renameSync(`${o.readyFile}.tmp`, o.readyFile);
  }
  console.log(`S3 test server listening on ${info.endpoint} (pid ${process.pid})`);
  const stop = () => {
    const t = setTimeout(() => process.exit(0), 3000);
    t.unref();
    app.close().then(() => process.exit(0), () => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(2);
});
