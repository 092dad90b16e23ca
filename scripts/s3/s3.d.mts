// Types of scripts/s3/s3.mjs, for the TypeScript test setup and benchmarks.
export declare const VERSITYGW_MODULE: string;
export declare const VERSITYGW_VERSION: string;
export declare const ACCESS_KEY: string;
export declare const SECRET_KEY: string;
export declare const REGION: string;
export interface S3Server {
  endpoint: string;
  port: number;
  root: string;
  accessKey: string;
  secretKey: string;
  region: string;
  pid: number | undefined;
  stop(): Promise<void>;
}
export declare function installServer(): string;
export declare function startServer(options?: { dir?: string; port?: number }): Promise<S3Server>;
