import type { InjectionToken } from 'tsyringe';

/** An interface dependency: it has no runtime value, so it is injected by token. */
export interface Gauge {
  readonly unit: string;
  read(): number;
}

export const GAUGE: InjectionToken<Gauge> = Symbol('fixture:gauge');
