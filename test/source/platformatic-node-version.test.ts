// @platformatic/kafka 2.x needs Node.js >= 22.22: on an older Node the
// source is refused at construction with a clear ConfigError, and tidemark
// itself (which imports the client only when the source starts) still loads.
import { describe, expect, it } from 'vitest';
import * as tidemark from '../../src/index.js';
import { ConfigError, PlatformaticSource } from '../../src/index.js';
import { platformaticSupported } from '../../src/kafka/platformatic-source.js';

const options = { brokers: ['127.0.0.1:9092'], groupId: 'g', topics: ['t'] };

describe('the @platformatic/kafka source and the Node.js version', () => {
  it('knows which versions can run the client', () => {
    expect(platformaticSupported('20.20.2')).toBe(false);
    expect(platformaticSupported('22.21.9')).toBe(false);
    expect(platformaticSupported('22.22.0')).toBe(true);
    expect(platformaticSupported('24.22.3')).toBe(true);
  });

  it('tidemark loads on this Node.js whatever its version', () => {
    expect(typeof tidemark.Pipeline).toBe('function');
    expect(typeof tidemark.KafkaSource).toBe('function');
  });

  it.runIf(!platformaticSupported())('is refused on this Node.js with a ConfigError naming the version', () => {
    let error: unknown;
    try {
      new PlatformaticSource(options);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('Node.js >= 22.22.0');
    expect((error as Error).message).toContain(process.version);
  });

  it.runIf(platformaticSupported())('checks its options on a Node.js that can run it', () => {
    expect(() => new PlatformaticSource(options)).not.toThrow();
    expect(() => new PlatformaticSource({ ...options, brokers: [] })).toThrow(ConfigError);
    expect(() => new PlatformaticSource({ ...options, topics: [] })).toThrow(/"topics"/);
    expect(() => new PlatformaticSource({ ...options, protocol: 'eager' as never })).toThrow(/"protocol"/);
    expect(() => new PlatformaticSource({ ...options, groupInstanceId: '' })).toThrow(/"groupInstanceId"/);
    expect(() => new PlatformaticSource({ ...options, topicWaitMs: -1 })).toThrow(/"topicWaitMs"/);
    expect(() => new PlatformaticSource({ ...options, groupInstanceId: 'a', protocol: 'consumer' })).toThrow(
      /cooperative' only/,
    );
  });
});
