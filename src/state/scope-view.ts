import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { InvalidKeyError } from '../errors/invalid-key-error.js';
import type { CacheEntry } from './cache-entry.js';
import { binaryCacheKey, decodeUserKey, describe, ScopeCodec, type StateKey } from './key-codec.js';
import type { PartitionCore } from './partition-core.js';
import { assertStorable, decodeValue, readExpiry } from './value-codec.js';

/** Options for {@link ScopeView.get}. */
export interface GetOptions {
  /** Restart the entry's time-to-live from now (a read never extends it otherwise). */
  extendTtl?: boolean;
}

/** Options for {@link ScopeView.put} and {@link ScopeView.update}. */
export interface PutOptions {
  /** Time-to-live in ms from now; 0 = never expires. Default: the store's `defaultTtlMs`. */
  ttlMs?: number;
}

/** Options for {@link ScopeView.entries} and {@link ScopeView.keys}. */
export interface RangeOptions {
  /** Only keys starting with this prefix (same type: string prefix, string keys). */
  prefix?: StateKey;
  /** Inclusive lower bound. */
  start?: StateKey;
  /** Exclusive upper bound. */
  end?: StateKey;
  /** Iterate from the highest key down. */
  reverse?: boolean;
  /** Stop after this many entries. */
  limit?: number;
}

/** A key and its value. */
export interface StateEntry<T = unknown> {
  key: StateKey;
  value: T;
}

/**
 * Key-value state of one scope of one partition. Reads and writes are
 * synchronous: hits come from the hot cache, misses from LMDB's memory map.
 * Changes are held in memory until the store's next `commit()`, which writes
 * them together with the partition's offset.
 *
 * Values are held by reference until committed: treat a value you got from
 * `get` as read-only, or `put` it again after changing it.
 */
// The owner of its cache entries (a CacheEntryOwner, checked where entries
// are created): no `implements` clause, which would make the published .d.ts
// name the members stripInternal removes.
export class ScopeView {
  private readonly strings = new Map<string, CacheEntry>();
  private readonly binaries = new Map<string, CacheEntry>();
  /** @internal Encodes this scope's keys. */
  readonly codec: ScopeCodec;

  /** @internal */
  constructor(
    /** @internal */
    readonly core: PartitionCore,
    /** Scope name; "" for the partition's default scope. */
    readonly scopeName: string,
  ) {
    this.codec = new ScopeCodec(scopeName);
  }

  /** Value for `key`, or undefined if absent or expired. */
  get<T = unknown>(key: StateKey, options?: GetOptions): T | undefined {
    const core = this.core;
    if (core.dead) core.check();
    const counters = core.counters;
    counters.gets++;
    const e = typeof key === 'string' ? this.strings.get(key) : this.binaries.get(binaryCacheKey(key));
    if (e !== undefined) {
      counters.cacheHits++;
      if (e.deleted) return undefined;
      if (e.expiresAt !== 0 && core.clock.now() >= e.expiresAt) {
        this.expire(e);
        return undefined;
      }
      e.touched = true;
      if (options?.extendTtl === true) this.extend(e);
      return e.value as T;
    }
    counters.cacheMisses++;
    const loaded = this.load(key);
    if (loaded === undefined) return undefined;
    if (options?.extendTtl === true) this.extend(loaded);
    return loaded.value as T;
  }

  /** True if `key` has a live value. */
  has(key: StateKey): boolean {
    const core = this.core;
    core.check();
    const e = this.lookup(key);
    if (e !== undefined) return !e.deleted && !(e.expiresAt !== 0 && core.clock.now() >= e.expiresAt);
    const raw = core.ctx.backend.get(core.tp, this.codec.encode(key));
    if (raw === undefined) return false;
    const exp = readExpiry(raw);
    return exp === 0 || core.clock.now() < exp;
  }

  /**
   * Sets `key` to `value`. The value is validated now (a value msgpack cannot
   * round-trip throws {@link InvalidValueError} and nothing changes) and
   * written at the next commit.
   */
  put(key: StateKey, value: unknown, options?: PutOptions): void {
    const core = this.core;
    if (core.dead || core.readOnly) core.checkWritable('put');
    assertStorable(value, key);
    const ttl = options === undefined || options.ttlMs === undefined ? core.defaultTtlMs : checkTtl(options.ttlMs);
    let e = typeof key === 'string' ? this.strings.get(key) : this.binaries.get(binaryCacheKey(key));
    if (e === undefined) e = this.create(key);
    e.value = value;
    e.deleted = false;
    e.ttlMs = ttl;
    e.expiresAt = ttl === 0 ? 0 : core.clock.now() + ttl;
    if (!e.dirty) core.markDirty(e);
    core.counters.puts++;
  }

