// The Kafka source under test, chosen by environment, so that every kafka
// test and the group chaos test run with both clients:
//   KAFKA_CLIENT=kafkajs (default) | platformatic
//   KAFKA_GROUP_PROTOCOL=cooperative | consumer (platformatic only; default
//   'consumer', KIP-848, when KAFKA_VERSION is 4.x, else 'cooperative')
// Child processes (test/fixtures, test/chaos) inherit the environment.
import { KafkaSource, PlatformaticSource, type PlatformaticProtocol, type Source } from '../../../src/index.js';

export type KafkaClientName = 'kafkajs' | 'platformatic';

/** Which client the tests run with (env KAFKA_CLIENT). */
export function kafkaClient(): KafkaClientName {
  const v = process.env.KAFKA_CLIENT ?? 'kafkajs';
  if (v !== 'kafkajs' && v !== 'platformatic')
    throw new Error(`KAFKA_CLIENT must be kafkajs or platformatic, got ${v}`);
  return v;
}

/** The group protocol of the platformatic source under test. */
export function groupProtocol(): PlatformaticProtocol {
  const v = process.env.KAFKA_GROUP_PROTOCOL;
  if (v === 'cooperative' || v === 'consumer') return v;
  if (v !== undefined && v !== '') throw new Error(`KAFKA_GROUP_PROTOCOL must be cooperative or consumer, got ${v}`);
  return (process.env.KAFKA_VERSION ?? '').startsWith('4.') ? 'consumer' : 'cooperative';
}

/** What a test asks of a source, in the kafkajs source's words. */
export interface TestSourceOptions {
  clientId?: string;
  brokers: string[];
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  topicWaitMs?: number;
  groupInstanceId?: string;
  /** Group timing, in ms (the KIP-848 protocol takes these from the broker instead). */
  sessionTimeout?: number;
  heartbeatInterval?: number;
  rebalanceTimeout?: number;
  maxWaitMs?: number;
  /** kafkajs only: retries of its client. */
  retries?: number;
}

/** A source for `o` on the client chosen by KAFKA_CLIENT. */
export function createSource(o: TestSourceOptions, client: KafkaClientName = kafkaClient()): Source {
  if (client === 'platformatic') {
    const protocol = groupProtocol();
    return new PlatformaticSource({
      clientId: o.clientId ?? 'tidemark-test',
      brokers: o.brokers,
      groupId: o.groupId,
      topics: o.topics,
      protocol,
      ...(o.fromBeginning === undefined ? {} : { fromBeginning: o.fromBeginning }),
      ...(o.topicWaitMs === undefined ? {} : { topicWaitMs: o.topicWaitMs }),
      ...(o.groupInstanceId === undefined ? {} : { groupInstanceId: o.groupInstanceId }),
      consumer: {
        retries: o.retries ?? 10,
        retryDelay: 100,
        ...(o.maxWaitMs === undefined ? {} : { maxWaitTime: o.maxWaitMs }),
        ...(protocol === 'cooperative'
          ? {
              ...(o.sessionTimeout === undefined ? {} : { sessionTimeout: o.sessionTimeout }),
              ...(o.heartbeatInterval === undefined ? {} : { heartbeatInterval: o.heartbeatInterval }),
              ...(o.rebalanceTimeout === undefined ? {} : { rebalanceTimeout: o.rebalanceTimeout }),
            }
          : {}),
      },
    });
  }
  return new KafkaSource({
    kafka: {
      clientId: o.clientId ?? 'tidemark-test',
      brokers: o.brokers,
      logLevel: 0,
      retry: { initialRetryTime: 100, retries: o.retries ?? 8 },
    },
    groupId: o.groupId,
    topics: o.topics,
    ...(o.fromBeginning === undefined ? {} : { fromBeginning: o.fromBeginning }),
    ...(o.topicWaitMs === undefined ? {} : { topicWaitMs: o.topicWaitMs }),
    consumer: {
      ...(o.sessionTimeout === undefined ? {} : { sessionTimeout: o.sessionTimeout }),
      ...(o.heartbeatInterval === undefined ? {} : { heartbeatInterval: o.heartbeatInterval }),
      ...(o.rebalanceTimeout === undefined ? {} : { rebalanceTimeout: o.rebalanceTimeout }),
      ...(o.maxWaitMs === undefined ? {} : { maxWaitTimeInMs: o.maxWaitMs }),
    },
  });
}
