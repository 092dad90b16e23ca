// A fix-up for @platformatic/kafka 2.12.1's cooperative-sticky assignor,
// which leaves a joining member with nothing when every other member is at
// the ceiling quota: 6 partitions over 3 members (2, 2, 2), a fourth joins;
// its balance step moves only from members above ceil(6 / 4) = 2, so the
// group settles at 2, 2, 2, 0 and the newcomer never gets a partition
// (docs/DEVELOPMENT.md). This evens the loads out to a spread of one, the
// way Kafka's own cooperative-sticky assignor does, keeping the
// cooperative rule: a partition is never given to one member in the round
// it is taken from another.
//
// Structural types only: tidemark's types must not import the client's.

/** One topic's partitions, as the client's assignors take and give them. */
export interface AssignedPartitions {
  topic: string;
  partitions: number[];
}

/** What the client knows of a member at the leader (its subscription). */
export interface AssignorMember {
  topics?: string[];
  ownedPartitions?: AssignedPartitions[];
}

/** One member's assignment, as the client's assignors return it. */
export interface MemberAssignments {
  memberId: string;
  assignments: Map<string, AssignedPartitions>;
}

/** The part of the client's cluster metadata an assignor reads. */
export interface AssignorMetadata {
  topics: Map<string, { partitionsCount: number }>;
}

/** The client's assignor signature (`GroupPartitionsAssigner`). */
export type Assignor<M extends AssignorMember, D extends AssignorMetadata> = (
  current: string,
  members: Map<string, M>,
  topics: Set<string>,
  metadata: D,
) => MemberAssignments[];

/**
 * `base` (the client's cooperative-sticky assignor), then the loads evened
 * out. While some member has at least two partitions more than another, one
 * partition moves from the most loaded to the least loaded member that
 * subscribes to its topic: directly when the giver did not own it before
 * this round; otherwise it is only taken from the giver, which then
 * revokes it and rejoins, and the next round hands it to the least loaded
 * member. A round where `base` already left a partition unassigned (a
 * cooperative transfer in flight) is returned as it is: the rejoin it
 * causes brings the next round, evened out then.
 */
export function evenCooperativeAssignor<M extends AssignorMember, D extends AssignorMetadata>(
  base: Assignor<M, D>,
): Assignor<M, D> {
  return (current, members, topics, metadata) => {
    const result = base(current, members, topics, metadata);
    evenOut(result, members, subscribedPartitionCount(members, topics, metadata));
    return result;
  };
}

function subscribedPartitionCount(
  members: Map<string, AssignorMember>,
  topics: Set<string>,
  metadata: AssignorMetadata,
): number {
  let n = 0;
  for (const topic of topics) {
    const count = metadata.topics.get(topic)?.partitionsCount;
    if (count === undefined) continue;
    if ([...members.values()].some((m) => m.topics?.includes(topic))) n += count;
  }
  return n;
}

const key = (topic: string, partition: number) => `${topic}:${partition}`;

/** Evens `result` out in place (see {@link evenCooperativeAssignor}). */
export function evenOut(result: MemberAssignments[], members: Map<string, AssignorMember>, total: number): void {
  const size = (a: MemberAssignments) => [...a.assignments.values()].reduce((n, t) => n + t.partitions.length, 0);
  if (result.reduce((n, a) => n + size(a), 0) < total) return; // a transfer is in flight
  const owned = new Map<string, Set<string>>();
  for (const [id, m] of members)
    owned.set(id, new Set((m.ownedPartitions ?? []).flatMap((t) => t.partitions.map((p) => key(t.topic, p)))));
  // Partitions promised to a member for the next round (taken from their owner now).
  const pending = new Map<string, number>();
  const load = (a: MemberAssignments) => size(a) + (pending.get(a.memberId) ?? 0);
  const order = (x: MemberAssignments, y: MemberAssignments) =>
    load(x) - load(y) || (x.memberId < y.memberId ? -1 : x.memberId > y.memberId ? 1 : 0);
  for (let guard = 0; guard <= total; guard++) {
    const byLoad = [...result].sort(order);
    let moved = false;
    for (let hi = byLoad.length - 1; hi > 0 && !moved; hi--) {
      const giver = byLoad[hi]!;
      for (let lo = 0; lo < hi && !moved; lo++) {
        const taker = byLoad[lo]!;
        if (load(giver) - load(taker) < 2) break;
        const subscribed = new Set(members.get(taker.memberId)?.topics ?? []);
        const candidates = [...giver.assignments.values()]
          .filter((t) => subscribed.has(t.topic))
          .flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })))
          .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
        const had = owned.get(giver.memberId) ?? new Set<string>();
        // A partition the giver did not own yet can go straight to the taker.
        const pick = candidates.find((c) => !had.has(key(c.topic, c.partition))) ?? candidates[candidates.length - 1];
        if (pick === undefined) continue;
        remove(giver, pick.topic, pick.partition);
        if (had.has(key(pick.topic, pick.partition)))
          pending.set(taker.memberId, (pending.get(taker.memberId) ?? 0) + 1);
        else add(taker, pick.topic, pick.partition);
        moved = true;
      }
    }
    if (!moved) return;
  }
}

function remove(a: MemberAssignments, topic: string, partition: number): void {
  const t = a.assignments.get(topic);
  if (t === undefined) return;
  t.partitions = t.partitions.filter((p) => p !== partition);
  if (t.partitions.length === 0) a.assignments.delete(topic);
}

function add(a: MemberAssignments, topic: string, partition: number): void {
  let t = a.assignments.get(topic);
  if (t === undefined) {
    t = { topic, partitions: [] };
    a.assignments.set(topic, t);
  }
  t.partitions.push(partition);
  t.partitions.sort((x, y) => x - y);
}
