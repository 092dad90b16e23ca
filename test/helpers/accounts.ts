// The workload shared by the pipeline and Kafka tests: keyed records
// `{"account": "a17", "amount": 12}`; state per account `{count, sum}`.
import type { PartitionState, PipelineMessage } from '../../src/index.js';

export interface Balance {
  count: number;
  sum: number;
}

/** The deterministic i-th record. */
export function accountRecord(i: number, accounts = 97): { key: string; value: string } {
  const account = `a${(i * 7919) % accounts}`;
  return { key: account, value: JSON.stringify({ account, amount: (i % 13) - 3 }) };
}

/** The handler: count and sum per account. */
export function balanceHandler(message: PipelineMessage, state: PartitionState): void {
  const { account, amount } = JSON.parse(message.value!.toString()) as { account: string; amount: number };
  state.update<Balance>(account, (b) => ({ count: (b?.count ?? 0) + 1, sum: (b?.sum ?? 0) + amount }));
}

/** Reference state computed from the records themselves. */
export function reference(records: ReadonlyArray<{ value: string }>): Map<string, Balance> {
  const ref = new Map<string, Balance>();
  for (const r of records) {
    const { account, amount } = JSON.parse(r.value) as { account: string; amount: number };
    const b = ref.get(account) ?? { count: 0, sum: 0 };
    ref.set(account, { count: b.count + 1, sum: b.sum + amount });
  }
  return ref;
}
