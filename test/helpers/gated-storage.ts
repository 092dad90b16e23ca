// A checkpoint storage that holds reads of chosen objects until opened: a
// deterministic slow restore (a gate, not a sleep).
import { ForwardingStorage } from '../../src/checkpoint/forwarding-storage.js';
import type { ReadChunksOptions } from '../../src/checkpoint/storage.js';
import { CheckpointRepository, LocalDirectoryStorage, type TopicPartition } from '../../src/index.js';

/** Holds every streamed read of the objects whose keys end with `suffix` until {@link open}. */
export class GatedStorage extends ForwardingStorage {
  suffix: string | undefined;
  private opened = false;
  private release!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));
  private reachedResolve!: () => void;
  /** Resolves when a read reached the gate. */
  readonly reached = new Promise<void>((resolve) => (this.reachedResolve = resolve));

  open(): void {
    this.opened = true;
    this.release();
  }

  override readChunks(key: string, options?: ReadChunksOptions): AsyncIterable<Buffer> {
    if (this.opened || this.suffix === undefined || !key.endsWith(this.suffix)) return super.readChunks(key, options);
    this.reachedResolve();
    const gate = this.gate;
    const inner = (): AsyncIterable<Buffer> => super.readChunks(key, options);
    return (async function* () {
      await gate;
      yield* inner();
    })();
  }
}

/** A gated local storage over `dir` holding `tp`'s segment of the newest valid checkpoint there. */
export async function gatePartition(dir: string, tp: TopicPartition): Promise<GatedStorage> {
  const storage = new GatedStorage(new LocalDirectoryStorage({ path: dir }));
  const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: dir }) });
  const [newest] = (await repo.list()).filter((c) => c.status === 'valid').sort((a, b) => (a.id < b.id ? 1 : -1));
  await repo.close();
  const part = newest?.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition);
  if (part === undefined) throw new Error(`no valid checkpoint in ${dir} holds ${tp.topic}[${tp.partition}]`);
  storage.suffix = `/${part.file}`;
  return storage;
}
