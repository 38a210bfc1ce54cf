import { inject, injectable } from 'tsyringe';
import type { DumpWriter, Firmware, RetentionPolicy, RetentionReport, StageOperator } from '../contracts';
import { FIRMWARE } from '../contracts';
import { defineOptions, type OptionsOf } from '../config/component-options';
import { COMPONENT_OPTIONS } from '../plugins';

/** Plug-ins that take options, for the component-options tests. */
export const SQUEEZE_OPTIONS = defineOptions({
  level: { type: 'integer', min: 1, max: 22, default: 3 },
  codec: { type: 'enum', values: ['zstd', 'zlib'], default: 'zstd' },
  label: { type: 'string' },
});

@injectable()
export class SqueezeWriter implements DumpWriter {
  readonly name = 'squeeze';
  constructor(
    @inject(COMPONENT_OPTIONS) readonly options: OptionsOf<typeof SQUEEZE_OPTIONS>,
    @inject(FIRMWARE) readonly firmware: Firmware,
  ) {}
  operator(): StageOperator {
    return (source) => source;
  }
}

export const FADE_OPTIONS = defineOptions({
  fraction: { type: 'number', min: 0, max: 1, default: 0 },
  cold: { type: 'boolean', default: false },
});

@injectable()
export class FadeRetention implements RetentionPolicy {
  readonly name = 'fade';
  constructor(@inject(COMPONENT_OPTIONS) readonly options: OptionsOf<typeof FADE_OPTIONS>) {}
  apply(): RetentionReport {
    return { policy: this.name, changedRanges: [], changedPages: 0, note: `fraction ${this.options.fraction}` };
  }
}

/** A firmware that holds the design's retention policies, to see they are the run's instances. */
@injectable()
export class PlainFirmware implements Firmware {
  ramLayout() {
    return [{ start: 0, end: 256 * 1024 * 1024 }];
  }
  powerOn(): StageOperator {
    return (source) => source;
  }
  resetAndPost(): StageOperator {
    return (source) => source;
  }
  resetSystem(): void {
    // Nothing to do: the tests only resolve it.
  }
}
