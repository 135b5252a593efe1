// Compiled with tsc --strict against the installed livesync-client: every option typed.
import { LiveSync, STOP_CODES, type Change, type ChangesFrame, type Status } from 'livesync-client';

const seen: Status[] = [];
const sync = new LiveSync('wss://example.invalid/v1/sync', {
  token: 'jwt',
  clientId: 'c1',
  lastLsn: '0/16B3748',
  encoding: 'msgpack',
  minBackoffMs: 100,
  maxBackoffMs: 1000,
  onStatus: (status) => { seen.push(status); },
  onError: (e) => { if (e.closeCode === 4410) console.log(e.code, e.message); },
  onNotify: (m, tx) => console.log(m.channel, m.payload, tx.lsn),
  onResync: (frame) => console.log(frame.type),
});
const sub = sync.subscribe('public.todos', (change: Change, tx: ChangesFrame) => {
  if (change.op === 'update' && change.new) console.log(change.new['title'], change.unchanged ?? [], tx.xid);
  if (change.op === 'truncate') console.log(change.relations.length);
}, { key: ['id'], columns: ['id', 'title'], onReady: (f) => console.log(f.type) });
const size: number | undefined = sub.rows?.size;
sync.listen('alerts', (m) => console.log(m.payload)).unsubscribe();
const kicked: string = STOP_CODES[4410];
const stopped: { code: number; reason: string } | null = sync.stopped;
console.log(size, kicked, stopped, seen);
sync.close();
