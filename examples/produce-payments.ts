// Produces payments for the `balances` example: key = account id, value =
// {"account": "acct-17", "amount": 12.5}. Environment: KAFKA_BROKERS, TOPIC
// (default payments), RATE (records per second, default 200), COUNT (stop
// after this many; default: run until SIGTERM).
//
//   npm run example:produce
import { Kafka, Partitioners, logLevel } from 'kafkajs';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const topic = process.env.TOPIC ?? 'payments';
const rate = Number(process.env.RATE ?? 200);
const count = process.env.COUNT === undefined ? Infinity : Number(process.env.COUNT);

const kafka = new Kafka({
  clientId: 'tidemark-example-producer',
  brokers,
  logLevel: logLevel.WARN,
  retry: { retries: 20 },
});
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
let stopping = false;
process.once('SIGTERM', () => (stopping = true));
process.once('SIGINT', () => (stopping = true));
let sent = 0;
const tick = 100; // ms
while (!stopping && sent < count) {
  const n = Math.min(Math.max(1, Math.round((rate * tick) / 1000)), count - sent);
  await producer.send({
    topic,
    messages: Array.from({ length: n }, () => {
      const account = `acct-${Math.floor(Math.random() * 1000)}`;
      return {
        key: account,
        value: JSON.stringify({ account, amount: Math.round((Math.random() * 200 - 50) * 100) / 100 }),
      };
    }),
  });
  sent += n;
  if (sent % (rate * 10) < n) console.log(`produced ${sent} payments to ${topic}`);
  await new Promise((r) => setTimeout(r, tick));
}
await producer.disconnect();
console.log(`produced ${sent} payments; done`);
