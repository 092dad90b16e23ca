// Messages between the main thread (codec-client.ts) and the codec worker.
import type { DecodeParams, EncodeParams, EncodeResult } from './segment-codec.js';

export type ToWorker =
  | { type: 'encode'; job: number; params: EncodeParams }
  | { type: 'decode'; job: number; params: DecodeParams }
  | { type: 'data'; job: number; chunk: Uint8Array }
  /** `sha256`: the main thread's digest of a decode job's stored bytes (DecodeParams.hashedByCaller). */
  | { type: 'end'; job: number; sha256?: string }
  | { type: 'cancel'; job: number }
  /** A decoded chunk's buffer, given back for reuse as decoder output (see CodecJob.recycle). */
  | { type: 'recycle'; job: number; buffer: ArrayBuffer };

export type FromWorker =
  | { type: 'data'; job: number; chunks: Uint8Array[] }
  | { type: 'end'; job: number; chunks: Uint8Array[]; result?: EncodeResult }
  | { type: 'error'; job: number; message: string; segment: boolean };
