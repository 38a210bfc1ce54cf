import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@efikdump/core';
import { builtinDesigns, checkDetectorReadsTransport, loadDesign } from '../src/library';
import { tempDir } from './helpers';

// Pairing is judged when a design is loaded: a detector with a static `transports` list must read the
// design's transport; transport-discovery (no list) asks whatever transport the design names.

const BUILTIN_TRANSPORTS = ['reserved-memory', 'efi-variable', 'acpi-erst', 'fdt', 'cmdline', 'none'];

describe('detector and transport pairing at load time', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir, cleanup } = tempDir('pairing')));
  afterAll(() => cleanup());

  /** The built-in efi-warm-efivar design with another transport and detector, written to a file. */
  function designFile(name: string, transport: string, detector: string): string {
    const base = builtinDesigns().find((d) => d.name === 'efi-warm-efivar');
    expect(base).toBeDefined();
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        format: 'efikdump-design/1',
        name,
        description: `${detector} with ${transport}`,
        components: {
          firmware: 'uefi',
          retention: ['firmware-scratch'],
          kernel: 'linux',
          transport,
          exit: 'efi-warm-reset',
          detector,
          stub: 'linux-efi-stub',
          capture: 'linux-vmcore',
          writer: 'elf',
        },
        firmware: { profile: 'ovmf' },
        kernel: { cmdline: base!.kernel.cmdline },
      }),
    );
    return file;
  }

  it('efi-variable-flag paired with a transport other than efi-variable is refused, naming both slots and the way out', () => {
    for (const transport of ['fdt', 'reserved-memory', 'acpi-erst']) {
      const file = designFile(`efivar-flag-${transport}`, transport, 'efi-variable-flag');
      let error: unknown;
      try {
        loadDesign(file);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const err = error as ConfigError;
      expect(err.message).toBe(
        `detector "efi-variable-flag" reads only the efi-variable transport, not "${transport}" (components.transport): ` +
          'the stub would never see the crash; pair it with a transport it reads, or use transport-discovery (any transport) or any-of',
      );
      expect(err).toMatchObject({ file, field: 'components.detector', exitCode: 2 });
    }
    expect(loadDesign(designFile('efivar-flag-efivar', 'efi-variable', 'efi-variable-flag')).components.detector).toEqual([
      'efi-variable-flag',
    ]);
  });

  it('transport-discovery and any-of are paired with every built-in transport', () => {
    for (const detector of ['transport-discovery', 'any-of'])
      for (const transport of BUILTIN_TRANSPORTS) {
        const design = loadDesign(designFile(`${detector}-${transport}`, transport, detector));
        expect(() => checkDetectorReadsTransport(design)).not.toThrow();
      }
  });

  it('the other transport-specific detectors keep their lists', () => {
    expect(() => loadDesign(designFile('bert-fdt', 'fdt', 'bert-record'))).toThrow(
      /detector "bert-record" reads only the acpi-erst transport, not "fdt"/,
    );
    expect(() => loadDesign(designFile('magic-efivar', 'efi-variable', 'reserved-memory-magic'))).toThrow(
      /detector "reserved-memory-magic" reads only the reserved-memory and fdt transports, not "efi-variable"/,
    );
  });
});
