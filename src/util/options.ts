import { ConfigError } from '../errors/config-error.js';

// The one path for checking the options users pass to constructors and
// open(): each check throws a ConfigError naming the field, in the same words
// everywhere, and returns the value (or its default). Rules particular to one
// option (a bucket name, a metric prefix) stay beside it, also as ConfigError.

/** Throws unless `options` is an object whose keys are all in `known`. `what` names the options ("pipeline"). */
export function checkOptions(options: unknown, what: string, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw new ConfigError(`${what} options must be an object`);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new ConfigError(`unknown ${what} option "${k}"; known options: ${known.join(', ')}`);
  }
}

/** Bounds of a number option; without `default` the option is required. */
export interface NumberRule {
  min: number;
  max?: number;
  default?: number;
}

/** A safe integer in [min, max]; its default when undefined. */
export function intOption(name: string, value: unknown, rule: NumberRule): number {
  if (value === undefined && rule.default !== undefined) return rule.default;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < rule.min ||
    (rule.max !== undefined && value > rule.max)
  ) {
    const range = rule.max === undefined ? `>= ${rule.min}` : `in ${rule.min}..${rule.max}`;
    throw new ConfigError(`"${name}" must be an integer ${range}, got ${String(value)}`);
  }
  return value;
}

/** A finite number >= min; its default when undefined. */
export function numberOption(name: string, value: unknown, rule: NumberRule): number {
  if (value === undefined && rule.default !== undefined) return rule.default;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < rule.min ||
    (rule.max !== undefined && value > rule.max)
  ) {
    const range = rule.max === undefined ? `>= ${rule.min}` : `in ${rule.min}..${rule.max}`;
    throw new ConfigError(`"${name}" must be a finite number ${range}, got ${String(value)}`);
  }
  return value;
}

/** One of `allowed`; `dflt` when undefined. */
export function oneOfOption<T extends string>(name: string, value: unknown, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (!allowed.includes(value as T))
    throw new ConfigError(`"${name}" must be one of ${allowed.join(', ')}, got ${String(value)}`);
  return value as T;
}

/** A boolean; `dflt` when undefined. */
export function booleanOption(name: string, value: unknown, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw new ConfigError(`"${name}" must be a boolean, got ${String(value)}`);
  return value;
}

/** An optional function; `what` says more than "a function" ("a function returning ..."). */
export function functionOption<F>(name: string, value: F | undefined, what = 'a function'): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new ConfigError(`"${name}" must be ${what}`);
  return value;
}
