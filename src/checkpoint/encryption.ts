import { createHmac } from 'node:crypto';
import { EncryptionKeyError } from '../errors/encryption-key-error.js';
import type { TopicPartition } from '../util/topic-partition.js';

/** AES-256-GCM: key, nonce and tag sizes in bytes. */
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/**
 * Fingerprint of a key: the first 8 bytes (16 hex) of
 * HMAC-SHA256(key, "tidemark checkpoint key fingerprint v1"). Recorded in the
 * manifest so a wrong key is reported before any decryption; it reveals
 * nothing usable about the key.
 */
export function keyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('tidemark checkpoint key fingerprint v1').digest('hex').slice(0, 16);
}

/**
 * Additional authenticated data of a segment: binds its ciphertext to its
 * checkpoint, partition and offset, so a segment moved to another checkpoint
 * or partition, or a manifest edited to another offset, fails authentication.
 * `tidemark-segment-v1\0<id>\0<topic>\0<partition>\0<offset or "-">`.
 */
export function segmentAad(id: string, tp: TopicPartition, offset: string | null): Buffer {
  return Buffer.from(`tidemark-segment-v1\0${id}\0${tp.topic}\0${tp.partition}\0${offset ?? '-'}`, 'utf8');
}

/** Validates a user-supplied key (32 bytes) and returns a private copy. */
export function checkKey(key: unknown, name: string): Buffer {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new EncryptionKeyError(
      `"${name}" must be a ${KEY_BYTES}-byte Buffer (AES-256), got ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}; ` +
        "e.g. Buffer.from(process.env.CHECKPOINT_KEY, 'base64') of crypto.randomBytes(32)",
    );
  }
  return Buffer.from(key);
}
