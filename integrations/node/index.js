'use strict';
// A small Node.js client for `soundtrack serve` (MessagePack-RPC; see docs/protocol.md).
//
//   const { Client } = require('soundtrack-client');
//   const c = await Client.connectTcp(7700);            // or connectUnix(path), spawn(cmd, args)
//   await c.hello({ role: 'controller' });
//   await c.load(); await c.start();
//   const plan = await c.event('enemy_spotted');        // { from, to, edit_frame, bar, beat, ... }
//   const block = await c.render(1024);                 // block.pcm: Float32Array, interleaved
//   c.on('notification', (kind, payload) => { ... });  // after c.subscribe([...])

const net = require('node:net');
const { spawn } = require('node:child_process');
const { EventEmitter } = require('node:events');
const { encode, decodeMultiStream } = require('@msgpack/msgpack');

const REQUEST = 0;
const RESPONSE = 1;
const NOTIFICATION = 2;

// The numbers in `error.code`, as docs/protocol.md lists them.
const ErrorCode = Object.freeze({
  PARSE_ERROR: -32700,
  MESSAGE_TOO_LARGE: -32701,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  OUT_OF_RANGE: 1,
  NOT_LOADED: 2,
  NOT_CONTROLLER: 3,
  UNAUTHORIZED: 4,
  REJECTED: 5,
  WRONG_MODE: 6,
  BUSY: 7,
  NOT_READY: 8,
  TIMEOUT: 9,
});

const CODE_NAMES = Object.fromEntries(Object.entries(ErrorCode).map(([k, v]) => [v, k]));

/** An error response from the server: `code` (see ErrorCode), `message`, `data`. */
class RemoteError extends Error {
  constructor(method, error) {
    const code = error && typeof error === 'object' ? error.code : undefined;
    const message = error && typeof error === 'object' ? String(error.message) : String(error);
    super(`${method}: ${CODE_NAMES[code] || code} (${code}): ${message}`);
    this.name = 'RemoteError';
    this.method = method;
    this.code = code;
    this.remoteMessage = message;
    this.data = error && typeof error === 'object' ? error.data : undefined;
  }
}

function dial(options) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(options);
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.removeListener('error', reject);
      resolve(sock);
    });
  });
}

/**
 * One connection. Emits 'notification' (kind, payload) and 'close'. A 'notification' listener
 * may call the client (post an event on a bar): every response is matched by msgid, and the
 * notifications for a block are emitted before the `render` call that produced them resolves.
 */
class Client extends EventEmitter {
  constructor(readable, writable, closeFn) {
    super();
    this._nextId = 0;
    this._pending = new Map();
    this._attach(readable, writable, closeFn);
  }

  _attach(readable, writable, closeFn) {
    this._readable = readable;
    this._writable = writable;
    this._closeFn = closeFn;
    this.closed = false;
    this._pump(readable);
  }

  static async connectTcp(port = 7700, host = '127.0.0.1') {
    const options = { port, host, noDelay: true };
    const sock = await dial(options);
    const c = new Client(sock, sock, () => sock.end());
    c._dialOptions = options;
    return c;
  }

  static async connectUnix(path) {
    const options = { path };
    const sock = await dial(options);
    const c = new Client(sock, sock, () => sock.end());
    c._dialOptions = options;
    return c;
  }

  /**
   * Dial the same address again (after the server went away or restarted): resolves once
   * connected. Calls still waiting are rejected; the new server has a new session (hello, load
   * and start again). TCP and Unix-socket clients only.
   */
  async reconnect() {
    if (!this._dialOptions) throw new Error('reconnect: only a TCP or Unix-socket client can dial again');
    if (!this.closed) this.close();
    const lost = new Error('soundtrack: the connection was replaced by reconnect()');
    for (const { reject } of this._pending.values()) reject(lost);
    this._pending.clear();
    const sock = await dial(this._dialOptions);
    this._attach(sock, sock, () => sock.end());
    return this;
  }

  /** Start `command args` (e.g. `soundtrack serve GRAPH --stdio`) and talk over its stdin/stdout. */
  static spawn(command, args = [], options = {}) {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', options.stderr || 'inherit'], ...options });
    const client = new Client(child.stdout, child.stdin, () => child.stdin.end());
    client.process = child;
    return client;
  }

  async _pump(readable) {
    let failure = null;
    try {
      for await (const msg of decodeMultiStream(readable)) {
        if (this._readable !== readable) return;  // a reconnect replaced this stream
        this._dispatch(msg);
      }
    } catch (err) {
      failure = err;
    }
    if (this._readable !== readable) return;
    this.closed = true;
    const err = new Error(`soundtrack: the server closed the connection${failure ? ` (${failure.message})` : ''}`);
    for (const { reject } of this._pending.values()) reject(err);
    this._pending.clear();
    this.emit('close', failure);
  }

