// livesync client for browsers and Node (>= 22, or any runtime with a global
// WebSocket; pass `WebSocket` in the options otherwise). An ES module, typed by
// livesync.d.ts. Speaks protocol v1 over `livesync.v1.json` (default) or
// `livesync.v1.msgpack` (options.encoding = 'msgpack', with @msgpack/msgpack).
//
//   import { LiveSync } from 'livesync-client';
//   const sync = new LiveSync('ws://127.0.0.1:8080/v1/sync', { token });
//   const sub = sync.subscribe('public.todos', (change, tx) => render(change));
//   sub.unsubscribe();
//   sync.listen('alerts', (msg) => toast(msg.payload));   // livesync.notify messages
//   const todos = sync.table('todos', { filter, columns });  // a live collection, see below
//   new LiveSync(url, { onSchema: (change) => relayout(change.table, change.columns) });  // DDL
//
// It remembers the LSN of the last transaction it delivered and, after any disconnect,
// reconnects with exponential backoff, says hello with that LSN and its subscriptions,
// so the server can replay what was missed: no gap, no duplicate. It stops for good
// when the server says retrying cannot help (STOP_CODES).

import { Decoder, Encoder, ExtensionCodec, decodeTimestampToTimeSpec } from '@msgpack/msgpack';

const PROTOCOLS = { json: 'livesync.v1.json', msgpack: 'livesync.v1.msgpack' };

// Close codes after which a reconnect would be refused again, or would undo what the
// server meant: the client stops and says why (onStatus 'stopped', onError).
export const STOP_CODES = Object.freeze({
  4401: 'unauthorized',  // no or bad token: a new token is needed
  4403: 'forbidden',     // banned address, client id of another user, token of another sub
  4409: 'replaced',      // the same client id connected again elsewhere
  4410: 'kicked',        // an administrator ended the session
});

// msgpack column values (docs/protocol.md): decoded to what the JSON encoding gives, so
// an application reads the same values whichever encoding it picked -- except bytea,
// which arrives as a Uint8Array instead of "\\x..." text.
const textDecoder = new TextDecoder();
const extensions = new ExtensionCodec();
const asText = (data) => textDecoder.decode(data);
for (const type of [1, 3, 4, 5, 6, 7, 8, 9]) extensions.register({ type, encode: () => null, decode: asText });
extensions.register({ type: 2, encode: () => null, decode: (data) => JSON.parse(asText(data)) });
// timestamptz (and commit_time): RFC 3339 UTC with microseconds, as the JSON encoding.
extensions.register({
  type: -1,
  encode: () => null,
  decode: (data) => {
    const { sec, nsec } = decodeTimestampToTimeSpec(data);
    const micros = String(Math.floor(nsec / 1000)).padStart(6, '0');
    return new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, `.${micros}Z`);
  },
});
// useBigInt64: an int8 beyond 2^53 arrives as a BigInt instead of failing the frame.
const decoder = new Decoder({ extensionCodec: extensions, useBigInt64: true });
const encoder = new Encoder();

// An update's `unchanged` TOAST columns were not sent; a subscription that knows its
// rows (options.key) fills them in from the row it holds. Returns the change to deliver.
function mergeUnchanged(change, rows, key) {
  const rowKey = (row) => JSON.stringify(key.map((k) => row[k]));
  if (change.op === 'insert' || change.op === 'update') {
    let row = change.new;
    if (change.op === 'update') {
      const before = rows.get(rowKey(change.old ?? change.new));
      if (change.old) rows.delete(rowKey(change.old));
      if (before && change.unchanged && change.unchanged.length) {
        row = { ...change.new };
        const still = [];
        for (const col of change.unchanged) {
          if (col in before) row[col] = before[col];
          else still.push(col);
        }
        change = { ...change, new: row };
        if (still.length) change.unchanged = still;
        else delete change.unchanged;
      }
    }
    rows.set(rowKey(row), row);
  } else if (change.op === 'delete') {
    rows.delete(rowKey(change.old));
  } else if (change.op === 'truncate') {
    rows.clear();
  }
  return change;
}

