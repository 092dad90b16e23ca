// Worker thread entry: runs SegmentEncoder / SegmentDecoder jobs for the
// main thread (codec-client.ts), so zstd, AES-GCM and SHA-256 never block
// the consumer's event loop.
import { parentPort } from 'node:worker_threads';
import type { ToWorker, FromWorker } from './codec-protocol.js';
import { CHUNK_BYTES, transferable } from './records.js';
import { SegmentDecoder, SegmentEncoder, SegmentError } from './segment-codec.js';

type Job = { kind: 'encode'; codec: SegmentEncoder } | { kind: 'decode'; codec: SegmentDecoder };

const port = parentPort!;
const jobs = new Map<number, Job>();
// Decoded chunks' buffers the main thread gave back (a sink that keeps no
// reference, such as verify's): reused as decoder output, so memory already
// paged in is written again instead of fresh pages being faulted in, freed
// and collected on the main thread. At most MAX_SPARE chunks (8 MiB) wait.
const spare: ArrayBuffer[] = [];
const MAX_SPARE = 8;
const allocate = (size: number): Buffer =>
  size === CHUNK_BYTES && spare.length > 0 ? Buffer.from(spare.pop()!) : transferable(size);

// Decoded chunks own their ArrayBuffers (records.ts transferable) and move
// without a copy; encoded output is small and may sit in Node's shared
// Buffer pool, so it is cloned instead.
function send(message: FromWorker, moved: Buffer[] = []): void {
  port.postMessage(
    message,
    moved.map((c) => c.buffer as ArrayBuffer),
  );
}

port.on('message', (msg: ToWorker) => {
  const { job } = msg;
  try {
    switch (msg.type) {
      case 'encode':
        jobs.set(job, { kind: 'encode', codec: new SegmentEncoder(msg.params) });
        return;
      case 'decode':
        jobs.set(job, { kind: 'decode', codec: new SegmentDecoder(msg.params, allocate) });
        return;
      case 'recycle':
        if (msg.buffer.byteLength === CHUNK_BYTES && spare.length < MAX_SPARE) spare.push(msg.buffer);
        return;
      case 'cancel':
        jobs.delete(job);
        return;
      case 'data': {
        const j = jobs.get(job);
        if (j === undefined) return; // cancelled
        const input = Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength);
        if (j.kind === 'encode') send({ type: 'data', job, chunks: [j.codec.push(input)] });
        else {
          const chunks = j.codec.push(input);
          send({ type: 'data', job, chunks }, chunks);
        }
        return;
      }
      case 'end': {
        const j = jobs.get(job);
        if (j === undefined) return;
        jobs.delete(job);
        if (j.kind === 'encode') {
          const { tail, result } = j.codec.finish();
          send({ type: 'end', job, chunks: [tail], result });
        } else {
          const chunks = j.codec.finish(msg.sha256);
          send({ type: 'end', job, chunks }, chunks);
        }
        return;
      }
    }
  } catch (err) {
    jobs.delete(job);
    send({ type: 'error', job, message: (err as Error).message, segment: err instanceof SegmentError });
  }
});
