// Probes livesync.v1.msgpack with Node's `ws` (a WebSocket side nobody here wrote):
// a malformed binary message gets a binary error frame bad_msgpack and the session
// stays (a ping after it is answered); a text message closes the connection with 1003.
// The few msgpack messages are spelled out byte by byte (no msgpack package for Node in
// Debian 12). Prints one line per check; exit 0 when all passed.
//
// usage: node msgpack_probe.js URL
'use strict';
const WebSocket = require('ws');

const url = process.argv[2];
const str = (s) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
// {"type":"hello"} and {"type":"ping","ref":7}
const hello = Buffer.concat([Buffer.from([0x81]), str('type'), str('hello')]);
const ping = Buffer.concat([Buffer.from([0x82]), str('type'), str('ping'), str('ref'), Buffer.from([0x07])]);

function fail(msg) {
  process.stderr.write(`msgpack_probe: ${msg}\n`);
  process.exit(1);
}

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'livesync.v1.msgpack');
    const frames = [];
    let waiter = null;
    ws.on('message', (data, isBinary) => {
      if (!isBinary) fail('text frame on livesync.v1.msgpack');
      if (waiter) { const w = waiter; waiter = null; w(data); } else frames.push(data);
    });
    ws.next = () => new Promise((res, rej) => {
      if (frames.length) return res(frames.shift());
      const t = setTimeout(() => rej(new Error('timed out waiting for a frame')), 5000);
      waiter = (d) => { clearTimeout(t); res(d); };
    });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

async function main() {
  const ws = await open();
  if (ws.protocol !== 'livesync.v1.msgpack') fail(`negotiated ${ws.protocol}`);
  ws.send(hello);
  const welcome = await ws.next();
  if (!welcome.includes('welcome')) fail(`expected welcome, got ${welcome.toString('hex')}`);
  ws.send(Buffer.from([0x82, 0xa4]));  // a map cut short
  const err = await ws.next();
  if (!(err.includes('error') && err.includes('bad_msgpack') && err.includes('truncated')))
    fail(`expected error bad_msgpack, got ${err.toString('hex')}`);
  console.log('bad_msgpack');
  ws.send(ping);
  const pong = await ws.next();
  if (!pong.equals(Buffer.concat([Buffer.from([0x82]), str('type'), str('pong'), str('ref'), Buffer.from([0x07])])))
    fail(`expected pong with ref 7, got ${pong.toString('hex')}`);
  console.log('pong');
  ws.close(1000);

  const text = await open();
  const closed = new Promise((resolve) => text.on('close', (code) => resolve(code)));
  text.send('{"type":"hello"}');
  const code = await closed;
  if (code !== 1003) fail(`a text message closed with ${code}, not 1003`);
  console.log('close 1003');
}

main().catch((e) => fail(e.message));
