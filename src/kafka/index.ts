export { KafkaSource, type KafkaSourceOptions } from './kafka-source.js';
export { diffAssignment, flattenAssignment, type AssignmentChange } from './assignment.js';
export {
  PlatformaticSource,
  platformaticSupported,
  PLATFORMATIC_MIN_NODE,
  type PlatformaticSourceOptions,
  type PlatformaticProtocol,
} from './platformatic-source.js';
