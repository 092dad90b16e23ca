// The Kafka client an example consumes with, chosen by environment:
//   KAFKA_CLIENT          kafkajs (default) | platformatic (@platformatic/kafka, Node >= 22.22)
//   KAFKA_GROUP_PROTOCOL  platformatic only: cooperative (default; classic protocol,
//                         cooperative-sticky) | consumer (KIP-848, Kafka >= 4.0)
//   GROUP_INSTANCE_ID     platformatic only: static membership (KIP-345)
import { KafkaSource, PlatformaticSource, type Source } from '../../src/index.js';

export function kafkaSource(brokers: string[], groupId: string, topics: string[]): Source {
  const client = process.env.KAFKA_CLIENT ?? 'kafkajs';
  if (client === 'platformatic') {
    const protocol = process.env.KAFKA_GROUP_PROTOCOL ?? 'cooperative';
    if (protocol !== 'cooperative' && protocol !== 'consumer')
      throw new Error(`KAFKA_GROUP_PROTOCOL must be cooperative or consumer, got ${protocol}`);
    const instance = process.env.GROUP_INSTANCE_ID;
    return new PlatformaticSource({
      clientId: `tidemark-${groupId}`,
      brokers,
      groupId,
      topics,
      protocol,
      ...(instance ? { groupInstanceId: instance } : {}),
    });
  }
  if (client !== 'kafkajs') throw new Error(`KAFKA_CLIENT must be kafkajs or platformatic, got ${client}`);
  return new KafkaSource({ kafka: { clientId: `tidemark-${groupId}`, brokers }, groupId, topics });
}
