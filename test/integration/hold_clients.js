// Opens COUNT WebSocket sessions (client ids PREFIX-0..COUNT-1), says hello on each,
// prints "ready" once all are welcomed, then holds them until killed.
// usage: node hold_clients.js URL PREFIX COUNT
'use strict';
const WebSocket = require('ws');
const [url, prefix, countArg] = process.argv.slice(2);
const count = parseInt(countArg, 10);
let welcomed = 0;
for (let i = 0; i < count; i++) {
  const ws = new WebSocket(url, 'livesync.v1.json');
  ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', client_id: `${prefix}-${i}` })));
  ws.on('message', (data) => {
    if (JSON.parse(data.toString()).type === 'welcome' && ++welcomed === count) process.stdout.write('ready\n');
  });
  ws.on('error', (e) => { process.stderr.write(`hold_clients: ${e.message}\n`); process.exitCode = 1; });
}
