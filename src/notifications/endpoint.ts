/**
 * One notification endpoint: ignore filter -> bounded queue -> one delivery at a time, retried with Distribution's
 * breaker (threshold consecutive failures, then `backoff` between attempts). Writes never block and never fail.
 *
 * Where wharf differs from Distribution on purpose: Distribution's queue is unbounded, so a dead endpoint grows
 * the registry's memory until it runs out; here the queue holds `queueSize` events and drops the oldest when full,
 * counting and logging the drops.
 */
import type { Logger } from 'pino';
import type { Event } from './event.js';
import type { Sender } from './http.js';

export interface EndpointOptions {
  name: string;
  /** For logs only, without credentials. */
  displayUrl: string;
  send: Sender;
  /** Consecutive failures after which the endpoint counts as failing and waits `backoffMs` between attempts. */
  threshold: number;
  backoffMs: number;
  /** Target media types and actions never sent (ignoredmediatypes + ignore.mediatypes, ignore.actions). */
  ignoreMediaTypes: readonly string[];
  ignoreActions: readonly string[];
  /** Events held while the endpoint is slow or down (default 1000). */
  queueSize?: number;
  log: Logger;
  hooks?: EndpointHooks;
}

/** Counters, named after Distribution's endpoint metrics (Events, Successes, Failures, Errors) plus drops. */
export interface EndpointHooks {
  /** An event entered the queue. */
  queued?(name: string): void;
  /** A POST answered 2xx/3xx. */
  success?(name: string, status: number): void;
  /** A POST answered another status. */
  failure?(name: string, status: number): void;
  /** A POST did not get an answer (connection refused, timeout). */
  error?(name: string): void;
  /** An event was dropped because the queue was full. */
  dropped?(name: string): void;
  /** The queue length changed. */
  pending?(name: string, n: number): void;
}

const DROP_LOG_INTERVAL_MS = 10_000;

/** A fixed-capacity FIFO that overwrites its oldest element when full. */
export class BoundedQueue<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('queue capacity must be a positive integer');
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Appends; returns the element pushed out to make room, if any. */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.count === this.capacity) {
      dropped = this.shift();
    }
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return dropped;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}

export class Endpoint {
  readonly name: string;
  private readonly queue: BoundedQueue<Event>;
  private readonly ignoreMediaTypes: Set<string>;
  private readonly ignoreActions: Set<string>;
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private failures = 0;
  private failing = false;
  private droppedTotal = 0;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  /** Resolves when the delivery loop is idle (for tests and shutdown). */
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly opts: EndpointOptions) {
    this.name = opts.name;
    this.queue = new BoundedQueue(opts.queueSize ?? 1000);
    this.ignoreMediaTypes = new Set(opts.ignoreMediaTypes);
    this.ignoreActions = new Set(opts.ignoreActions);
  }

  /** Events waiting (not counting the one being delivered). */
  get pending(): number {
    return this.queue.length;
  }

  get dropped(): number {
    return this.droppedTotal;
  }

  /** Whether `threshold` consecutive attempts have failed and no attempt has succeeded since. */
  get isFailing(): boolean {
    return this.failing;
  }

  /** Whether this endpoint sends the event at all (Distribution's ignoredSink). */
  accepts(event: Event): boolean {
    if (this.ignoreActions.has(event.action)) return false;
    if (event.target.mediaType !== undefined && this.ignoreMediaTypes.has(event.target.mediaType)) return false;
    return true;
  }

  /** Queues the event for delivery; returns at once. */
  write(event: Event): void {
    if (this.stopped || !this.accepts(event)) return;
    const dropped = this.queue.push(event);
    this.opts.hooks?.queued?.(this.name);
    if (dropped) this.noteDrop();
    this.opts.hooks?.pending?.(this.name, this.queue.length);
    if (!this.running) {
      this.running = true;
      this.idle = this.run();
    }
  }

  /** Resolves once every queued event has been delivered or dropped (never, while the endpoint is down). */
  async drained(): Promise<void> {
    while (this.running) await this.idle;
  }

  /** Stops delivering; events still queued are discarded (they live in memory only, as in Distribution). */
  stop(): number {
    if (this.stopped) return 0;
    this.stopped = true;
    const left = this.queue.length;
    this.queue.clear();
    this.opts.hooks?.pending?.(this.name, 0);
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    return left;
  }

  private noteDrop(): void {
    this.droppedTotal++;
    this.droppedSinceLog++;
    this.opts.hooks?.dropped?.(this.name);
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_INTERVAL_MS) {
      this.opts.log.warn(
        {
          endpoint: this.name,
          dropped: this.droppedSinceLog,
          dropped_total: this.droppedTotal,
          queue_size: this.queue.capacity,
        },
        `notifications: endpoint ${this.name} is not keeping up; its queue is full, the oldest events were dropped`,
      );
      this.lastDropLog = now;
      this.droppedSinceLog = 0;
    }
  }

  /** Delivers until the queue is empty; never rejects (nobody awaits it but `drained`). */
  private async run(): Promise<void> {
    try {
      for (;;) {
        const event = this.queue.shift();
        if (event === undefined || this.stopped) return;
        this.opts.hooks?.pending?.(this.name, this.queue.length);
        try {
          await this.deliver(event);
        } catch (err) {
          // An event that cannot even be serialised is dropped, not retried forever, and the queue goes on.
          this.opts.log.error(
            { err, endpoint: this.name },
            `notifications: dropped an event for endpoint ${this.name} that cannot be sent`,
          );
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Retries one event until it is delivered or the endpoint stops (Distribution's retrying sink never gives up). */
  private async deliver(event: Event): Promise<void> {
    const body = JSON.stringify({ events: [event] });
    while (!this.stopped) {
      let problem: string;
      try {
        const status = await this.opts.send(body, this.abort.signal);
        if (status >= 200 && status < 400) {
          this.opts.hooks?.success?.(this.name, status);
          if (this.failing)
            this.opts.log.info(
              { endpoint: this.name },
              `notifications: endpoint ${this.name} recovered after ${this.failures} failed attempts`,
            );
          this.failures = 0;
          this.failing = false;
          return;
        }
        this.opts.hooks?.failure?.(this.name, status);
        problem = `answered ${status}`;
      } catch (err) {
        if (this.stopped) return;
        this.opts.hooks?.error?.(this.name);
        problem = describeError(err);
      }
      this.failures++;
      this.opts.log.debug(
        { endpoint: this.name, failures: this.failures },
        `notifications: POST to endpoint ${this.name} failed: ${problem}`,
      );
      if (this.failures >= this.opts.threshold) {
        if (!this.failing) {
          this.failing = true;
          this.opts.log.warn(
            { endpoint: this.name, url: this.opts.displayUrl, failures: this.failures },
            `notifications: endpoint ${this.name} is failing (${problem}); retrying every ${this.opts.backoffMs} ms`,
          );
        }
        await this.sleep(this.opts.backoffMs);
      } else {
        // Below the threshold Distribution retries at once; yield to the event loop all the same.
        await this.sleep(0);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, ms);
    });
  }
}

/** A short reason for a failed POST; never the request (its headers may carry tokens). */
function describeError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  if (e?.cause?.code) return e.cause.code;
  if (e?.cause?.message) return e.cause.message;
  return e?.message ?? String(err);
}
