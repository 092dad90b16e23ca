// A process whose members all stopped must exit by itself (a pod that hangs
// on shutdown). With @platformatic/kafka 2.12.1 (classic cooperative), a
// member stopped while the group rebalanced printed STOPPED and stayed alive:
// the client's heartbeat timer went on after close(). See
// docs/DEVELOPMENT.md. The child (test/fixtures/source-stop-exit.ts) stops
// its first member at several points of the second member's join.
import { describe, expect, it } from 'vitest';
import { runTs } from '../helpers/child.js';
import { createAdmin, createTopic, uniqueGroupId } from '../helpers/kafka.js';
import { brokers } from '../helpers/kafka.js';
import { kafkaClient } from './support/source-factory.js';

/** How long after STOPPED the process may take to exit. */
const EXIT_MS = 5000;

describe(`a process using the ${kafkaClient()} source`, () => {
  // 'start' only with @platformatic/kafka, the case it was written for. OPEN:
  // in CI a kafkajs process stopped during its start was still alive 5 s after
  // STOPPED (not investigated yet).
  it.each(kafkaClient() === 'platformatic' ? ['revoke', '0', '400', '900', 'start'] : ['revoke', '0', '400', '900'])(
    'exits after stop() during a rebalance or a start (stop at %s)',
    async (delay) => {
      const admin = await createAdmin();
      const topic = await createTopic(admin, { partitions: 4, prefix: 'tm-stop-exit' });
      await admin.disconnect();
      const child = runTs('test/fixtures/source-stop-exit.ts', [], {
        KAFKA_BROKERS: brokers().join(','),
        TOPIC: topic,
        GROUP_ID: uniqueGroupId('tm-stop-exit'),
        DELAY_MS: delay,
      });
      await child.waitFor(/^STOPPED$/);
      const stoppedAt = performance.now();
      const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('alive'), EXIT_MS))]);
      expect(
        code,
        `exit ${performance.now() - stoppedAt} ms after STOPPED; stdout:\n${child.lines.join('\n')}\nstderr:\n${child.stderr().slice(-2000)}`,
      ).toBe(0);
    },
    60_000,
  );
});
