import { inject, injectable } from 'tsyringe';
import { Engine } from './engine';
import { GAUGE } from './gauge';
// Type-only: an interface has no value to reference in the metadata (TS1272 under isolatedModules).
import type { Gauge } from './gauge';

/** Mixes an interface-typed dependency (by token) with a class-typed one (by metadata). */
@injectable()
export class Dashboard {
  constructor(
    @inject(GAUGE) readonly speed: Gauge,
    readonly engine: Engine,
  ) {}
}
