// Types for the soundtrack Node.js client (see docs/protocol.md for every field).
import { EventEmitter } from 'node:events';
import { ChildProcess } from 'node:child_process';

export declare const ErrorCode: {
  readonly PARSE_ERROR: -32700;
  readonly MESSAGE_TOO_LARGE: -32701;
  readonly INVALID_REQUEST: -32600;
  readonly METHOD_NOT_FOUND: -32601;
  readonly INVALID_PARAMS: -32602;
  readonly INTERNAL_ERROR: -32603;
  readonly OUT_OF_RANGE: 1;
  readonly NOT_LOADED: 2;
  readonly NOT_CONTROLLER: 3;
  readonly UNAUTHORIZED: 4;
  readonly REJECTED: 5;
  readonly WRONG_MODE: 6;
  readonly BUSY: 7;
};

export declare class RemoteError extends Error {
  method: string;
  code: number;
  remoteMessage: string;
  data?: unknown;
}

export type NotificationKind = 'beat' | 'bar' | 'segment' | 'transition' | 'stinger' | 'state' | 'error';

/** Where something sounds: an output frame and its bar:beat on the playing state's grid. */
export interface Where {
  frame: number;
  bar?: number;
  beat?: number;
  position?: string;
}

export interface Hello {
  protocol: number;
  server: string;
  client_id: number;
  role: 'controller' | 'monitor';
  sample_rate: number;
  channels: number;
  formats: Array<'f32' | 's16'>;
  min_block_frames: number;
  max_block_frames: number;
  max_message_bytes: number;
  output: 'pull' | 'device';
  loaded: boolean;
  started: boolean;
  graph: string;
  states: string[];
  start_state: string;
  events: string[];
  stingers: string[];
  params: Record<string, { default: number; min: number; max: number }>;
  [key: string]: unknown;
}

export interface Plan {
  accepted: boolean;
  reason: string;
  event: string | null;
  from: string | null;
  to: string | null;
  posted_frame: number;
  edit_frame: number;
  position: string;
  bar?: number;
  beat?: number;
  commit_frame: number;
  main_frame: number;
  fade_frames: number;
  [key: string]: unknown;
}

export interface Block<T extends Float32Array | Int16Array = Float32Array> {
  frame: number;
  frames: number;
  channels: number;
  format: 'f32' | 's16';
  /** Interleaved samples, frames * channels of them. */
  pcm: T;
  markers: Array<Where & { kind: string; [key: string]: unknown }>;
}

/**
 * One connection. A 'notification' listener may call the client; the notifications for a
 * block are emitted before the `render` call that produced them resolves.
 */
export declare class Client extends EventEmitter {
  static connectTcp(port?: number, host?: string): Promise<Client>;
  static connectUnix(path: string): Promise<Client>;
  static spawn(command: string, args?: string[], options?: object): Client;
  process?: ChildProcess;
  closed: boolean;
  /** Dial the same TCP or Unix address again; calls still waiting are rejected. */
  reconnect(): Promise<this>;
  /** Any method with positional params: every wrapper below is one line over call/callNamed. */
  call(method: string, params?: unknown[]): Promise<any>;
  callNamed(method: string, named: Record<string, unknown>): Promise<any>;
  hello(opts?: { role?: 'controller' | 'monitor'; token?: string; client?: string }): Promise<Hello>;
  load(opts?: { path?: string; seed?: number }): Promise<Record<string, unknown>>;
  start(state?: string): Promise<Where & { state: string; tempo: number; meter: string }>;
  event(event: string, opts?: { atFrame?: number }): Promise<Plan>;
  setParam(name: string, value: number, opts?: { ramp?: number | string }): Promise<Where & Record<string, unknown>>;
  render(frames: number, format?: 'f32'): Promise<Block<Float32Array>>;
  render(frames: number, format: 's16'): Promise<Block<Int16Array>>;
  subscribe(kinds?: NotificationKind[]): Promise<{ subscribed: string[] }>;
  unsubscribe(kinds?: NotificationKind[]): Promise<{ subscribed: string[] }>;
  status(): Promise<Record<string, unknown>>;
  stop(opts?: { fade?: number | string }): Promise<Record<string, unknown>>;
  shutdown(): Promise<{ shutting_down: boolean }>;
  ping<T>(payload?: T): Promise<T>;
  close(): void;
  on(event: 'notification', listener: (kind: NotificationKind, payload: Where & Record<string, unknown>) => void): this;
  on(event: 'close', listener: (error: Error | null) => void): this;
}

/**
 * Raises each marker when it is heard: push(block) every block you pull, advance(heardFrame)
 * with the frame at the speaker (frames your output played, less its latency).
 */
export declare class MarkerClock extends EventEmitter {
  heardFrame: number;
  push(block: Block<Float32Array | Int16Array>): void;
  advance(heardFrame: number): void;
  reset(): void;
  on(event: 'marker', listener: (kind: string, marker: Where & { kind: string; [key: string]: unknown }) => void): this;
}
