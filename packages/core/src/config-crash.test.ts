import { parseDesign, parseScenario } from './config';
import { ConfigError } from './errors';
import { DEVICE_KINDS } from './machine/device-specs';
import { withScenarioKernel } from './runner';
import { MiB } from './units';
import { configErrorOf } from './__fixtures__/config-error';

const DESIGN_FILE = 'designs/crash-test.json';
const SCENARIO_FILE = 'scenarios/crash-test.json';

type Json = Record<string, unknown>;

function validDesign(extra: Json = {}): Json {
  return {
    format: 'efikdump-design/1',
    name: 'crash-test',
    description: 'classic kexec with a command-line handoff',
    components: {
      firmware: 'uefi',
      retention: ['retain-all'],
      kernel: 'linux',
      transport: 'cmdline',
      exit: 'classic-kexec',
      detector: 'none',
      stub: 'linux-efi-stub',
      capture: 'linux-vmcore',
      writer: 'elf',
    },
    kernel: { cmdline: 'ro console=ttyS0 crashkernel=0M-1G:96M,1G-4G:192M,4G-64G:256M,64G-:512M quiet' },
    ...extra,
  };
}

function validScenario(extra: Json = {}, machine: Json = {}): Json {
  return {
    format: 'efikdump-scenario/1',
    name: 'crash-test',
    description: 'a machine with devices',
    machine: { memory: '4GiB', cpus: 4, ...machine },
    workload: { pageWrites: 16 },
    ...extra,
  };
}

const scenarioError = (doc: Json): ConfigError => configErrorOf(() => parseScenario(doc, SCENARIO_FILE));
const deviceError = (devices: unknown): ConfigError => scenarioError(validScenario({}, { devices }));

