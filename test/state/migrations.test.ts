import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MigrationError, SchemaVersionError, StateStore, type MigrationContext } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

async function seedV1(dir: string): Promise<void> {
  const store = await StateStore.open({ path: dir, schemaVersion: 1 });
  const p = store.partition('accounts', 0);
  p.put('a', { name: 'Ann', balance: 10 });
  p.put('b', { name: 'Bob', balance: 20 });
  p.scope('archive').put('a', { name: 'Old Ann', balance: 1 });
  store.partition('accounts', 1).put('c', { name: 'Cy', balance: 30 });
  await store.commit([{ topic: 'accounts', partition: 0, offset: 7 }]);
  await store.close();
}

describe('schema versions and migrations', () => {
  it('runs a chain 1 -> 3 once, over every partition and scope, keeping offsets', async () => {
    const dir = path.join(tmpDir('mig'), 'state');
    await seedV1(dir);
    const calls: Array<[number, MigrationContext]> = [];
    const migrations = {
      1: (v: { name: string; balance: number }, ctx: MigrationContext) => {
        calls.push([1, ctx]);
        return { ...v, currency: 'EUR' }; // add a default
      },
      2: (v: { name: string; balance: number; currency: string }) => {
        calls.push([2, {} as MigrationContext]);
        const { balance, ...rest } = v; // rename a field
        return { ...rest, cents: balance * 100 };
      },
    };
    const store = await StateStore.open({ path: dir, schemaVersion: 3, migrations });
    expect(store.partition('accounts', 0).get('a')).toEqual({ name: 'Ann', currency: 'EUR', cents: 1000 });
    expect(store.partition('accounts', 0).scope('archive').get('a')).toEqual({
      name: 'Old Ann',
      currency: 'EUR',
      cents: 100,
    });
    expect(store.partition('accounts', 1).get('c')).toEqual({ name: 'Cy', currency: 'EUR', cents: 3000 });
    expect(store.offset('accounts', 0)).toBe('7');
    expect(calls.filter(([n]) => n === 1)).toHaveLength(4);
    expect(calls.filter(([n]) => n === 2)).toHaveLength(4);
    expect(calls.map(([, c]) => c).find((c) => c.scope === 'archive')).toMatchObject({
      topic: 'accounts',
      partition: 0,
      key: 'a',
    });
    await store.close();

    // opening again at 3 runs nothing
    calls.length = 0;
    const again = await StateStore.open({ path: dir, schemaVersion: 3, migrations });
    expect(calls).toHaveLength(0);
    expect(again.partition('accounts', 0).get('b')).toEqual({ name: 'Bob', currency: 'EUR', cents: 2000 });
    await again.close();
  });

  it('a migration that throws leaves the store untouched at its old version', async () => {
    const dir = path.join(tmpDir('mig'), 'state');
    await seedV1(dir);
    let seen = 0;
    const err = await StateStore.open({
      path: dir,
      schemaVersion: 3,
      migrations: {
        1: (v: object) => ({ ...v, migrated: true }),
        2: (v: { name: string }) => {
          if (++seen === 3) throw new Error('bad row');
          return v;
        },
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).fromVersion).toBe(2);
    expect((err as Error).message).toMatch(
      /from schema version 2 to 3 failed; the store is unchanged at version 1: bad row/,
    );
    // the lock was released and the data is exactly version 1
    const store = await StateStore.open({ path: dir, schemaVersion: 1 });
    expect(store.partition('accounts', 0).get('a')).toEqual({ name: 'Ann', balance: 10 });
    expect(store.partition('accounts', 1).get('c')).toEqual({ name: 'Cy', balance: 30 });
    expect(store.offset('accounts', 0)).toBe('7');
    await store.close();
  });

  it('a migration returning undefined or an unstorable value aborts it too', async () => {
    const dir = path.join(tmpDir('mig'), 'state');
    await seedV1(dir);
    await expect(StateStore.open({ path: dir, schemaVersion: 2, migrations: { 1: () => undefined } })).rejects.toThrow(
      /returned undefined/,
    );
    await expect(StateStore.open({ path: dir, schemaVersion: 2, migrations: { 1: () => new Map() } })).rejects.toThrow(
      MigrationError,
    );
    const store = await StateStore.open({ path: dir, schemaVersion: 1 });
    expect(store.partition('accounts', 0).get('b')).toEqual({ name: 'Bob', balance: 20 });
    await store.close();
  });

  it('refuses a store written by a newer schema', async () => {
    const dir = path.join(tmpDir('mig'), 'state');
    const v5 = await StateStore.open({ path: dir, schemaVersion: 5 });
    await v5.close();
    const err = await StateStore.open({ path: dir, schemaVersion: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaVersionError);
    expect((err as SchemaVersionError).storedVersion).toBe(5);
    expect((err as SchemaVersionError).expectedVersion).toBe(4);
    expect((err as Error).message).toMatch(/written by schema version 5, newer than this code's 4/);
    // and the lock was released
    const ok = await StateStore.open({ path: dir, schemaVersion: 5 });
    await ok.close();
  });

  it('refuses an upgrade with a gap in the chain', async () => {
    const dir = path.join(tmpDir('mig'), 'state');
    await seedV1(dir);
    await expect(
      StateStore.open({ path: dir, schemaVersion: 3, migrations: { 1: (v: unknown) => v } }),
    ).rejects.toThrow(/no migration from 2 to 3/);
  });
});
