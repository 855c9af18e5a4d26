// Types for the soundtrack Node.js client. The wire types (every method's params and result,
// every notification) are generated from the server's schema into ./protocol.d.ts; this file
// adds what only the client has (connecting, reconnect, decoded PCM, MarkerClock).
import { EventEmitter } from 'node:events';
import { ChildProcess } from 'node:child_process';
import type {
  ErrorCodes, HelloParams, HelloResult, LoadParams, LoadResult, Marker, Methods, MethodName, Notifications,
  NotificationKind, Plan, RenderResult, SetParamResult, StartResult, StatusResult, StingerPlan, StopResult,
  SubscribeResult, UnsubscribeResult, ShutdownResult, EventResult,
} from './protocol';

export * from './protocol';

export declare const ErrorCode: ErrorCodes;

export declare class RemoteError extends Error {
  method: string;
  code: number;
  remoteMessage: string;
  data?: unknown;
}

/** Where something sounds: an output frame and its bar:beat on the grid of the state there. */
export interface Where {
  frame: number;
  bar?: number;
  beat?: number;
  position?: string;
}

/** Kept for older code: `hello`'s result. */
export type Hello = HelloResult;

/** A `render` result with `pcm` decoded to samples (interleaved, frames * channels of them). */
export type Block<T extends Float32Array | Int16Array = Float32Array> = Omit<RenderResult, 'pcm'> & { pcm: T };

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
  /** Any method with positional params (in the schema's order): every wrapper below is one line over call/callNamed. */
  call<M extends MethodName>(method: M, params?: unknown[]): Promise<Methods[M]['result']>;
  call(method: string, params?: unknown[]): Promise<any>;
  /** Any method with named params, e.g. callNamed('pause', { fade: '50ms' }), callNamed('hello', { role: 'controller', take: true }). */
  callNamed<M extends MethodName>(method: M, named: Methods[M]['params']): Promise<Methods[M]['result']>;
  callNamed(method: string, named: Record<string, unknown>): Promise<any>;
  hello(opts?: { role?: HelloParams['role']; token?: string; client?: string }): Promise<HelloResult>;
  load(opts?: { path?: LoadParams['path']; seed?: LoadParams['seed'] }): Promise<LoadResult>;
  start(state?: string): Promise<StartResult>;
  event(event: string, opts?: { atFrame?: number }): Promise<EventResult>;
  setParam(name: string, value: number, opts?: { ramp?: number | string }): Promise<SetParamResult>;
  render(frames: number, format?: 'f32'): Promise<Block<Float32Array>>;
  render(frames: number, format: 's16'): Promise<Block<Int16Array>>;
  subscribe(kinds?: NotificationKind[]): Promise<SubscribeResult>;
  unsubscribe(kinds?: NotificationKind[]): Promise<UnsubscribeResult>;
  status(): Promise<StatusResult>;
  stop(opts?: { fade?: number | string }): Promise<StopResult>;
  shutdown(): Promise<ShutdownResult>;
  ping<T>(payload?: T): Promise<T>;
  close(): void;
  on<K extends NotificationKind>(event: 'notification', listener: (kind: K, payload: Notifications[K]) => void): this;
  on(event: 'close', listener: (error: Error | null) => void): this;
}

/** What `event` returns: a transition plan, or a stinger's when a stinger's name was posted. */
export type { Plan, StingerPlan };

/**
 * Raises each marker when it is heard: push(block) every block you pull, advance(heardFrame)
 * with the frame at the speaker (frames your output played, less its latency).
 */
export declare class MarkerClock extends EventEmitter {
  heardFrame: number;
  push(block: Block<Float32Array | Int16Array>): void;
  advance(heardFrame: number): void;
  reset(): void;
  on(event: 'marker', listener: (kind: Marker['kind'], marker: Marker) => void): this;
}