describe('parseScenario: the crash world', () => {
  it('without the new fields: a translated IOMMU, no devices, no kernel, faults or attack', () => {
    const s = parseScenario(validScenario(), SCENARIO_FILE);
    expect(s.machine.iommu).toBe('translated');
    expect(s.machine.devices).toEqual([]);
    expect(s.kernel).toBeUndefined();
    expect(s.faults).toBeUndefined();
    expect(s.attack).toBeUndefined();
  });

  it.each(['off', 'passthrough', 'translated'])('accepts machine.iommu %s', (iommu) => {
    expect(parseScenario(validScenario({}, { iommu }), SCENARIO_FILE).machine.iommu).toBe(iommu);
  });

  it("fills a device named only by kind with that kind's defaults", () => {
    const s = parseScenario(validScenario({}, { devices: DEVICE_KINDS.map((kind) => ({ name: `${kind}0`, kind })) }), SCENARIO_FILE);
    expect(s.machine.devices.map((d) => [d.name, d.kind])).toEqual(DEVICE_KINDS.map((k) => [`${k}0`, k]));
    for (const d of s.machine.devices) {
      // Nothing is in flight unless the scenario says so; rates are probabilities.
      expect(d.inflightRate).toBe(0);
      expect(d.probeResetFailRate).toBe(0);
      expect(Number.isInteger(d.bufferPages) && d.bufferPages >= 1).toBe(true);
      expect(d.dmaPagesPerSecond).toBeGreaterThan(0);
      expect(d.iovaSpanBytes).toBeGreaterThanOrEqual(d.bufferPages * 4096);
      expect(d.iovaSpanBytes).toBeLessThanOrEqual(2 ** 32);
      expect(typeof d.warmReset).toBe('boolean');
    }
    const byKind = Object.fromEntries(s.machine.devices.map((d) => [d.kind, d]));
    // The kdump initramfs carries storage and network drivers, not a GPU's.
    expect(byKind.gpu.captureDriver).toBe(false);
    expect(byKind.nic.captureDriver).toBe(true);
    expect(byKind.nvme.captureDriver).toBe(true);
    // Defaults differ by kind.
    expect(new Set(s.machine.devices.map((d) => d.bufferPages)).size).toBeGreaterThan(1);
  });

  it('explicit device fields override the kind defaults (sizes as text)', () => {
    const s = parseScenario(
      validScenario(
        {},
        {
          iommu: 'off',
          devices: [
            {
              name: 'bmc-nic',
              kind: 'nic',
              inflightRate: 1,
              bufferPages: 8,
              dmaPagesPerSecond: 0,
              iovaSpan: '64MiB',
              warmReset: false,
              captureDriver: false,
              probeResetFailRate: 0.25,
            },
          ],
        },
      ),
      SCENARIO_FILE,
    );
    expect(s.machine.devices).toEqual([
      {
        name: 'bmc-nic',
        kind: 'nic',
        inflightRate: 1,
        bufferPages: 8,
        dmaPagesPerSecond: 0,
        iovaSpanBytes: 64 * MiB,
        warmReset: false,
        captureDriver: false,
        probeResetFailRate: 0.25,
      },
    ]);
  });

  it('reads kernel.crashkernel, faults.capturePanicRate and attack.crashMarker', () => {
    for (const crashMarker of ['forged', 'stolen-key', 'replayed'])
      expect(parseScenario(validScenario({ attack: { crashMarker } }), SCENARIO_FILE).attack).toEqual({ crashMarker });
    const t = parseScenario(
      validScenario({
        faults: { handoffRecord: 'torn-write' },
        security: { secureBoot: true },
        success: ['forgery-rejected', 'forgery-rejected'],
        expected: [{ when: { exit: ['efi-warm-reset'] }, outcomes: ['false-crash-boot'], why: 'root reads the key' }],
      }),
      SCENARIO_FILE,
    );
    expect(t.faults).toEqual({ capturePanicRate: 0, handoffRecord: 'torn-write' });
    expect(t.security).toEqual({ secureBoot: true, lockdown: 'none' });
    expect(t.success).toEqual(['forgery-rejected']);
    expect(t.expected).toEqual([{ when: { exit: ['efi-warm-reset'] }, outcomes: ['false-crash-boot'], why: 'root reads the key' }]);
    const s = parseScenario(
      validScenario({ kernel: { crashkernel: '96M' }, faults: { capturePanicRate: 0.5 }, attack: { crashMarker: 'forged' } }),
      SCENARIO_FILE,
    );
    expect(s.kernel).toEqual({ crashkernel: '96M' });
    expect(s.faults).toEqual({ capturePanicRate: 0.5 });
    expect(s.attack).toEqual({ crashMarker: 'forged' });
    expect(parseScenario(validScenario({ faults: {} }), SCENARIO_FILE).faults).toEqual({ capturePanicRate: 0 });
    expect(parseScenario(validScenario({ faults: { capturePanicRate: 1 } }), SCENARIO_FILE).faults).toEqual({ capturePanicRate: 1 });
  });

  describe('rejects, naming the field', () => {
    it.each([
      ['an unknown IOMMU mode', { iommu: 'on' }, 'machine.iommu'],
      ['an IOMMU mode that is not a string', { iommu: true }, 'machine.iommu'],
      ['devices that are not a list', { devices: { name: 'nic0' } }, 'machine.devices'],
    ])('%s', (_what, machine, field) => {
      const e = scenarioError(validScenario({}, machine as Json));
      expect(e.field).toBe(field);
      expect(e.file).toBe(SCENARIO_FILE);
    });

    it('more than 64 devices', () => {
      const e = deviceError(Array.from({ length: 65 }, (_, i) => ({ name: `nic${i}`, kind: 'nic' })));
      expect(e.field).toBe('machine.devices');
    });

    it.each([
      ['an unknown kind', [{ name: 'tpu0', kind: 'tpu' }], 'machine.devices[0].kind'],
      ['a missing kind', [{ name: 'nic0' }], 'machine.devices[0].kind'],
      ['a missing name', [{ kind: 'nic' }], 'machine.devices[0].name'],
      ['a name that is not kebab-case', [{ name: 'Nic 0', kind: 'nic' }], 'machine.devices[0].name'],
      [
        'a duplicate name',
        [
          { name: 'nic0', kind: 'nic' },
          { name: 'nvme0', kind: 'nvme' },
          { name: 'nic0', kind: 'hba' },
        ],
        'machine.devices[2].name',
      ],
      ['a device that is not an object', ['nic0'], 'machine.devices[0]'],
      ['an unknown device field', [{ name: 'nic0', kind: 'nic', speed: 10 }], 'machine.devices[0].speed'],
      ['an in-flight rate above 1', [{ name: 'nic0', kind: 'nic', inflightRate: 1.5 }], 'machine.devices[0].inflightRate'],
      ['a negative in-flight rate', [{ name: 'nic0', kind: 'nic', inflightRate: -0.1 }], 'machine.devices[0].inflightRate'],
      ['an in-flight rate as text', [{ name: 'nic0', kind: 'nic', inflightRate: '0.5' }], 'machine.devices[0].inflightRate'],
      [
        'a probe-reset fail rate above 1',
        [
          { name: 'a', kind: 'nic' },
          { name: 'b', kind: 'hba', probeResetFailRate: 2 },
        ],
        'machine.devices[1].probeResetFailRate',
      ],
      ['zero buffer pages', [{ name: 'nic0', kind: 'nic', bufferPages: 0 }], 'machine.devices[0].bufferPages'],
      ['fractional buffer pages', [{ name: 'nic0', kind: 'nic', bufferPages: 1.5 }], 'machine.devices[0].bufferPages'],
      ['a negative DMA rate', [{ name: 'nic0', kind: 'nic', dmaPagesPerSecond: -1 }], 'machine.devices[0].dmaPagesPerSecond'],
      ['an IOVA span beyond 4 GiB', [{ name: 'nic0', kind: 'nic', iovaSpan: '8GiB' }], 'machine.devices[0].iovaSpan'],
      ['a warmReset that is not a boolean', [{ name: 'nic0', kind: 'nic', warmReset: 'yes' }], 'machine.devices[0].warmReset'],
      ['a captureDriver that is not a boolean', [{ name: 'nic0', kind: 'nic', captureDriver: 1 }], 'machine.devices[0].captureDriver'],
    ])('%s', (_what, devices, field) => {
      const e = deviceError(devices);
      expect(e.field).toBe(field);
      expect(e.file).toBe(SCENARIO_FILE);
      expect(e.describe()).toContain(field);
    });

    it.each([
      ['a crashkernel with spaces', { kernel: { crashkernel: '96M quiet' } }, 'kernel.crashkernel'],
      ['an empty crashkernel', { kernel: { crashkernel: '' } }, 'kernel.crashkernel'],
      ['a missing crashkernel', { kernel: {} }, 'kernel.crashkernel'],
      ['an unknown kernel field', { kernel: { crashkernel: '96M', cmdline: 'x' } }, 'kernel.cmdline'],
      ['a kernel that is not an object', { kernel: '96M' }, 'kernel'],
      ['a capture panic rate above 1', { faults: { capturePanicRate: 1.01 } }, 'faults.capturePanicRate'],
      ['a negative capture panic rate', { faults: { capturePanicRate: -1 } }, 'faults.capturePanicRate'],
      ['a capture panic rate as text', { faults: { capturePanicRate: 'often' } }, 'faults.capturePanicRate'],
      ['an unknown fault', { faults: { firmwareHang: 1 } }, 'faults.firmwareHang'],
      ['a crash marker other than forged', { attack: { crashMarker: 'real' } }, 'attack.crashMarker'],
      ['a missing crash marker', { attack: {} }, 'attack.crashMarker'],
      ['an unknown attack field', { attack: { crashMarker: 'forged', replay: true } }, 'attack.replay'],
      ['an unknown handoff record fault', { faults: { handoffRecord: 'bit-rot' } }, 'faults.handoffRecord'],
      ['an unknown lockdown mode', { security: { lockdown: 'full' } }, 'security.lockdown'],
      ['secureBoot as text', { security: { secureBoot: 'yes' } }, 'security.secureBoot'],
      ['an unknown security field', { security: { tpm: true } }, 'security.tpm'],
      ['an unknown success outcome', { success: ['dump-ok'] }, 'success[0]'],
      ['an empty success list', { success: [] }, 'success'],
      ['expected without a design selector', { expected: [{ when: {}, outcomes: ['no-dump'], why: 'x' }] }, 'expected[0].when'],
      [
        'an expected failure that is also success',
        { expected: [{ when: { exit: ['efi-warm-reset'] }, outcomes: ['dump-complete'], why: 'x' }] },
        'expected[0].outcomes',
      ],
      ['an expected failure without why', { expected: [{ when: { exit: ['efi-warm-reset'] }, outcomes: ['no-dump'] }] }, 'expected[0].why'],
      [
        'an expected selector that is not a list of names',
        { expected: [{ when: { transport: 'efi-variable' }, outcomes: ['no-dump'], why: 'x' }] },
        'expected[0].when.transport',
      ],
    ])('%s', (_what, extra, field) => {
      const e = scenarioError(validScenario(extra as Json));
      expect(e.field).toBe(field);
      expect(e.describe()).toContain(field);
    });
  });
});

