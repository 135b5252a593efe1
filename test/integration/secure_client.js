// A token-carrying livesync client on Node's `ws`, for the security tests. Prints one
// JSON line per received change on stdout and, on stderr, "subscribed", "authenticated"
// and finally "closed <code> <reason>".
//
// usage: node secure_client.js '<json options>'
//   {"url":..,"token":..,"via":"header"|"query"|"hello","table":..,"until_id":N,
//    "refresh_token":..,"timeout_ms":N,"retry_ms":N,"client_id":..,"pings":N,
//    "pings_in_turn":N,"big_message":N}
// "pings": N pings sent at once after welcome, without waiting for a pong (rate-limit
// tests); "pings_in_turn": N pings, each sent when the previous one's pong arrived;
// "big_message": a text message of N bytes sent after welcome, before the pings.
// Subscribe errors not_ready / unknown_table / forbidden are retried for retry_ms (the
// publish and grant reach the sidecar through the stream); other errors are printed.
'use strict';
const WebSocket = require('ws');

const o = JSON.parse(process.argv[2]);
let url = o.url;
const opts = {};
if (o.token && o.via === 'header') opts.headers = { Authorization: `Bearer ${o.token}` };
if (o.token && o.via === 'query') url += `?token=${encodeURIComponent(o.token)}`;
const ws = new WebSocket(url, 'livesync.v1.json', opts);
const retryUntil = Date.now() + (o.retry_ms || 0);
let done = false;

const timer = setTimeout(() => { process.stderr.write('timeout\n'); ws.terminate(); }, o.timeout_ms || 60000);

function subscribe() {
  ws.send(JSON.stringify({ type: 'subscribe', id: 's1', table: o.table }));
}

ws.on('open', () => {
  const hello = { type: 'hello' };
  if (o.token && o.via === 'hello') hello.token = o.token;
  if (o.client_id) hello.client_id = o.client_id;
  ws.send(JSON.stringify(hello));
});

ws.on('message', (data) => {
  const f = JSON.parse(data.toString());
  if (f.type === 'welcome') {
    process.stderr.write(`welcome ${f.client_id}\n`);
    if (o.table) subscribe();
    if (o.big_message) ws.send('x'.repeat(o.big_message));
    // The flood goes out in chunks of 2,000, one per event-loop turn: still far past any
    // rate limit, but the client reads between chunks, as a real one would, so the
    // server's close frame is read even when queueing 100,000 pings takes seconds (a
    // single loop kept the client from reading for longer than lws waits for the close
    // ack on a loaded machine, and the reset then hid the close frame: 1006).
    const flood = (from) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const to = Math.min(o.pings || 0, from + 2000);
      for (let i = from; i < to; i++) ws.send(JSON.stringify({ type: 'ping', ref: i }));
      if (to < (o.pings || 0)) setImmediate(flood, to);
    };
    flood(0);
    if (o.pings_in_turn) ws.send(JSON.stringify({ type: 'ping', ref: 0 }));
    if (o.refresh_token) ws.send(JSON.stringify({ type: 'auth', token: o.refresh_token }));
  } else if (f.type === 'pong') {
    if (f.ref + 1 < (o.pings_in_turn || 0)) ws.send(JSON.stringify({ type: 'ping', ref: f.ref + 1 }));
  } else if (f.type === 'subscribed') {
    process.stderr.write(`subscribed ${f.table}\n`);
  } else if (f.type === 'authenticated') {
    process.stderr.write(`authenticated ${f.expires_at}\n`);
  } else if (f.type === 'error') {
    if (['not_ready', 'unknown_table', 'forbidden'].includes(f.code) && Date.now() < retryUntil) {
      setTimeout(subscribe, 100);
    } else {
      process.stderr.write(`error ${f.code} ${f.message}\n`);
    }
  } else if (f.type === 'changes') {
    for (const c of f.changes) {
      process.stdout.write(JSON.stringify(Object.assign({ lsn: f.lsn }, c)) + '\n');
      const row = c.new || c.old;
      if (o.until_id && row && row.id >= o.until_id) done = true;
    }
    if (done) ws.close(1000);
  }
});

ws.on('close', (code, reason) => {
  process.stderr.write(`closed ${code} ${reason.toString()}\n`);
  clearTimeout(timer);  // Node then exits by itself once stdout has drained
});
ws.on('error', (e) => process.stderr.write(`ws error ${e.message}\n`));