export class LiveSync {
  constructor(url, options = {}) {
    this.url = url;
    this.token = options.token ?? null;
    this.clientId = options.clientId ?? null;
    this.lastLsn = options.lastLsn ?? null;
    this.onStatus = options.onStatus ?? (() => {});
    this.onError = options.onError ?? (() => {});
    this.onNotify = options.onNotify ?? (() => {});
    this.onResync = options.onResync ?? (() => {});
    // DDL on a subscribed table: onSchema({op: 'schema', schema, table, columns: [{name, type}], sub}, tx)
    this.onSchema = options.onSchema ?? (() => {});
    this.minBackoffMs = options.minBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 10000;
    this.encoding = options.encoding ?? 'json';
    if (!PROTOCOLS[this.encoding]) throw new Error(`livesync: encoding must be 'json' or 'msgpack', not ${this.encoding}`);
    this.stopped = null;             // {code, reason} once the server said not to come back
    this.WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (!this.WebSocketImpl) throw new Error('livesync: no WebSocket implementation; pass options.WebSocket');
    this.subscriptions = new Map();  // id -> {table, filter, columns, onChange, onReady}
    this.inHello = new Set();        // ids the last hello carried
    this.nextId = 1;
    this.backoffMs = this.minBackoffMs;
    this.closed = false;
    this.ready = false;
    this.connect();
  }

  subscribe(table, onChange, options = {}) {
    const id = options.id ?? `s${this.nextId++}`;
    const sub = { table, filter: options.filter, columns: options.columns, onChange, onReady: options.onReady,
                  onEnd: options.onEnd, onSchema: options.onSchema, key: options.key, rows: options.key ? new Map() : null,
                  // snapshot: its rows first (onChange({op: 'insert', new, snapshot: true})), then
                  // onSnapshotEnd(frame); after resync_required (or a reconnect before the
                  // snapshot ended) onReset(frame) and a fresh snapshot, by itself.
                  snapshot: Boolean(options.snapshot), onSnapshotEnd: options.onSnapshotEnd, onReset: options.onReset,
                  needsSnapshot: Boolean(options.snapshot), snapshotDone: false, resyncing: false };
    if (options.key !== undefined && !(Array.isArray(options.key) && options.key.length > 0))
      throw new Error('livesync: key must be a non-empty array of column names');
    this.subscriptions.set(id, sub);
    if (this.ready) this.sendSubscribe(id, sub);
    return { id, rows: sub.rows, unsubscribe: () => this.unsubscribe(id) };
  }

  // A live collection of a table: the rows this client may see, keyed by `key` (default
  // ['id'], the primary key), loaded from a snapshot, kept current by every change
  // (unchanged TOAST columns merged from the row held), reloaded by itself after
  // resync_required. collection.on(listener) gets {type: 'change', change, tx} for each
  // row change (snapshot rows included, change.snapshot true), {type: 'reset'} when the
  // rows were dropped to be reloaded, {type: 'ready'} when a snapshot ended.
  table(table, options = {}) {
    const key = options.key ?? ['id'];
    const listeners = new Set();
    const emit = (event) => { for (const listener of listeners) listener(event); };
    const collection = {
      table,
      key,
      ready: false,
      rows: null,
      get: (...values) => collection.rows.get(JSON.stringify(values)),
      values: () => [...collection.rows.values()],
      get size() { return collection.rows.size; },
      on: (listener) => { listeners.add(listener); return () => listeners.delete(listener); },
      close: () => sub.unsubscribe(),
    };
    const sub = this.subscribe(table, (change, tx) => emit({ type: 'change', change, tx }), {
      id: options.id, filter: options.filter, columns: options.columns, key, snapshot: true,
      onReady: options.onReady, onEnd: options.onEnd,
      onReset: (frame) => { collection.ready = false; emit({ type: 'reset', frame }); },
      onSnapshotEnd: (frame) => { collection.ready = true; emit({ type: 'ready', frame }); },
    });
    collection.rows = sub.rows;
    return collection;
  }

