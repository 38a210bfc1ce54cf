import { ConfigError } from '../errors';

/** The ConfigError `fn` throws (fails the test when it returns or throws something else). */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw new Error(`expected a ConfigError, got ${String(e)}`);
  }
  throw new Error('expected a ConfigError, but the call returned');
}
