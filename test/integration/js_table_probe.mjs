// Drives LiveSync.table() (clients/js/livesync.js) from Node, with the `ws` package.
// usage: node js_table_probe.mjs URL TABLE ENCODING [LAST_LSN]
// Prints one JSON line per collection event ({"event":"reset"|"ready"|"change",..}); once
// the collection holds the row with id 0 (the test's last commit), prints
// {"final":[rows sorted by id]} and exits. A LAST_LSN the stream no longer holds makes
// the server answer resync_required: the collection resets and reloads by itself.
import { createRequire } from 'node:module';
import { LiveSync } from 'livesync-client';  // run from the scratch app (js_package.py)

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const [url, table, encoding, lastLsn] = process.argv.slice(2);
const sync = new LiveSync(url, {
  WebSocket, encoding, lastLsn: lastLsn || null,
  onError: (e) => { process.stderr.write(`error ${JSON.stringify(e)}\n`); process.exitCode = 1; },
  onResync: (frame) => process.stderr.write(`resync_required ${frame.lsn}\n`),
});
const todos = sync.table(table);
todos.on((event) => {
  if (event.type === 'change') {
    const c = event.change;
    process.stdout.write(JSON.stringify({ event: 'change', op: c.op, snapshot: Boolean(c.snapshot) }) + '\n');
  } else {
    process.stdout.write(JSON.stringify({ event: event.type, ready: todos.ready, size: todos.size }) + '\n');
  }
  if (todos.ready && todos.get(0)) {
    const rows = todos.values().sort((a, b) => a.id - b.id);
    process.stdout.write(JSON.stringify({ final: rows }, (k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n');
    sync.close();
  }
});
setTimeout(() => { process.stderr.write('timed out\n'); process.exitCode = 2; sync.close(); }, 60000).unref();
