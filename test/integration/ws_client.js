// A livesync client that nobody on this project wrote the WebSocket side of: Node's
// `ws` package. Prints one JSON line per received change (like livesync-cli), after
// optionally probing the server with bad frames and checking each documented error.
//
// usage: node ws_client.js URL TABLE CLIENT_ID COUNT [--probe-errors]
'use strict';
const WebSocket = require('ws');

const [url, table, clientId, countArg, ...flags] = process.argv.slice(2);
const expected = parseInt(countArg, 10);
const probe = flags.includes('--probe-errors');
const ws = new WebSocket(url, 'livesync.v1.json');
let received = 0;
const queue = [];   // frames awaited by the probe, in order
let waiter = null;

function fail(msg) {
  process.stderr.write(`ws_client: ${msg}\n`);
  process.exitCode = 1;
  ws.terminate();
}

function next(timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift());
    const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs);
    waiter = (m) => { clearTimeout(t); resolve(m); };
  });
}

function expectFrame(frame, type, code) {
  if (frame.type !== type || (code && frame.code !== code))
    fail(`expected ${type}${code ? ' ' + code : ''}, got ${JSON.stringify(frame)}`);
  if (type === 'error' && !(typeof frame.message === 'string' && frame.message.length > 0))
    fail(`error frame without a message: ${JSON.stringify(frame)}`);
}

ws.on('message', (data, isBinary) => {
  if (isBinary) fail('binary frame on the JSON subprotocol');
  const frame = JSON.parse(data.toString());
  if (frame.type === 'changes') {
    for (const change of frame.changes) {
      process.stdout.write(JSON.stringify(Object.assign(
        { lsn: frame.lsn, xid: frame.xid, commit_time: frame.commit_time }, change)) + '\n');
      received++;
    }
    if (received >= expected) ws.close(1000);
    return;
  }
  if (waiter) { const w = waiter; waiter = null; w(frame); } else queue.push(frame);
});

// Let Node exit by itself once stdout has drained: process.exit() would drop lines.
ws.on('close', () => { process.exitCode = received >= expected ? 0 : 2; });
ws.on('error', (e) => fail(e.message));

ws.on('open', async () => {
  try {
    if (probe) {
      ws.send(JSON.stringify({ type: 'subscribe', id: 'early', table }));
      expectFrame(await next(), 'error', 'hello_required');
    }
    ws.send(JSON.stringify({ type: 'hello', client_id: clientId }));
    expectFrame(await next(), 'welcome');
    if (probe) {
      ws.send('this is not json');
      expectFrame(await next(), 'error', 'bad_json');
      ws.send(JSON.stringify({ type: 'teleport' }));
      expectFrame(await next(), 'error', 'unknown_type');
      ws.send(JSON.stringify({ type: 'subscribe', id: 'x', table: 'public.not_published' }));
      expectFrame(await next(), 'error', 'unknown_table');
      ws.send(JSON.stringify({ type: 'subscribe', id: 42, table: table }));
      expectFrame(await next(), 'error', 'bad_request');
      ws.send(JSON.stringify({ type: 'ping' }));
      expectFrame(await next(), 'pong');  // the session survived every bad frame
    }
    ws.send(JSON.stringify({ type: 'subscribe', id: 's1', table }));
    const ack = await next();
    expectFrame(ack, 'subscribed');
    process.stderr.write(`subscribed ${ack.table} ${ack.lsn}\n`);
  } catch (e) {
    fail(e.message);
  }
});
