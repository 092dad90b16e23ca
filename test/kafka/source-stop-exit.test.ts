// A process whose members all stopped must exit by itself (a pod that hangs
// on shutdown). With @platformatic/kafka 2.12.1 (classic cooperative), a
// member stopped while the group rebalanced printed STOPPED and stayed alive:
// the client's heartbeat timer went on after close(). See
// docs/DEVELOPMENT.md. The child (test/fixtures/source-stop-exit.ts) stops
// its first member at several points of the second member's join, or
// ('start') members at several points of their start: with kafkajs 2.2.4,
// a process stopped during its start stayed alive (a connect() that went on
// after the disconnect()).
import { describe, expect, it, onTestFinished } from 'vitest';
import { runTs } from '../helpers/child.js';
import { createAdmin, createTopic, uniqueGroupId } from '../helpers/kafka.js';
import { brokers } from '../helpers/kafka.js';
import { START_STEPS } from '../fixtures/kafkajs-stop-in-start.js';
import { kafkaClient } from './support/source-factory.js';

/** How long after STOPPED the process may take to exit. */
const EXIT_MS = 5000;

describe(`a process using the ${kafkaClient()} source`, () => {
  it.each(['revoke', '0', '400', '900', 'start'])(
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

// kafkajs's connect() and run() go on after a disconnect() that lands while
// they are in flight, and reconnect: a KafkaSource stopped in one of those
// steps was left with an open admin connection or a consumer in the group
// (docs/DEVELOPMENT.md). The child's kafkajs client calls stop() right as
// the named step has begun; 'restart-join' lands it in the join of the
// restart that follows a crash (a failing first assignment).
describe.runIf(kafkaClient() === 'kafkajs')('a process whose kafkajs source is stopped in a step of its start', () => {
  it.each(START_STEPS)(
    'exits after stop() during %s',
    async (step) => {
      const admin = await createAdmin();
      onTestFinished(() => admin.disconnect());
      const topic = await createTopic(admin, { partitions: 4, prefix: 'tm-stop-in-start' });
      const groupId = uniqueGroupId('tm-stop-in-start');
      const child = runTs('test/fixtures/kafkajs-stop-in-start.ts', [], {
        KAFKA_BROKERS: brokers().join(','),
        TOPIC: topic,
        GROUP_ID: groupId,
        STOP_IN: step,
      });
      await child.waitFor(/^STOPPED$/);
      const stoppedAt = performance.now();
      const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('alive'), EXIT_MS))]);
      const out = `stdout:\n${child.lines.join('\n')}\nstderr:\n${child.stderr().slice(-2000)}`;
      expect(child.lines, out).toContain(`STOP IN ${step}`);
      // A crash kafkajs restarts from (restart-join) is not a failure.
      expect(
        child.lines.filter((l) => l.startsWith('FAILED')),
        out,
      ).toEqual([]);
      expect(code, `exit ${performance.now() - stoppedAt} ms after STOPPED; ${out}`).toBe(0);
      // A member that joined left the group when it stopped (one that
      // crashed out instead stays a member until its session times out).
      const { groups } = await admin.describeGroups([groupId]);
      expect(groups[0]?.members ?? [], out).toEqual([]);
    },
    60_000,
  );
});
