// The chaos members' record handler: one session per key on the event
// clock, failing transiently on marked records (once per record per process).
import type { PartitionState, PipelineMessage, RecordContext, RecordHandler } from '../../src/index.js';
import type { EventClock } from './event-clock.js';
import { nextSession, type Session } from './workload.js';

export function sessionHandler(clock: EventClock): RecordHandler {
  const failedOnce = new Set<string>();
  return (message: PipelineMessage, state: PartitionState, ctx: RecordContext): void => {
    const { amount, fail } = JSON.parse(message.value!.toString()) as { i: number; amount: number; fail: boolean };
    const id = `${ctx.partition}@${ctx.offset}`;
    if (fail && !failedOnce.has(id)) {
      failedOnce.add(id);
      throw new Error(`transient failure at ${id}`);
    }
    const key = message.key!.toString();
    const ts = Number(ctx.timestamp);
    clock.at(ctx.partition, ctx.offset, ts, () => {
      state.put(key, nextSession(state.get<Session>(key), amount, ts));
    });
  };
}
