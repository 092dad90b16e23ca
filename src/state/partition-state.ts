import type { TopicPartition } from '../util/topic-partition.js';
import type { PartitionCore } from './partition-core.js';
import { ScopeView } from './scope-view.js';
import type { PartitionStats } from './stats.js';

/**
 * State of one topic partition: the default scope's key-value API (inherited
 * from {@link ScopeView}) plus named scopes. Obtain it from
 * `StateStore.partition(topic, partition)`.
 */
export class PartitionState extends ScopeView implements TopicPartition {
  readonly topic: string;
  readonly partition: number;
  /** @internal Scope name -> view; "" is this default scope. */
  readonly views = new Map<string, ScopeView>();

  /** @internal */
  constructor(core: PartitionCore) {
    super(core, '');
    this.topic = core.tp.topic;
    this.partition = core.tp.partition;
    this.views.set('', this);
  }

  /**
   * A named view inside this partition (a tenant, a session, an entity type).
   * Its keys never collide with another scope's, and listing it returns its
   * keys only. Names are up to 255 UTF-8 bytes; "" is the default scope.
   */
  scope(name: string): ScopeView {
    this.core.check();
    let view = this.views.get(name);
    if (view === undefined) {
      view = new ScopeView(this.core, name);
      this.views.set(name, view);
    }
    return view;
  }

  /** Next offset to consume, as of the last durable commit (undefined if none). */
  get committedOffset(): string | undefined {
    this.core.check();
    return this.core.ctx.backend.offset(this.core.tp);
  }

  /** Counters for this partition since the store was opened. */
  stats(): PartitionStats {
    return { ...this.core.counters, entries: this.core.ctx.backend.entryCount(this.core.tp) };
  }
}