  // livesync.notify messages on `channel` (the token's `channels` claim must allow it):
  // onMessage(change, tx) with change = {op: 'message', channel, payload, sub}.
  listen(channel, onMessage, options = {}) {
    const id = options.id ?? `n${this.nextId++}`;
    const sub = { channel, onChange: onMessage, onReady: options.onReady, onEnd: options.onEnd, rows: null };
    this.subscriptions.set(id, sub);
    if (this.ready) this.sendSubscribe(id, sub);
    return { id, rows: null, unsubscribe: () => this.unsubscribe(id) };
  }

  unsubscribe(id) {
    if (!this.subscriptions.delete(id)) return;
    if (this.ready) this.send({ type: 'unsubscribe', id });
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  // ---- internals ----

  connect() {
    this.ready = false;
    this.onStatus('connecting');
    const ws = new this.WebSocketImpl(this.url, PROTOCOLS[this.encoding]);
    if (this.encoding === 'msgpack') ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.sendHello();
    ws.onmessage = (event) => this.handle(event.data);
    ws.onclose = (event) => {
      this.ready = false;
      if (this.ws !== ws) return;
      this.onStatus('disconnected', event.code, event.reason);
      if (this.closed) return;
      if (STOP_CODES[event.code]) {
        this.stopped = { code: event.code, reason: event.reason };
        this.closed = true;
        this.onStatus('stopped', event.code, event.reason);
        this.onError({ type: 'error', code: STOP_CODES[event.code], closeCode: event.code,
                       message: event.reason || STOP_CODES[event.code] });
        return;
      }
      const delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
      this.timer = setTimeout(() => this.connect(), delay * (0.5 + Math.random() / 2));
    };
    ws.onerror = () => {};  // onclose follows and schedules the reconnect
  }

  sendHello() {
    const hello = { type: 'hello' };
    this.resuming = Boolean(this.lastLsn);
    // A snapshot that did not end before the disconnect is taken again from the start.
    for (const [id, sub] of this.subscriptions)
      if (sub.snapshot && !sub.needsSnapshot && !sub.snapshotDone) this.resetSubscription(id, sub, { type: 'reconnect' });
    if (this.clientId) hello.client_id = this.clientId;
    if (this.lastLsn) hello.last_lsn = this.lastLsn;
    if (this.token) hello.token = this.token;
    // Subscriptions ride in the hello so a resume replays for them (docs/protocol.md).
    hello.subscriptions = [...this.subscriptions].map(([id, sub]) => this.subscribeFields(id, sub));
    this.inHello = new Set(this.subscriptions.keys());
    this.send(hello);
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== 1) return;
    this.ws.send(this.encoding === 'msgpack' ? encoder.encode(frame) : JSON.stringify(frame));
  }

  subscribeFields(id, sub) {
    if (sub.channel !== undefined) return { id, channel: sub.channel };
    const fields = { id, table: sub.table };
    if (sub.filter !== undefined) fields.filter = sub.filter;
    if (sub.columns !== undefined) fields.columns = sub.columns;
    if (sub.needsSnapshot) {
      fields.snapshot = true;
      sub.needsSnapshot = false;
      sub.snapshotDone = false;
    }
    return fields;
  }

  // The subscription's rows are stale: tell the app, forget them, and ask for a snapshot.
  resetSubscription(id, sub, frame) {
    if (sub.rows) sub.rows.clear();
    sub.needsSnapshot = true;
    sub.snapshotDone = false;
    if (sub.onReset) sub.onReset(frame);
  }

  sendSubscribe(id, sub) {
    this.send({ type: 'subscribe', ...this.subscribeFields(id, sub) });
  }

