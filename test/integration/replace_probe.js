// Says hello with one client id on two sidecars, for each of several ids, and reports
// what every session saw: one JSON line per event on stdout,
//   {"id":..,"side":0|1,"event":"welcome"|"closed","code":..,"reason":..,"t":<ms>}
// (t: performance.now(), one clock for all sessions). Both connections of an id are
// opened first; then side 0 says hello and side 1 stagger_ms later; with stagger_ms 0
// both in the same tick, a race, side 1 first for every other id. Sessions are held
// until stdin closes.
// usage: node replace_probe.js '{"urls":[A,B],"ids":[..],"token":..,"stagger_ms":N}'
'use strict';
const { performance } = require('perf_hooks');
const WebSocket = require('ws');

const o = JSON.parse(process.argv[2]);
const opts = o.token ? { headers: { Authorization: `Bearer ${o.token}` } } : {};
const sockets = [];

function report(id, side, event, extra) {
  process.stdout.write(JSON.stringify(Object.assign({ id, side, event, t: performance.now() }, extra)) + '\n');
}

o.ids.forEach((id, index) => {
  const pair = o.urls.map((url) => new WebSocket(url, 'livesync.v1.json', opts));
  let open = 0;
  const hello = (side) => pair[side].send(JSON.stringify({ type: 'hello', client_id: id }));
  pair.forEach((ws, side) => {
    sockets.push(ws);
    ws.on('open', () => {
      if (++open < 2) return;
      if (o.stagger_ms) {
        hello(0);
        setTimeout(() => hello(1), o.stagger_ms);
      } else {
        hello(index % 2);
        hello(1 - (index % 2));
      }
    });
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'welcome') report(id, side, 'welcome', {});
      else if (f.type === 'error') report(id, side, 'error', { code: f.code, reason: f.message });
    });
    ws.on('close', (code, reason) => report(id, side, 'closed', { code, reason: reason.toString() }));
    ws.on('error', (e) => report(id, side, 'error', { reason: e.message }));
  });
});

process.stdin.resume();
process.stdin.on('end', () => { for (const ws of sockets) ws.terminate(); });
