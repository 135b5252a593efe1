// clients/js/livesync.js listening to a livesync.notify channel from Node (the `ws`
// package as its WebSocket).
// usage: node js_listen_probe.mjs URL TOKEN CHANNEL COUNT   -- one JSON line per message
// ("listening <channel> <lsn>" on stderr once the subscription is acknowledged)
import { createRequire } from 'node:module';
import { LiveSync } from 'livesync-client';  // run from the scratch app (js_package.py)

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const [url, token, channel, countArg] = process.argv.slice(2);
const expected = parseInt(countArg, 10);
let received = 0;
const sync = new LiveSync(url, {
  WebSocket,
  token,
  onError: (e) => { process.stderr.write(`error ${JSON.stringify(e)}\n`); process.exitCode = 1; sync.close(); },
});
sync.listen(channel, (msg) => {
  process.stdout.write(JSON.stringify(msg) + '\n');
  if (++received >= expected) sync.close();
}, { onReady: (ack) => process.stderr.write(`listening ${ack.channel} ${ack.lsn}\n`) });
setTimeout(() => { process.stderr.write('timed out\n'); process.exitCode = 2; sync.close(); }, 30000).unref();
