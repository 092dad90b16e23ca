// Account balances on Kafka: `npm run example:balances`
//
// Record key = account id, value = JSON {"account": string, "amount": number};
// state per account {count, sum}. Serves metrics while it runs and stops
// gracefully on SIGTERM. Configured by the environment (examples/lib/consumer.ts):
// KAFKA_BROKERS, TOPIC (default payments), GROUP_ID (default balances),
// STATE_DIR, CHECKPOINT_DIR, METRICS_PORT. Feed it with `npm run example:produce`.
import type { PartitionState, PipelineMessage } from '../src/index.js';
import { runConsumer } from './lib/consumer.js';

interface Payment {
  account: string;
  amount: number;
}

interface Balance {
  count: number;
  sum: number;
}

function applyPayment(message: PipelineMessage, state: PartitionState): void {
  if (message.value === null) return; // a tombstone: nothing to add
  const payment = JSON.parse(message.value.toString()) as Payment;
  if (typeof payment.account !== 'string' || typeof payment.amount !== 'number') {
    throw new Error(`not a payment at offset ${message.offset}: ${message.value.toString().slice(0, 80)}`);
  }
  state.update<Balance>(payment.account, (b) => ({ count: (b?.count ?? 0) + 1, sum: (b?.sum ?? 0) + payment.amount }));
}

await runConsumer({ topic: 'payments', groupId: 'balances', handler: applyPayment });
