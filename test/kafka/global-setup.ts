// Global setup of the "kafka" test project: a real Kafka broker for
// test/kafka/**. With KAFKA_BROKERS set, those brokers are used as they are;
// otherwise scripts/kafka/kafka.mjs starts one on a free port pair (so it never
// meets a developer's own broker on 9092) and stops it when the run ends. It
// runs the release KAFKA_VERSION names: 3.9.1 (default) or 4.4.0.
//
// There is no skip mode, on CI (CI=true, TIDEMARK_REQUIRE_KAFKA=1) or on a
// laptop: a broker that cannot be had fails the run with a message saying how
// to get one.
import { Kafka, logLevel } from 'kafkajs';
import { requestedKafkaVersion, startBroker } from '../../scripts/kafka/broker-process.js';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap addresses of the broker the kafka tests run against, e.g. `['127.0.0.1:40123']`. */
    kafkaBrokers: string[];
    /** The Apache Kafka release of a broker the setup started ('3.9.1', '4.4.0'), or 'external' (KAFKA_BROKERS). */
    kafkaVersion: string;
  }
}

const HOW_TO = `The kafka tests (test/kafka/**) need a real Kafka broker. Either:
  - have a JDK (17+) and Maven on PATH: the test run then fetches Apache Kafka's jars
    (node scripts/kafka/kafka.mjs fetch) and starts a broker by itself, or
  - start one (npm run kafka:start) and run: KAFKA_BROKERS=127.0.0.1:9092 npm test
KAFKA_VERSION=4.4.0 picks Kafka 4 instead of 3.9.1 for a broker the run starts.
Only the unit tests, without a broker: npx vitest run --project unit
See docs/DEVELOPMENT.md, "Kafka broker for tests".`;

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const configured = process.env.KAFKA_BROKERS?.trim();
  if (configured) {
    const brokers = configured
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    try {
      await describeCluster(brokers);
    } catch (e) {
      throw new Error(
        `KAFKA_BROKERS=${configured} is set, but no Kafka broker answered there: ${(e as Error).message}\n${HOW_TO}`,
      );
    }
    project.provide('kafkaBrokers', brokers);
    project.provide('kafkaVersion', 'external');
    if (process.env.KAFKA_VERSION) {
      process.stderr.write(
        `kafka tests: KAFKA_VERSION=${process.env.KAFKA_VERSION} is ignored: KAFKA_BROKERS=${configured} is used as it is\n`,
      );
    }
    return;
  }

  try {
    const broker = await startBroker(process.pid);
    process.stderr.write(`kafka tests: Apache Kafka ${broker.version} on ${broker.brokers.join(',')}\n`);
    project.provide('kafkaBrokers', broker.brokers);
    project.provide('kafkaVersion', broker.version);
    return broker.stop;
  } catch (e) {
    throw new Error(
      `No Kafka broker (Apache Kafka ${requestedKafkaVersion()}) could be started for the kafka tests:\n${(e as Error).message}\n\n${HOW_TO}`,
    );
  }
}

async function describeCluster(brokers: string[]): Promise<void> {
  const admin = new Kafka({
    clientId: 'tidemark-test-setup',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
