// grpc-js (pure JavaScript gRPC) against grpc_echo_server: unary, error details, deadline,
// metadata, server streaming and bidi, over h2c or TLS with a client certificate.
// Usage: node grpcjs_client.js <host:port> [ca.crt client.crt client.key]
// Prints "OK" and exits 0 when every check passed; prints the failure and exits 1 otherwise.
'use strict';
const grpc = require('@grpc/grpc-js');
const fs = require('fs');

const [target, ca, cert, key] = process.argv.slice(2);
const creds = ca
  ? grpc.credentials.createSsl(fs.readFileSync(ca), fs.readFileSync(key), fs.readFileSync(cert))
  : grpc.credentials.createInsecure();
const client = new grpc.Client(target, creds);
const id = (b) => b;
const deadline = (ms) => new Date(Date.now() + ms);

function unary(method, req, opts = {}, md = new grpc.Metadata()) {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method, id, id, Buffer.from(req), md,
      Object.assign({ deadline: deadline(10000) }, opts),
      (err, resp) => (err ? reject(err) : resolve(resp)));
  });
}

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

async function main() {
  const r = await unary('/etcdpp.test.Echo/Unary', 'hello');
  check(r.toString() === 'hello', 'unary echo');

  try {
    await unary('/etcdpp.test.Echo/Fail', '5:not found é 100%');
    check(false, 'Fail must fail');
  } catch (e) {
    check(e.code === grpc.status.NOT_FOUND, 'code NOT_FOUND, got ' + e.code);
    check(e.details === 'not found é 100%', 'details, got ' + JSON.stringify(e.details));
  }

  try {
    await unary('/etcdpp.test.Echo/Later', '5000', { deadline: deadline(200) });
    check(false, 'Later must time out');
  } catch (e) {
    check(e.code === grpc.status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED, got ' + e.code);
  }

  try {
    await unary('/etcdpp.test.Nope/X', '');
    check(false, 'unknown service must fail');
  } catch (e) {
    check(e.code === grpc.status.UNIMPLEMENTED, 'UNIMPLEMENTED, got ' + e.code);
  }

  const md = new grpc.Metadata();
  md.set('token', 'abc');
  md.set('x-bin', Buffer.from([0, 1, 255]));
  const m = (await unary('/etcdpp.test.Echo/Metadata', '', {}, md)).toString('latin1');
  check(m.includes('token=abc\n'), 'metadata token: ' + m);
  check(m.includes('x-bin=\x00\x01\xff\n'), 'binary metadata: ' + JSON.stringify(m));
  if (ca) check(m.startsWith('cn=root\n'), 'client cert CN: ' + m);

  const streamed = await new Promise((resolve, reject) => {
    const got = [];
    const call = client.makeServerStreamRequest('/etcdpp.test.Echo/ServerStream', id, id,
      Buffer.from('20:1000'), new grpc.Metadata(), { deadline: deadline(10000) });
    call.on('data', (d) => got.push(d));
    call.on('error', reject);
    call.on('end', () => resolve(got));
  });
  check(streamed.length === 20 && streamed[19].length === 1000, 'server streaming');

  const echoed = await new Promise((resolve, reject) => {
    const got = [];
    const call = client.makeBidiStreamRequest('/etcdpp.test.Echo/Bidi', id, id,
      new grpc.Metadata(), { deadline: deadline(10000) });
    call.on('data', (d) => got.push(d.toString()));
    call.on('error', reject);
    call.on('end', () => resolve(got));
    for (const s of ['a', 'bb', 'ccc']) call.write(Buffer.from(s));
    call.end();
  });
  check(echoed.join(',') === 'a,bb,ccc', 'bidi: ' + echoed.join(','));

  client.close();
  console.log('OK');
}

main().catch((e) => {
  console.log('FAIL: ' + (e.stack || e));
  process.exit(1);
});
