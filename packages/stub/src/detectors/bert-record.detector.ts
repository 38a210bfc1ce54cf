import { injectable } from 'tsyringe';
import type { CrashDetection, CrashDetector, RunContext } from '@efikdump/core';
import { AcpiErstTransport } from '@efikdump/transports';
import { detectionOf } from './discovery';

/**
 * A crashed boot is one whose BERT boot error region (ACPI §18.3.1) holds a Generic Error Data
 * Entry of efikdump's section type: the firmware republished the CPER record the crashed kernel
 * wrote through ERST. BERT only: firmware that does not republish leaves it empty.
 */
@injectable()
export class BertRecordDetector implements CrashDetector {
  readonly name = 'bert-record';
  /** The transports whose records this detector reads (the ERST/BERT record of the acpi-erst transport); a design pairing it with another is refused. */
  static readonly transports: readonly string[] = ['acpi-erst'];

  constructor(private readonly acpi: AcpiErstTransport) {}

  detect(ctx: RunContext): CrashDetection {
    const d = detectionOf((at) => `CPER section in ${at}`, this.acpi.discoverInBert(ctx));
    return { ...d, damaged: d.damaged?.map((x) => ({ ...x, source: this.name })) };
  }
}
