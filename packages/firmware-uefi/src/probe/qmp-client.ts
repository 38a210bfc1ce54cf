import { createConnection, type Socket } from 'node:net';
import { ProbeError } from './probe-error';

/** One asynchronous QMP event (qapi/control.json): `{"event", "data", "timestamp"}`. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** The greeting QEMU sends on connect: `{"QMP": {"version": …, "capabilities": […]}}`. */
export interface QmpGreeting {
  version?: { qemu?: { major: number; minor: number; micro: number }; package?: string };
  capabilities?: string[];
}

export interface QmpOptions {
  /** How long connect + greeting + qmp_capabilities may take. */
  connectTimeoutMs?: number;
  /** Default time a command may take to answer. */
  commandTimeoutMs?: number;
}

/** A QMP error answer: `{"error": {"class", "desc"}}`. */
export class QmpCommandError extends ProbeError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
    socketPath: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`, { file: socketPath });
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface EventWaiter {
  name: string;
  resolve: (event: QmpEvent) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const MAX_LINE_BYTES = 16 << 20;
const MAX_KEPT_EVENTS = 1000;

/**
 * A small QMP client (QEMU docs/interop/qmp-spec): one JSON object per line over a unix socket;
 * commands carry an `id` that the answer echoes, events arrive at any time in between.
 * `connect()` reads the greeting and leaves capabilities negotiation mode.
 */
export class QmpClient {
  /** Every event received so far, oldest first (the last MAX_KEPT_EVENTS). */
  readonly events: QmpEvent[] = [];
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly waiters: EventWaiter[] = [];
  private readonly listeners: ((e: QmpEvent) => void)[] = [];
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
    readonly greeting: QmpGreeting,
    private readonly commandTimeoutMs: number,
    leftover: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk.toString('utf8')));
    socket.on('error', (e) => this.onClose(new ProbeError(`QMP socket error: ${e.message}`, { file: socketPath })));
    socket.on('close', () => this.onClose(new ProbeError('QMP connection closed by QEMU', { file: socketPath })));
    if (leftover) this.onData(leftover);
  }

  /** Connects, reads the greeting and sends `qmp_capabilities`. */
  static async connect(socketPath: string, options: QmpOptions = {}): Promise<QmpClient> {
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const { socket, greeting, leftover } = await new Promise<{ socket: Socket; greeting: QmpGreeting; leftover: string }>(
      (resolve, reject) => {
        const socket = createConnection(socketPath);
        let text = '';
        const fail = (why: string) => {
          clearTimeout(timer);
          socket.destroy();
          reject(new ProbeError(`QMP connect: ${why}`, { file: socketPath }));
        };
        const timer = setTimeout(() => fail(`no greeting within ${connectTimeoutMs} ms`), connectTimeoutMs);
        socket.on('error', (e) => fail(e.message));
        socket.on('close', () => fail('connection closed before the greeting'));
        socket.on('data', function onGreeting(chunk: Buffer) {
          text += chunk.toString('utf8');
          const nl = text.indexOf('\n');
          if (nl < 0) {
            if (text.length > MAX_LINE_BYTES) fail('greeting line too long');
            return;
          }
          let message: unknown;
          try {
            message = JSON.parse(text.slice(0, nl));
          } catch {
            fail(`expected a JSON greeting, found ${JSON.stringify(text.slice(0, 80))}`);
            return;
          }
          const qmp = (message as { QMP?: QmpGreeting } | null)?.QMP;
          if (typeof qmp !== 'object' || qmp === null) {
            fail(`expected a {"QMP": …} greeting, found ${JSON.stringify(text.slice(0, 80))}`);
            return;
          }
          clearTimeout(timer);
          socket.removeAllListeners('data');
          socket.removeAllListeners('error');
          socket.removeAllListeners('close');
          resolve({ socket, greeting: qmp, leftover: text.slice(nl + 1) });
        });
      },
    );
    const client = new QmpClient(socket, socketPath, greeting, options.commandTimeoutMs ?? 30_000, leftover);
    try {
      await client.execute('qmp_capabilities', undefined, connectTimeoutMs);
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  /** Sends one command and resolves with its `return` value; rejects with QmpCommandError on `error`. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `efikdump-${this.nextId++}`;
    const message = JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProbeError(`QMP ${command}: no answer within ${timeoutMs} ms`, { file: this.socketPath }));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(message + '\n');
    });
  }

  /** `query-status`: "running", "paused", "prelaunch", "shutdown", … */
  async status(): Promise<string> {
    const r = await this.execute<{ status?: unknown }>('query-status');
    if (typeof r?.status !== 'string') throw new ProbeError('QMP query-status: answer has no status', { file: this.socketPath });
    return r.status;
  }

  /** Calls `listener` for every later event; returns a function that removes it. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * The first event named `name` after `sinceIndex` (an index into `events`, default: the
   * events already received count, i.e. only new ones).
   */
  waitForEvent(name: string, timeoutMs = this.commandTimeoutMs, sinceIndex = this.events.length): Promise<QmpEvent> {
    const seen = this.events.slice(sinceIndex).find((e) => e.event === name);
    if (seen) return Promise.resolve(seen);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<QmpEvent>((resolve, reject) => {
      const waiter: EventWaiter = {
        name,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new ProbeError(`QMP: no ${name} event within ${timeoutMs} ms`, { file: this.socketPath }));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Whether the connection is gone (closed by us or by QEMU). */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  close(): void {
    this.onClose(new ProbeError('QMP connection closed', { file: this.socketPath }));
    this.socket.destroy();
  }

  private onData(text: string): void {
    this.buffer += text;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl < 0) break;
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
    if (this.buffer.length > MAX_LINE_BYTES) {
      this.onClose(new ProbeError(`QMP: a message longer than ${MAX_LINE_BYTES} bytes`, { file: this.socketPath }));
      this.socket.destroy();
    }
  }

  private onMessage(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // QEMU never sends this; a stray line must not break the session
    }
    if (typeof message.event === 'string') {
      const event = message as unknown as QmpEvent;
      this.events.push(event);
      if (this.events.length > MAX_KEPT_EVENTS) this.events.splice(0, this.events.length - MAX_KEPT_EVENTS);
      for (const l of [...this.listeners]) l(event);
      for (const w of [...this.waiters]) {
        if (w.name !== event.event) continue;
        clearTimeout(w.timer);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(event);
      }
      return;
    }
    const id = typeof message.id === 'string' ? message.id : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (!pending || id === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    const error = message.error as { class?: unknown; desc?: unknown } | undefined;
    if (error) {
      pending.reject(
        new QmpCommandError(pending.command, String(error.class ?? 'GenericError'), String(error.desc ?? ''), this.socketPath),
      );
    } else {
      pending.resolve(message.return);
    }
  }

  private onClose(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(error);
    }
  }
}
