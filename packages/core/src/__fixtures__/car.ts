import { injectable } from 'tsyringe';
// A value import on purpose: emitDecoratorMetadata must see the class itself, not `Object`.
import { Engine } from './engine';

/** Takes `Engine` by constructor type only: the proof that design:paramtypes is emitted. */
@injectable()
export class Car {
  constructor(readonly engine: Engine) {}
}
