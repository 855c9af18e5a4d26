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

/** One connection. Emits 'notification' (kind, payload) and 'close'. */
class Client extends EventEmitter {
  constructor(readable, writable, closeFn) {
    super();
    this._writable = writable;
    this._closeFn = closeFn;
    this._nextId = 0;
    this._pending = new Map();
    this.closed = false;
    this._pump(readable);
  }

  static connectTcp(port = 7700, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ port, host, noDelay: true });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        resolve(new Client(sock, sock, () => sock.end()));
      });
    });
  }

  static connectUnix(path) {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        resolve(new Client(sock, sock, () => sock.end()));
      });
    });
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
        this._dispatch(msg);
      }
    } catch (err) {
      failure = err;
    }
    this.closed = true;
    const err = failure || new Error('the server closed the connection');
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
    if (this.closed) return Promise.reject(new Error('connection closed'));
    this._nextId = (this._nextId + 1) >>> 0;
    const id = this._nextId;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, method });
      this._writable.write(encode([REQUEST, id, method, params]));
    });
  }

  /** Call `method` with named parameters (sent as one map; undefined values are left out). */
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

// PCM arrives as little-endian bytes; copy them to an aligned buffer and read them with a
// DataView, so the result is right whatever the host's byte order and the bin's offset.
function toSamples(bytes, format) {
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

module.exports = { Client, RemoteError, ErrorCode };