describe('parseDesign: capture.iommu', () => {
  it('is absent unless the design says', () => {
    expect(parseDesign(validDesign(), DESIGN_FILE).capture).toBeUndefined();
  });

  it.each(['disable-translation', 'copy-tables'])('accepts %s', (iommu) => {
    expect(parseDesign(validDesign({ capture: { iommu } }), DESIGN_FILE).capture).toEqual({ iommu });
  });

  it.each([
    ['an unknown choice', { iommu: 'keep' }, 'capture.iommu'],
    ['a missing choice', {}, 'capture.iommu'],
    ['an unknown field', { iommu: 'copy-tables', reset: true }, 'capture.reset'],
    ['a capture that is not an object', 'copy-tables', 'capture'],
  ])('rejects %s', (_what, capture, field) => {
    const e = configErrorOf(() => parseDesign(validDesign({ capture }), DESIGN_FILE));
    expect(e.field).toBe(field);
    expect(e.file).toBe(DESIGN_FILE);
  });
});

describe('withScenarioKernel', () => {
  const design = parseDesign(validDesign(), DESIGN_FILE);

  it("replaces the command line's crashkernel= with the scenario's, keeping the other arguments", () => {
    const scenario = parseScenario(validScenario({ kernel: { crashkernel: '96M' } }), SCENARIO_FILE);
    const out = withScenarioKernel(design, scenario);
    const args = out.kernel.cmdline.split(/\s+/);
    expect(args.filter((a) => a.startsWith('crashkernel='))).toEqual(['crashkernel=96M']);
    expect(args.filter((a) => !a.startsWith('crashkernel='))).toEqual(['ro', 'console=ttyS0', 'quiet']);
    // The design itself is not changed.
    expect(design.kernel.cmdline).toContain('crashkernel=0M-1G:96M');
    expect(out.name).toBe(design.name);
    expect(out.components).toEqual(design.components);
  });

  it('adds crashkernel= when the design has none, and removes every earlier one', () => {
    const scenario = parseScenario(validScenario({ kernel: { crashkernel: '512M@4G' } }), SCENARIO_FILE);
    const none = parseDesign(validDesign({ kernel: { cmdline: 'ro  console=ttyS0' } }), DESIGN_FILE);
    expect(withScenarioKernel(none, scenario).kernel.cmdline.split(/\s+/)).toEqual(['ro', 'console=ttyS0', 'crashkernel=512M@4G']);
    const two = parseDesign(validDesign({ kernel: { cmdline: 'crashkernel=256M ro crashkernel=64M,low' } }), DESIGN_FILE);
    expect(withScenarioKernel(two, scenario).kernel.cmdline.split(/\s+/)).toEqual(['ro', 'crashkernel=512M@4G']);
  });

  it('returns the design unchanged without a scenario kernel', () => {
    const scenario = parseScenario(validScenario(), SCENARIO_FILE);
    expect(withScenarioKernel(design, scenario)).toBe(design);
  });
});
