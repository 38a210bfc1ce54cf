import { concatMap } from 'rxjs';
import type { StageOperator } from './contracts';
import type { RunContext } from './context';

/**
 * Makes a stage operator from a body. The stage announces its start and end on the event stream;
 * once the run's outcome is decided, stages pass the context through untouched. A rejected body
 * fails the stream (never a synchronous throw from inside an operator).
 *
 * @example
 * const panic = stage('panic', (ctx) => { ctx.clock.advance(ms(2)); });
 */
export function stage(name: string, body: (ctx: RunContext) => void | Promise<void>): StageOperator {
  return (source) =>
    source.pipe(
      concatMap(async (ctx) => {
        if (ctx.outcome) return ctx;
        ctx.log.emit(name, 'start', name);
        await body(ctx);
        ctx.log.emit(name, 'end', name);
        return ctx;
      }),
    );
}
