import { Subject, type Observable } from 'rxjs';
import type { VirtualClock } from './clock';

export type RunEventKind = 'start' | 'end' | 'info' | 'warn' | 'outcome' | 'progress';

/** One entry of a run's timeline. `tUs` is virtual time; only `progress` events depend on the wall clock. */
export interface RunEvent {
  readonly tUs: number;
  readonly stage: string;
  readonly kind: RunEventKind;
  readonly message: string;
  readonly data?: Readonly<Record<string, string | number | boolean>>;
}

/** The run's event stream: every stage writes here; the CLI, reports and tests read `events$`. */
export class EventLog {
  private readonly subject = new Subject<RunEvent>();
  private readonly kept: RunEvent[] = [];
  readonly events$: Observable<RunEvent> = this.subject.asObservable();

  constructor(private readonly clock: VirtualClock) {}

  emit(stage: string, kind: RunEventKind, message: string, data?: RunEvent['data']): void {
    const event: RunEvent = data ? { tUs: this.clock.nowUs, stage, kind, message, data } : { tUs: this.clock.nowUs, stage, kind, message };
    if (kind !== 'progress') this.kept.push(event);
    this.subject.next(event);
  }

  /** The deterministic timeline (everything but progress). */
  get timeline(): readonly RunEvent[] {
    return this.kept;
  }

  complete(): void {
    this.subject.complete();
  }
}
