export * from './errors/index.js';
export * from './state/index.js';
export { systemClock, ManualClock, type Clock } from './util/clock.js';
export {
  formatTopicPartition,
  parseTopicPartition,
  type TopicPartition,
  type PartitionOffset,
  type PartitionOffsetInput,
} from './util/topic-partition.js';
export * from './checkpoint/index.js';
export * from './pipeline/index.js';
export * from './kafka/index.js';
export * from './metrics/index.js';
