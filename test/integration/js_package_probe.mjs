// Runs in the scratch app (js_package.py): livesync-client as installed from its npm
// tarball, Node's `ws` as the WebSocket. Prints one JSON line per change on stdout and
// events on stderr: "subscribed <table>", "status <status> <code>", "error <json>".
// It sets no timer of its own: once the client stops (kick, ban) and schedules no
// reconnect, the process exits by itself -- that is what test_js_package.py waits for.
// usage: node js_package_probe.mjs URL TABLE ENCODING CLIENT_ID [KEY_COLUMN]
// env LOCAL_ADDRESS: connect from this address (127.0.0.x: a client of its own to a proxy).
import { createRequire } from 'node:module';
import { LiveSync } from 'livesync-client';

const require = createRequire(import.meta.url);
const NodeWebSocket = require('ws');
const localAddress = process.env.LOCAL_ADDRESS;
const WebSocket = localAddress
  ? class extends NodeWebSocket { constructor(u, p) { super(u, p, { localAddress }); } }
  : NodeWebSocket;
const [url, table, encoding, clientId, key] = process.argv.slice(2);
const sync = new LiveSync(url, {
  WebSocket,
  encoding,
  clientId,
  onStatus: (status, detail) =>
    process.stderr.write(`status ${status} ${typeof detail === 'number' ? detail : ''} at ${Date.now()}\n`),
  onError: (e) => process.stderr.write(`error ${JSON.stringify(e)}\n`),
});
sync.subscribe(table, (change, tx) => {
  process.stdout.write(JSON.stringify({ commit_time: tx.commit_time, ...change }, (k, v) =>
    typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString('hex')}` : v) + '\n');
}, { key: key ? [key] : undefined, onReady: (ack) => process.stderr.write(`subscribed ${ack.table} ${ack.lsn}\n`) });
