// Opens one WebSocket session per entry of a spec file, all in this process, each
// subscribing (in its hello) to its own tables; prints "ready" once every subscription
// is acknowledged, then collects changes until each client has its expected number (or
// the timeout) and prints one JSON object: client_id → [[lsn, sub ids, op, table, id], ...].
//
// usage: node many_clients.js URL SPEC.json TIMEOUT_SECONDS
// SPEC: [{"client_id":..,"subscriptions":[{"id":..,"table":..}],"expect":N}, ...]
'use strict';
const fs = require('fs');
const WebSocket = require('ws');

const [url, specPath, timeoutArg] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
const results = {};
let acked = 0, done = 0, finished = false;
const wanted = spec.reduce((n, c) => n + c.subscriptions.length, 0);
const sockets = [];

function finish(code) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(results) + '\n', () => process.exit(code));
  for (const ws of sockets) ws.terminate();
}

setTimeout(() => { process.stderr.write('many_clients: timeout\n'); finish(1); },
           parseFloat(timeoutArg) * 1000);

for (const client of spec) {
  results[client.client_id] = [];
  const ws = new WebSocket(url, 'livesync.v1.json');
  sockets.push(ws);
  let got = 0;
  ws.on('open', () => ws.send(JSON.stringify(
    { type: 'hello', client_id: client.client_id, subscriptions: client.subscriptions })));
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type === 'subscribed') {
      if (++acked === wanted) process.stdout.write('ready\n');
    } else if (frame.type === 'changes') {
      for (const c of frame.changes) {
        const row = c.new || c.old;
        results[client.client_id].push([frame.lsn, c.sub, c.op, `${c.schema}.${c.table}`, row.id]);
        got++;
      }
      if (got >= client.expect && !client.counted) {
        client.counted = true;
        if (++done === spec.length) setTimeout(() => finish(0), 300);  // late extras would show up
      }
    } else if (frame.type === 'error') {
      process.stderr.write(`many_clients: ${client.client_id}: ${JSON.stringify(frame)}\n`);
      finish(1);
    }
  });
  ws.on('error', (e) => { process.stderr.write(`many_clients: ${client.client_id}: ${e.message}\n`); finish(1); });
}
