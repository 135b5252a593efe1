// livesync client for browsers and Node (>= 22, or any runtime with a global
// WebSocket; pass `WebSocket` in the options otherwise). A plain ES module, no build
// step, no dependencies. Speaks protocol v1 over the `livesync.v1.json` subprotocol.
//
//   import { LiveSync } from './livesync.js';
//   const sync = new LiveSync('ws://127.0.0.1:8080/v1/sync', { token });
//   const sub = sync.subscribe('public.todos', (change, tx) => render(change));
//   sub.unsubscribe();
//   sync.listen('alerts', (msg) => toast(msg.payload));   // livesync.notify messages
//   new LiveSync(url, { onSchema: (change) => relayout(change.table, change.columns) });  // DDL
//
// It remembers the LSN of the last transaction it delivered and, after any disconnect,
// reconnects with exponential backoff, says hello with that LSN and its subscriptions,
// so the server can replay what was missed: no gap, no duplicate.

const PROTOCOL = 'livesync.v1.json';

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
                  onEnd: options.onEnd, onSchema: options.onSchema };
    this.subscriptions.set(id, sub);
    if (this.ready) this.sendSubscribe(id, sub);
    return { id, unsubscribe: () => this.unsubscribe(id) };
  }

  // livesync.notify messages on `channel` (the token's `channels` claim must allow it):
  // onMessage(change, tx) with change = {op: 'message', channel, payload, sub}.
  listen(channel, onMessage, options = {}) {
    const id = options.id ?? `n${this.nextId++}`;
    const sub = { channel, onChange: onMessage, onReady: options.onReady, onEnd: options.onEnd };
    this.subscriptions.set(id, sub);
    if (this.ready) this.sendSubscribe(id, sub);
    return { id, unsubscribe: () => this.unsubscribe(id) };
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
    const ws = new this.WebSocketImpl(this.url, PROTOCOL);
    this.ws = ws;
    ws.onopen = () => this.sendHello();
    ws.onmessage = (event) => this.handle(event.data);
    ws.onclose = (event) => {
      this.ready = false;
      if (this.ws !== ws) return;
      this.onStatus('disconnected', event.code, event.reason);
      if (this.closed || event.code === 4401 || event.code === 4403) return;  // retrying cannot help
      const delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
      this.timer = setTimeout(() => this.connect(), delay * (0.5 + Math.random() / 2));
    };
    ws.onerror = () => {};  // onclose follows and schedules the reconnect
  }

  sendHello() {
    const hello = { type: 'hello' };
    this.resuming = Boolean(this.lastLsn);
    if (this.clientId) hello.client_id = this.clientId;
    if (this.lastLsn) hello.last_lsn = this.lastLsn;
    if (this.token) hello.token = this.token;
    // Subscriptions ride in the hello so a resume replays for them (docs/protocol.md).
    hello.subscriptions = [...this.subscriptions].map(([id, sub]) => this.subscribeFields(id, sub));
    this.inHello = new Set(this.subscriptions.keys());
    this.send(hello);
  }

  send(frame) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  subscribeFields(id, sub) {
    if (sub.channel !== undefined) return { id, channel: sub.channel };
    const fields = { id, table: sub.table };
    if (sub.filter !== undefined) fields.filter = sub.filter;
    if (sub.columns !== undefined) fields.columns = sub.columns;
    return fields;
  }

  sendSubscribe(id, sub) {
    this.send({ type: 'subscribe', ...this.subscribeFields(id, sub) });
  }

  handle(data) {
    let frame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : data.toString());
    } catch (e) {
      this.onError({ code: 'bad_frame', message: `server sent a frame that is not JSON: ${e.message}` });
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
        if (sub && sub.onReady) sub.onReady(frame);
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
            if (sub) sub.onChange(change, frame);
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
