export { KafkaSource, type KafkaSourceOptions } from './kafka-source.js';
export { diffAssignment, flattenAssignment, type AssignmentChange } from './assignment.js';