  /**
   * Replaces the value of `key` with `fn(current)`. `fn` gets undefined when
   * the key is absent; if it throws, nothing changes. Returns the new value.
   */
  update<T>(key: StateKey, fn: (current: T | undefined) => T, options?: PutOptions): T {
    const next = fn(this.get<T>(key));
    this.put(key, next, options);
    return next;
  }

  /** Removes `key`; returns whether it had a live value. Written at the next commit. */
  delete(key: StateKey): boolean {
    const core = this.core;
    core.checkWritable('delete');
    let e = this.lookup(key);
    let existed: boolean;
    if (e !== undefined) {
      existed = !e.deleted && !(e.expiresAt !== 0 && core.clock.now() >= e.expiresAt);
    } else {
      const raw = core.ctx.backend.get(core.tp, this.codec.encode(key));
      if (raw === undefined) return false;
      const exp = readExpiry(raw);
      existed = exp === 0 || core.clock.now() < exp;
      e = this.create(key);
    }
    this.tombstone(e);
    if (existed) core.counters.deletes++;
    return existed;
  }

  /**
   * Live entries in key order (committed state overlaid with changes not yet
   * committed). Strings sort by UTF-8 bytes, before binary keys.
   */
  *entries<T = unknown>(options: RangeOptions = {}): IterableIterator<StateEntry<T>> {
    const core = this.core;
    core.check();
    const { start, end } = this.bounds(options);
    const reverse = options.reverse === true;
    const limit = checkLimit(options.limit);
    if (limit === 0) return;
    const now = core.clock.now();
    const live = (e: CacheEntry): boolean => !e.deleted && !(e.expiresAt !== 0 && now >= e.expiresAt);

    // Uncommitted changes in range, sorted the same way as the stored keys.
    const pending: Array<{ k: Buffer; e: CacheEntry }> = [];
    const captured = new Set<CacheEntry>();
    for (const e of core.queue) {
      if (e.owner !== this) continue;
      captured.add(e);
      const k = this.codec.encode(e.key);
      if (k.compare(start) >= 0 && k.compare(end) < 0) pending.push({ k, e });
    }
    pending.sort((a, b) => (reverse ? b.k.compare(a.k) : a.k.compare(b.k)));

    let yielded = 0;
    let pi = 0;
    const stored = core.ctx.backend.range(core.tp, { start, end, reverse })[Symbol.iterator]();
    let s = stored.next();
    while (!s.done || pi < pending.length) {
      let fromPending: CacheEntry | undefined;
      let key: StateKey | undefined;
      let value: unknown;
      if (pi < pending.length && (s.done || orderOf(pending[pi]!.k.compare(s.value.key), reverse) <= 0)) {
        const p = pending[pi++]!;
        if (!s.done && p.k.equals(s.value.key)) s = stored.next(); // the change replaces the stored value
        fromPending = p.e;
      } else if (!s.done) {
        const raw = s.value;
        s = stored.next();
        key = decodeUserKey(raw.key, this.codec.header.length);
        const cached = this.lookup(key);
        if (cached !== undefined) {
          // Changes captured above are merged in order through `pending`;
          // one made while iterating is shown where its stored key was.
          if (captured.has(cached)) continue;
          fromPending = cached;
        } else {
          const exp = readExpiry(raw.value);
          if (exp !== 0 && now >= exp) continue;
          value = decodeValue(raw.value).value;
        }
      }
      if (fromPending !== undefined) {
        if (!live(fromPending)) continue;
        key = fromPending.key;
        value = fromPending.value;
      }
      yield { key: key!, value: value as T };
      if (++yielded === limit) return;
    }
  }

  /** Live keys in key order; takes the same options as {@link entries}. */
  *keys(options: RangeOptions = {}): IterableIterator<StateKey> {
    for (const e of this.entries(options)) yield e.key;
  }

  /** Number of live entries in this scope (a scan: O(entries)). */
  count(): number {
    let n = 0;
    for (const _ of this.entries()) n++;
    return n;
  }

  /** @internal The cache dropped `e`: forget it here too (see `CacheEntryOwner`). */
  unindex(e: CacheEntry, evicted: boolean): void {
    const map = typeof e.key === 'string' ? this.strings : this.binaries;
    if (map.get(e.mapKey) === e) map.delete(e.mapKey);
    if (evicted) this.core.counters.evictions++;
  }

  /** @internal Forgets every cached entry (partition released or replaced). */
  clear(): void {
    const cache = this.core.cache;
    for (const map of [this.strings, this.binaries]) {
      for (const e of [...map.values()]) cache.remove(e);
      map.clear();
    }
  }

