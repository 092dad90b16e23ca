// Per-user session windows from click events on Kafka: `npm run example:sessions`
//
// Record value = JSON {"user": string, "page": string, "ts": number}. A session
// ends after GAP_MINUTES (default 30) without a click from its user: its state
// entry expires (a TTL, on wall-clock time here), the periodic sweep or the
// user's next click finds it, and the closed session is emitted: to the topic
// SESSIONS_TOPIC if set, else to stdout. Same environment as the other
// examples (examples/lib/consumer.ts), TOPIC default clicks, GROUP_ID sessions.
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { runConsumer } from './lib/consumer.js';
import { closedSession, sessionize, type OpenSession } from './lib/sessions.js';

const gapMs = Number(process.env.GAP_MINUTES ?? 30) * 60_000;
const sessionsTopic = process.env.SESSIONS_TOPIC;
let producer: Producer | undefined;
if (sessionsTopic !== undefined) {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  producer = new Kafka({ clientId: 'tidemark-sessions', brokers, logLevel: logLevel.WARN }).producer();
  await producer.connect();
}

// Emitted when a session's entry is found expired. After a crash, sessions
// closed since the last commit can be emitted again (side effects outside the
// state are at-least-once): key the output by user and start time to dedupe.
function emit(session: OpenSession & { user: string }): void {
  const line = JSON.stringify({ ...session, durationMs: session.last - session.start });
  if (producer === undefined) console.log(`session closed: ${line}`);
  else
    void producer.send({ topic: sessionsTopic!, messages: [{ key: `${session.user}@${session.start}`, value: line }] });
}

const pipeline = await runConsumer({
  topic: 'clicks',
  groupId: 'sessions',
  handler: sessionize(gapMs),
  store: {
    sweepIntervalMs: 60_000,
    onExpired: (entry) => {
      const session = closedSession(entry);
      if (session !== undefined) emit(session);
    },
  },
});
void pipeline.done.finally(() => producer?.disconnect());
