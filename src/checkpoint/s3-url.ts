import { ConfigError } from '../errors/config-error.js';
import { S3CheckpointStorage, isLocalEndpoint, type S3CheckpointStorageOptions } from './s3-storage.js';

/** True for a checkpoint location of the form `s3://bucket[/prefix]`. */
export function isS3Url(location: string): boolean {
  return /^s3:\/\//i.test(location);
}

/** Bucket and prefix of `s3://bucket[/prefix]`. @throws ConfigError */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/i.exec(url);
  if (m === null) throw new ConfigError(`${JSON.stringify(url)} is not an S3 location: expected s3://bucket/prefix`);
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

/**
 * Storage for `s3://bucket/prefix` configured from the standard AWS
 * variables: `AWS_ENDPOINT_URL` (an S3-compatible server; path-style
 * addressing when its host is an IP address or localhost, or when
 * `TIDEMARK_S3_PATH_STYLE=1`), `AWS_REGION` (else `AWS_DEFAULT_REGION`, else
 * `us-east-1`), and credentials from the SDK's default chain
 * (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, a profile, web identity...).
 */
export function s3StorageFromUrl(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  options: Partial<S3CheckpointStorageOptions> = {},
): S3CheckpointStorage {
  const { bucket, prefix } = parseS3Url(url);
  const endpoint = env.AWS_ENDPOINT_URL_S3?.trim() || env.AWS_ENDPOINT_URL?.trim() || undefined;
  const pathStyleVar = env.TIDEMARK_S3_PATH_STYLE?.trim();
  const forcePathStyle =
    pathStyleVar === '1' || pathStyleVar === 'true'
      ? true
      : pathStyleVar === '0' || pathStyleVar === 'false'
        ? false
        : endpoint !== undefined && isLocalEndpoint(endpoint);
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  const credentials =
    accessKeyId && secretAccessKey
      ? { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  return new S3CheckpointStorage({
    bucket,
    prefix,
    region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1',
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle,
    ...(credentials !== undefined ? { credentials } : {}),
    ...options,
  });
}
