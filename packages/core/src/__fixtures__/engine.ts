import { injectable } from 'tsyringe';

let built = 0;

/** A concrete class other fixtures take by constructor type, with no `@inject`. */
@injectable()
export class Engine {
  /** Distinguishes instances: each construction gets the next serial. */
  readonly serial = ++built;
}
