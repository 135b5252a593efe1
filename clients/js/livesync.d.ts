// Types of livesync-client (livesync.js). Checked by test_js_package.py: a TypeScript
// program using every option compiles with --strict against the installed package.

/** A column value: what the JSON encoding gives (numeric, dates and other text-form
 * types as strings, json/jsonb parsed); over msgpack also Uint8Array (bytea) and bigint
 * (int8 beyond 2^53). */
export type Value = null | boolean | number | string | bigint | Uint8Array | Value[] | { [key: string]: unknown };
export type Row = Record<string, Value>;

export interface RowChange {
  sub: string[];
  op: 'insert' | 'update' | 'delete';
  schema: string;
  table: string;
  new?: Row;
  old?: Row;
  /** TOASTed columns whose value was not sent (and, with `key`, not known to the client). */
  unchanged?: string[];
  /** A row of the subscription's snapshot (op 'insert'; no schema/table). */
  snapshot?: boolean;
}
export interface TruncateChange {
  sub: string[];
  op: 'truncate';
  relations: { schema: string; table: string }[];
  cascade: boolean;
  restart_identity: boolean;
}
export interface MessageChange {
  sub: string[];
  op: 'message';
  channel: string;
  payload: unknown;
}
/** DDL on a subscribed table: its columns as this subscription may see them, in table
 * order, before any row of the new shape (delivered to onSchema, never to onChange). */
export interface SchemaChange {
  sub: string[];
  op: 'schema';
  schema: string;
  table: string;
  columns: { name: string; type: string }[];
}
export type Change = RowChange | TruncateChange | MessageChange | SchemaChange;

/** One transaction (or one part of a split transaction). */
export interface ChangesFrame {
  type: 'changes';
  lsn: string;
  xid: number;
  commit_time: string;
  part?: number;
  final?: boolean;
  changes: Change[];
}

export interface ServerFrame {
  type: string;
  [field: string]: unknown;
}

export interface ErrorInfo {
  type?: 'error';
  /** An error frame's code (not_ready, unknown_table, ...); for a stop: unauthorized,
   * forbidden, replaced or kicked; bad_frame for an undecodable frame. */
  code: string;
  message?: string;
  /** The subscription concerned, when there is one. */
  id?: string;
  /** The WebSocket close code, when the server ended the session for good. */
  closeCode?: number;
}

export type Status = 'connecting' | 'resuming' | 'live' | 'disconnected' | 'stopped';

export interface LiveSyncOptions {
  /** JWT, sent in the hello. */
  token?: string;
  clientId?: string;
  /** Resume from here (the `lsn` of the last transaction the application applied). */
  lastLsn?: string;
  /** 'json' (livesync.v1.json, default) or 'msgpack' (livesync.v1.msgpack). */
  encoding?: 'json' | 'msgpack';
  onStatus?: (status: Status, detail?: ServerFrame | number, reason?: string) => void;
  onError?: (error: ErrorInfo) => void;
  onNotify?: (message: MessageChange, tx: ChangesFrame) => void;
  onResync?: (frame: ServerFrame) => void;
  onSchema?: (change: SchemaChange, tx: ChangesFrame) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A WebSocket class where there is no global one (Node < 22: the `ws` package). */
  WebSocket?: unknown;
}

export interface SubscribeOptions {
  id?: string;
  /** A filter tree (docs/protocol.md). */
  filter?: unknown;
  columns?: string[];
  /** The table's key columns: the subscription then keeps its rows (`rows`) and fills an
   * update's unchanged TOAST columns from them. */
  key?: string[];
  onReady?: (frame: ServerFrame) => void;
  onEnd?: (frame: ServerFrame) => void;
  onSchema?: (change: SchemaChange, tx: ChangesFrame) => void;
  /** Start with the rows this subscription may see now (insert changes with
   * `snapshot: true`), then only the changes they do not contain; after resync_required
   * (or a reconnect before the snapshot ended) `onReset`, then a fresh snapshot. Needs a
   * sidecar started with --postgres. */
  snapshot?: boolean;
  onSnapshotEnd?: (frame: ServerFrame) => void;
  onReset?: (frame: ServerFrame) => void;
}

export interface TableOptions {
  id?: string;
  filter?: unknown;
  columns?: string[];
  /** Key columns of the collection (default ['id']). */
  key?: string[];
  onReady?: (frame: ServerFrame) => void;
  onEnd?: (frame: ServerFrame) => void;
}

export type TableEvent =
  | { type: 'change'; change: Change; tx: ChangesFrame | ServerFrame }
  | { type: 'reset'; frame: ServerFrame }
  | { type: 'ready'; frame: ServerFrame };

/** A live collection (LiveSync.table): the rows this client may see, always current. */
export interface LiveTable {
  readonly table: string;
  readonly key: string[];
  /** True once the snapshot ended (false again after a reset, until the next one). */
  readonly ready: boolean;
  /** The rows by JSON.stringify of their key values. */
  readonly rows: Map<string, Row>;
  readonly size: number;
  get(...keyValues: Value[]): Row | undefined;
  values(): Row[];
  /** Returns a function that removes the listener. */
  on(listener: (event: TableEvent) => void): () => void;
  close(): void;
}

export interface Subscription {
  id: string;
  /** With `key`: the rows seen so far, by JSON.stringify of their key values. */
  rows: Map<string, Row> | null;
  unsubscribe(): void;
}

export interface ListenOptions {
  id?: string;
  onReady?: (frame: ServerFrame) => void;
  onEnd?: (frame: ServerFrame) => void;
}

/** Close codes after which the client does not reconnect, and the error code it reports. */
export declare const STOP_CODES: Readonly<Record<4401 | 4403 | 4409 | 4410, string>>;

export declare class LiveSync {
  constructor(url: string, options?: LiveSyncOptions);
  readonly url: string;
  clientId: string | null;
  lastLsn: string | null;
  readonly encoding: 'json' | 'msgpack';
  /** Set when the server ended the session for good (STOP_CODES). */
  stopped: { code: number; reason: string } | null;
  subscribe(table: string, onChange: (change: Change, tx: ChangesFrame) => void, options?: SubscribeOptions): Subscription;
  table(table: string, options?: TableOptions): LiveTable;
  listen(channel: string, onMessage: (message: MessageChange, tx: ChangesFrame) => void, options?: ListenOptions): Subscription;
  unsubscribe(id: string): void;
  close(): void;
}