  /**
   * @internal Removes `key` if it has expired by `now`; used by the sweep.
   * Reads the committed value again: the sweep walks an older snapshot, and
   * a commit since may have removed the key already (reported then).
   */
  expireIfDue(key: StateKey, now: number): boolean {
    const e = this.lookup(key);
    if (e !== undefined) {
      if (e.deleted || e.expiresAt === 0 || now < e.expiresAt) return false;
      this.expire(e);
      return true;
    }
    const core = this.core;
    const stored = core.ctx.backend.get(core.tp, this.codec.encode(key));
    if (stored === undefined) return false;
    const storedExpiry = readExpiry(stored);
    if (storedExpiry === 0 || now < storedExpiry) return false;
    this.tombstone(this.create(key));
    core.expired(this.scopeName, key, () => decodeValue(stored).value, storedExpiry);
    return true;
  }

  /** @internal Expires every cached entry that is due; returns how many. */
  expireCached(now: number): number {
    let n = 0;
    for (const map of [this.strings, this.binaries]) {
      for (const e of map.values()) {
        if (!e.deleted && e.expiresAt !== 0 && now >= e.expiresAt) {
          this.expire(e);
          n++;
        }
      }
    }
    return n;
  }

  private lookup(key: StateKey): CacheEntry | undefined {
    if (typeof key === 'string') return this.strings.get(key);
    if (!(key instanceof Uint8Array))
      throw new InvalidKeyError(`key must be a string or a Buffer, got ${describe(key)}`);
    return this.binaries.get(binaryCacheKey(key));
  }

  private load(key: StateKey): CacheEntry | undefined {
    const core = this.core;
    const raw = core.ctx.backend.get(core.tp, this.codec.encode(key));
    if (raw === undefined) return undefined;
    const exp = readExpiry(raw);
    if (exp !== 0 && core.clock.now() >= exp) {
      if (core.readOnly) return undefined; // hidden; its owner removes it
      // Lazy removal: the delete lands with the next commit.
      const stored = Buffer.from(raw); // LMDB reuses its read buffer
      this.tombstone(this.create(key));
      core.expired(this.scopeName, key, () => decodeValue(stored).value, exp);
      return undefined;
    }
    const d = decodeValue(raw);
    const e = this.create(key);
    e.value = d.value;
    e.deleted = false;
    e.expiresAt = d.expiresAt;
    e.ttlMs = d.ttlMs;
    return e;
  }

  // A new index entry: a clean tombstone until the caller fills it in.
  private create(key: StateKey): CacheEntry {
    const binary = typeof key !== 'string';
    if (binary)
      this.codec.encode(key); // validates type, emptiness and size
    else if (key.length === 0 || key.length * 3 + this.codec.header.length + 1 > 1978) this.codec.encode(key);
    const mapKey = binary ? binaryCacheKey(key) : key;
    const e: CacheEntry = {
      owner: this,
      mapKey,
      key: binary ? Buffer.from(key) : key,
      value: undefined,
      deleted: true,
      expiresAt: 0,
      ttlMs: 0,
      dirty: false,
      touched: false,
    };
    (binary ? this.binaries : this.strings).set(mapKey, e);
    this.core.cache.add(e);
    return e;
  }

  private tombstone(e: CacheEntry): void {
    e.value = undefined;
    e.deleted = true;
    e.expiresAt = 0;
    e.ttlMs = 0;
    if (!e.dirty) this.core.markDirty(e);
  }

  private expire(e: CacheEntry): void {
    if (this.core.readOnly) {
      // Hidden from now on in this process, but nothing is written.
      e.deleted = true;
      e.value = undefined;
      return;
    }
    const { value, expiresAt } = e;
    this.tombstone(e);
    this.core.expired(this.scopeName, e.key, () => value, expiresAt);
  }

  private extend(e: CacheEntry): void {
    if (e.ttlMs === 0 || this.core.readOnly) return;
    e.expiresAt = this.core.clock.now() + e.ttlMs;
    if (!e.dirty) this.core.markDirty(e);
  }

  private bounds(options: RangeOptions): { start: Buffer; end: Buffer } {
    let start = this.codec.lowerBound;
    let end = this.codec.upperBound;
    if (options.prefix !== undefined) ({ start, end } = this.codec.prefixBounds(options.prefix));
    if (options.start !== undefined) start = maxBuf(start, this.codec.encodeBound(options.start));
    if (options.end !== undefined) end = minBuf(end, this.codec.encodeBound(options.end));
    return { start, end };
  }
}

function orderOf(cmp: number, reverse: boolean): number {
  return reverse ? -cmp : cmp;
}

function maxBuf(a: Buffer, b: Buffer): Buffer {
  return a.compare(b) >= 0 ? a : b;
}

function minBuf(a: Buffer, b: Buffer): Buffer {
  return a.compare(b) <= 0 ? a : b;
}

function checkTtl(ttl: unknown): number {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) {
    throw new InvalidArgumentError(`ttlMs must be a finite number >= 0 (0 = never expires), got ${String(ttl)}`);
  }
  return ttl;
}

function checkLimit(limit: unknown): number {
  if (limit === undefined) return -1;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    throw new InvalidArgumentError(`limit must be an integer >= 0, got ${String(limit)}`);
  }
  return limit;
}