  _dispatch(msg) {
    if (!Array.isArray(msg)) return;
    if (msg[0] === RESPONSE && msg.length === 4) {
      const waiter = this._pending.get(msg[1]);
      if (!waiter) return;
      this._pending.delete(msg[1]);
      if (msg[2] !== null && msg[2] !== undefined) waiter.reject(new RemoteError(waiter.method, msg[2]));
      else waiter.resolve(msg[3]);
    } else if (msg[0] === NOTIFICATION && msg.length === 3) {
      const params = msg[2];
      const payload = Array.isArray(params) && params.length === 1 ? params[0] : params;
      this.emit('notification', msg[1], payload);
    }
  }

  /** Call `method` with positional `params` (an array); resolves with the result. */
  call(method, params = []) {
    if (this.closed) return Promise.reject(new Error(`soundtrack: ${method}: the connection is closed`));
    this._nextId = (this._nextId + 1) >>> 0;
    const id = this._nextId;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, method });
      this._writable.write(encode([REQUEST, id, method, params]));
    });
  }

  /** Call `method` with named parameters (sent as one map; undefined values are left out). Every
   * wrapper below is one line over call/callNamed: a new server method needs no new client. */
  callNamed(method, named) {
    const clean = Object.fromEntries(Object.entries(named).filter(([, v]) => v !== undefined && v !== null));
    return this.call(method, Object.keys(clean).length ? [clean] : []);
  }

  hello({ role = 'controller', token, client = 'soundtrack-node' } = {}) {
    return this.callNamed('hello', { role, token, client, version: 1 });
  }

  load({ path, seed } = {}) {
    return this.callNamed('load', { path, seed });
  }

  start(state) {
    return this.call('start', state ? [state] : []);
  }

  event(event, { atFrame } = {}) {
    return this.callNamed('event', { event, at_frame: atFrame });
  }

  setParam(name, value, { ramp } = {}) {
    return this.callNamed('set_param', { name, value, ramp });
  }

  /** The next `frames` frames. `pcm` is a Float32Array (or Int16Array for 's16'), interleaved. */
  async render(frames, format = 'f32') {
    const r = await this.call('render', [frames, format]);
    r.pcm = toSamples(r.pcm, r.format);
    return r;
  }

  subscribe(kinds) {
    return this.call('subscribe', kinds ? [kinds] : []);
  }

  unsubscribe(kinds) {
    return this.call('unsubscribe', kinds ? [kinds] : []);
  }

  status() {
    return this.call('status');
  }

  stop({ fade } = {}) {
    return this.callNamed('stop', { fade });
  }

  shutdown() {
    return this.call('shutdown');
  }

  ping(payload) {
    return this.call('ping', payload === undefined ? [] : [payload]);
  }

  close() {
    if (this._closeFn) this._closeFn();
  }
}

/**
 * Raises each marker when it is *heard*, not when its block was pulled. Give it every block
 * you pull (`push(block)`), and tell it where the speaker is (`advance(heardFrame)`: the frames
 * your audio output has played, less its own latency); it emits 'marker' (kind, payload) for
 * every marker whose frame has been reached, in order.
 */
class MarkerClock extends EventEmitter {
  constructor() {
    super();
    this._due = [];
    this._head = 0;
    this.heardFrame = -1;
  }

  push(block) {
    for (const m of block.markers || []) this._due.push(m);
  }

  advance(heardFrame) {
    this.heardFrame = heardFrame;
    while (this._head < this._due.length && this._due[this._head].frame <= heardFrame) {
      const m = this._due[this._head++];
      this.emit('marker', m.kind, m);
    }
    if (this._head > 1024) {
      this._due = this._due.slice(this._head);
      this._head = 0;
    }
  }

  /** Forget what is queued (a new session after a reconnect starts at frame 0). */
  reset() {
    this._due = [];
    this._head = 0;
  }
}

const LITTLE_ENDIAN = require('node:os').endianness() === 'LE';

// PCM arrives as little-endian bytes. On a little-endian host (every one Node runs on in
// practice) one copy into an aligned buffer is the whole decode; elsewhere a DataView swaps.
function toSamples(bytes, format) {
  if (LITTLE_ENDIAN) {
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    return format === 'f32' ? new Float32Array(copy) : new Int16Array(copy);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'f32') {
    const out = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const out = new Int16Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

module.exports = { Client, RemoteError, ErrorCode, MarkerClock };
