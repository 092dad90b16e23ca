// The pipeline's lifecycle as a pure transition table (src/pipeline/lifecycle.ts).
import { describe, expect, it } from 'vitest';
import { PipelineStateError } from '../../src/errors/pipeline-state-error.js';
import {
  canTransition,
  isActive,
  Lifecycle,
  type LifecycleState,
  TRANSITIONS,
  transition,
} from '../../src/pipeline/lifecycle.js';

const STATES: LifecycleState[] = ['created', 'starting', 'running', 'stopping', 'failing', 'stopped', 'failed'];

const LEGAL: Array<[LifecycleState, LifecycleState]> = [
  ['created', 'starting'],
  ['created', 'stopping'], // stop() before start()
  ['starting', 'running'],
  ['starting', 'stopping'], // stop() while the source starts
  ['starting', 'failing'], // the source failed to start
  ['running', 'stopping'],
  ['running', 'failing'],
  ['stopping', 'stopped'],
  ['stopping', 'failing'], // an error during a graceful stop
  ['failing', 'failed'],
];

describe('the pipeline lifecycle', () => {
  it('has exactly the legal transitions listed, and every state in the table', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATES].sort());
    const table = STATES.flatMap((from) => TRANSITIONS[from].map((to) => `${from} -> ${to}`)).sort();
    expect(table).toEqual(LEGAL.map(([from, to]) => `${from} -> ${to}`).sort());
  });

  it.each(LEGAL)('allows %s -> %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(transition(from, to)).toBe(to);
  });

  it('refuses every other transition with a PipelineStateError (ERR_TIDEMARK_PIPELINE_STATE), naming both states', () => {
    let refused = 0;
    for (const from of STATES)
      for (const to of STATES) {
        if (LEGAL.some(([f, t]) => f === from && t === to)) continue;
        expect(canTransition(from, to)).toBe(false);
        let error: unknown;
        try {
          transition(from, to);
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(PipelineStateError);
        expect((error as PipelineStateError).code).toBe('ERR_TIDEMARK_PIPELINE_STATE');
        expect((error as Error).message).toBe(`pipeline cannot go from ${from} to ${to}`);
        refused++;
      }
    expect(refused).toBe(STATES.length * STATES.length - LEGAL.length);
  });

  it('has final states only at the end: stopped and failed go nowhere, every other state reaches one', () => {
    expect(TRANSITIONS.stopped).toEqual([]);
    expect(TRANSITIONS.failed).toEqual([]);
    const reaches = (from: LifecycleState, seen = new Set<LifecycleState>()): boolean =>
      from === 'stopped' ||
      from === 'failed' ||
      TRANSITIONS[from].some((to) => !seen.has(to) && reaches(to, new Set([...seen, from])));
    for (const s of STATES) expect(reaches(s), s).toBe(true);
  });

  it('processes records only while starting or running', () => {
    expect(STATES.filter(isActive)).toEqual(['starting', 'running']);
  });

  it('moves a Lifecycle only through legal transitions', () => {
    const l = new Lifecycle();
    expect(l.state).toBe('created');
    expect(l.active).toBe(false);
    expect(() => l.to('running')).toThrow('pipeline cannot go from created to running');
    expect(l.state).toBe('created'); // unchanged by a refused transition
    l.to('starting');
    expect(l.active).toBe(true);
    expect(l.tryTo('stopped')).toBe(false);
    expect(l.state).toBe('starting');
    expect(l.tryTo('running')).toBe(true);
    l.to('failing');
    expect(l.active).toBe(false);
    expect(l.tryTo('failing')).toBe(false); // a second error changes nothing
    l.to('failed');
    expect(() => l.to('stopping')).toThrow('pipeline cannot go from failed to stopping');
  });
});