  handle(data) {
    let frame;
    try {
      if (this.encoding === 'msgpack') {
        if (typeof data === 'string') throw new Error('a text frame on livesync.v1.msgpack');
        frame = decoder.decode(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
      } else {
        frame = JSON.parse(typeof data === 'string' ? data : data.toString());
      }
    } catch (e) {
      this.onError({ code: 'bad_frame', message: `server sent a frame that is not ${this.encoding}: ${e.message}` });
      return;
    }
    switch (frame.type) {
      case 'welcome':
        this.clientId = frame.client_id;
        // Live after this position: the place to resume from until a change arrives.
        if (!this.lastLsn) this.lastLsn = frame.lsn;
        this.ready = true;
        this.backoffMs = this.minBackoffMs;
        // Subscriptions added after the hello went out (before this welcome) were not in
        // it and could not be sent before the session was ready: send them now.
        for (const [id, sub] of this.subscriptions) if (!this.inHello.has(id)) this.sendSubscribe(id, sub);
        this.onStatus(this.resuming ? 'resuming' : 'live', frame);
        break;
      case 'caught_up':
        this.resuming = false;
        this.onStatus('live', frame);
        break;
      case 'subscribed': {
        const sub = this.subscriptions.get(frame.id);
        if (sub) sub.resyncing = false;
        if (sub && sub.onReady) sub.onReady(frame);
        break;
      }
      case 'snapshot_rows': {
        const sub = this.subscriptions.get(frame.id);
        if (!sub || sub.resyncing) break;
        for (const row of frame.rows) {
          const change = { op: 'insert', new: row, sub: [frame.id], snapshot: true };
          sub.onChange(sub.rows ? mergeUnchanged(change, sub.rows, sub.key) : change, frame);
        }
        break;
      }
      case 'snapshot_end': {
        const sub = this.subscriptions.get(frame.id);
        if (!sub || sub.resyncing) break;
        sub.snapshotDone = true;
        if (sub.onSnapshotEnd) sub.onSnapshotEnd(frame);
        break;
      }
      case 'changes':
        for (const change of frame.changes) {
          if (change.op === 'schema') {
            // The table's new columns (those this subscription may see), before any row
            // of the new shape; never passed to onChange, which gets rows only.
            for (const id of change.sub ?? []) {
              const sub = this.subscriptions.get(id);
              if (sub && sub.onSchema) sub.onSchema(change, frame);
            }
            this.onSchema(change, frame);
            continue;
          }
          for (const id of change.sub ?? []) {
            const sub = this.subscriptions.get(id);
            if (sub && !sub.resyncing) sub.onChange(sub.rows ? mergeUnchanged(change, sub.rows, sub.key) : change, frame);
          }
          if (change.op === 'message') this.onNotify(change, frame);
        }
        // Only after delivering the whole transaction (all parts of a split one).
        if (frame.final !== false) this.lastLsn = frame.lsn;
        break;
      case 'resync_required': {
        // The server no longer holds what we missed -- on a resume, or mid-session when the
        // sidecar fell behind the stream: start from now, and let the app reload.
        const wasResuming = this.resuming;
        this.resuming = false;
        this.lastLsn = frame.lsn ?? null;
        for (const sub of this.subscriptions.values()) if (sub.rows) sub.rows.clear();  // stale now
        // Snapshot subscriptions reload by themselves: reset, then a fresh snapshot; what
        // arrives for them until the new `subscribed` belongs to the old one.
        for (const [id, sub] of this.subscriptions) {
          if (!sub.snapshot) continue;
          this.resetSubscription(id, sub, frame);
          sub.resyncing = true;
          this.send({ type: 'unsubscribe', id });
          this.sendSubscribe(id, sub);
        }
        this.onResync(frame);
        if (wasResuming) this.onStatus('live', frame);  // in place of caught_up
        break;
      }
      case 'error':
        this.onError(frame);
        if (frame.code === 'not_ready' && !this.ready) {
          // The hello was not taken (a sidecar that just started has not read the stream
          // yet): say it again on this connection, backing off like a reconnect.
          const ws = this.ws;
          const delay = this.backoffMs;
          this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
          clearTimeout(this.timer);
          this.timer = setTimeout(() => { if (this.ws === ws && !this.ready) this.sendHello(); }, delay);
        }
        break;
      case 'unsubscribed': {
        // With a reason, the server ended it: its grant was revoked (forbidden) or its
        // table unpublished (unknown_table). It is gone; do not send it again.
        if (!frame.reason) break;  // the answer to our own unsubscribe
        const sub = this.subscriptions.get(frame.id);
        this.subscriptions.delete(frame.id);
        if (sub && sub.onEnd) sub.onEnd(frame);
        this.onError({ type: 'error', code: frame.reason, message: frame.message, id: frame.id });
        break;
      }
      default:
        break;  // pong, and frame types added later
    }
  }
}
