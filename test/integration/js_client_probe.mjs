// Drives clients/js/livesync.js from Node (with the `ws` package as its WebSocket): a
// subscription added after the hello went out but before the welcome must still be made.
// usage: node js_client_probe.mjs URL TABLE COUNT   -- prints one JSON line per change
// (and "resync_required <lsn>" on stderr when the app is told to reload); a schema change
// prints {"onSchema": change} from the subscription's onSchema and {"clientOnSchema":
// change} from the client-wide one (COUNT counts rows only)
import { createRequire } from 'node:module';
import { LiveSync } from 'livesync-client';  // run from the scratch app (js_package.py)

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const [url, table, countArg] = process.argv.slice(2);
const expected = parseInt(countArg, 10);
let received = 0;
const sync = new LiveSync(url, {
  WebSocket,
  onError: (e) => { process.stderr.write(`error ${JSON.stringify(e)}\n`); process.exitCode = 1; },
  onResync: (frame) => process.stderr.write(`resync_required ${frame.lsn}\n`),
  onSchema: (change) => process.stdout.write(JSON.stringify({ clientOnSchema: change }) + '\n'),
});
// Registered after the client's own onopen (which sends the hello): runs before the welcome.
sync.ws.addEventListener('open', () => {
  sync.subscribe(table, (change) => {
    process.stdout.write(JSON.stringify(change) + '\n');
    if (++received >= expected) sync.close();
  }, {
    onReady: (ack) => process.stderr.write(`subscribed ${ack.table} ${ack.lsn}\n`),
    onSchema: (change) => process.stdout.write(JSON.stringify({ onSchema: change }) + '\n'),
  });
});
setTimeout(() => { process.stderr.write('timed out\n'); process.exitCode = 2; sync.close(); }, 30000).unref();
