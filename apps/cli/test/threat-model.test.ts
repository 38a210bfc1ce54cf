import { createRun, type Design, type RunResult, type Scenario } from '@efikdump/core';
import { createContainer } from '../src/container';
import { cellRule } from '../src/compare/sweep';
import { builtinDesigns, builtinScenarios } from '../src/library';

// Issue 12 item 6: the attacks of docs/threat-model.md as built-in scenarios. Each `it` here is
// named in that document beside the claim it backs.

const designs = builtinDesigns();
const scenarios = builtinScenarios();
const design = (name: string): Design => designs.find((d) => d.name === name)!;
const scenario = (name: string): Scenario => scenarios.find((s) => s.name === name)!;
const container = createContainer();
const OPTIONS = { truthPages: 64, truthZeroPages: 16 };
const SEEDS = [1, 2, 3, 4, 5, 6];

/**
 * The attacks are on the handoff record, not on the crashed kernel's memory: they run on the
 * designs' firmware with POST keeping RAM (a scenario with no scratch ranges), so an outcome here is
 * the record's, not what measured POST destroys (measured-firmware.test.ts).
 */
function run(d: Design, s: Scenario, seed: number): Promise<RunResult> {
  const keepsRam: Scenario = { ...s, firmware: { ...(s.firmware ?? {}), scratch: [], retention: 'ideal' } };
  return createRun(container, { design: d, scenario: keepsRam, seed, options: OPTIONS }).start();
}

/** Designs whose EFI stub reads a crash marker after a firmware reset. */
const STUB_DESIGNS = designs.filter((d) => d.components.exit[0].startsWith('efi-')).map((d) => d.name);
/** Of those, the ones whose reservation survives the reset on their firmware (the other two model firmware that overwrites it). */
const STUB_CAPTURING = STUB_DESIGNS.filter(
  (n) => !['efi-warm-with-firmware-retention', 'efi-warm-reserved-memory-ovmf-measured'].includes(n),
);
/** Designs that keep the record in RAM (the handoff page) and in flash. */
const RAM_RECORD = STUB_CAPTURING.filter((n) => ['reserved-memory', 'fdt'].includes(design(n).components.transport[0]));
const FLASH_RECORD = STUB_CAPTURING.filter((n) => ['efi-variable', 'acpi-erst'].includes(design(n).components.transport[0]));
/**
 * A dump's outcome when the record was taken: a footprint-aware design declares the firmware's
 * footprint lost whether or not POST wrote it, so its dump is partial by construction — unless it
 * also quarantines that footprint (the kernel kept nothing there, so nothing of its memory is lost).
 */
const dumped = (name: string) => {
  const kdump = design(name).kdump;
  if (kdump?.quarantine === 'firmware-footprint') return 'dump-complete';
  return kdump?.declareLoss && kdump.declareLoss !== 'none' ? 'dump-partial' : 'dump-complete';
};
const OTHER_DESIGNS = designs.map((d) => d.name).filter((n) => !STUB_DESIGNS.includes(n));

test('the design families the claims speak of are all in the default comparison', () => {
  expect(RAM_RECORD).toEqual(expect.arrayContaining(['efi-warm-reserved-memory', 'efi-warm-fdt', 'efi-cold-reserved-memory']));
  expect(FLASH_RECORD).toEqual(expect.arrayContaining(['efi-warm-efivar', 'efi-warm-acpi-erst', 'efi-cold-efivar']));
  expect(OTHER_DESIGNS).toEqual(expect.arrayContaining(['classic-kexec', 'fadump']));
  const names = scenarios.map((s) => s.name);
  expect(names).toEqual(
    expect.arrayContaining([
      'forged-crash-marker',
      'replayed-handoff-record',
      'stolen-key-forgery',
      'stolen-key-forgery-lockdown',
      'dma-over-handoff-record',
      'torn-handoff-record',
    ]),
  );
});

describe('threat model', () => {
  it('replay: a genuine crashed record of an earlier boot, written back by root on a later normal boot, is refused as replayed by every stub design', async () => {
    for (const name of STUB_CAPTURING) {
      for (const seed of SEEDS) {
        const r = await run(design(name), scenario('replayed-handoff-record'), seed);
        expect({ name, seed, outcome: r.outcome }).toEqual({ name, seed, outcome: 'forgery-rejected' });
        expect(r.reason).toMatch(
          /earlier boot's crashed record back.*the stub refused it \(replayed\): .*made for an earlier boot \(nonce [0-9a-f]{16}, 3 boots ago\)/,
        );
        expect(r.metrics.handoffRejectedReplayed).toBe(1);
        expect(r.metrics.handoffRejectedForged).toBe(0);
      }
    }
  });

  it('made-up key: a crashed record MACed with a key root invented is refused as forged', async () => {
    for (const name of STUB_CAPTURING) {
      const r = await run(design(name), scenario('forged-crash-marker'), 7);
      expect({ name, outcome: r.outcome }).toEqual({ name, outcome: 'forgery-rejected' });
      expect(r.reason).toMatch(/the stub refused it \(forged\): .*HMAC-SHA256 does not verify/);
    }
  });

  it('stolen key without lockdown: the forgery is a valid record and the stub takes it for a crashed boot (false-crash-boot) — the design claims no protection here, and the scenario expects it', async () => {
    const s = scenario('stolen-key-forgery');
    for (const name of STUB_CAPTURING) {
      for (const seed of SEEDS.slice(0, 3)) {
        const r = await run(design(name), s, seed);
        expect({ name, seed, outcome: r.outcome }).toEqual({ name, seed, outcome: 'false-crash-boot' });
        expect(r.reason).toMatch(/with the stolen key/);
      }
      expect(cellRule(design(name), s).expected?.outcomes).toEqual(['false-crash-boot']);
    }
  });

  it('stolen key under Secure Boot + lockdown=confidentiality: kernel memory is unreadable, the key root uses is its own, the forgery is refused', async () => {
    const s = scenario('stolen-key-forgery-lockdown');
    expect(s.security).toEqual({ secureBoot: true, lockdown: 'confidentiality' });
    for (const name of STUB_DESIGNS) {
      for (const seed of SEEDS.slice(0, 3)) {
        const r = await run(design(name), s, seed);
        expect({ name, seed, outcome: r.outcome }).toEqual({ name, seed, outcome: 'forgery-rejected' });
      }
      expect(cellRule(design(name), s)).toEqual({ success: ['forgery-rejected'], expected: null });
    }
  });

  it('only Secure Boot and lockdown=confidentiality together keep the key: integrity mode (/proc/kcore, BPF still read kernel memory) or no Secure Boot (root boots a kernel of its own) lose it', async () => {
    const base = scenario('stolen-key-forgery-lockdown');
    const d = design('efi-warm-reserved-memory');
    const integrity = await run(d, { ...base, security: { secureBoot: true, lockdown: 'integrity' } }, 1);
    const noSecureBoot = await run(d, { ...base, security: { secureBoot: false, lockdown: 'confidentiality' } }, 1);
    const both = await run(d, base, 1);
    expect([integrity.outcome, noSecureBoot.outcome, both.outcome]).toEqual(['false-crash-boot', 'false-crash-boot', 'forgery-rejected']);
  });

  it('designs without a stub that reads markers (kexec, fadump) never act on a forged, stolen-key or replayed marker', async () => {
    for (const name of OTHER_DESIGNS) {
      for (const s of ['forged-crash-marker', 'stolen-key-forgery', 'replayed-handoff-record']) {
        const r = await run(design(name), scenario(s), 1);
        expect({ name, s, outcome: r.outcome }).toEqual({ name, s, outcome: 'forgery-rejected' });
        expect(r.reason).toMatch(/no marker reached the stub's check/);
      }
    }
  });

  it('DMA over the handoff page during the reset: a record in RAM is refused as damaged or repaired and verified, never trusted damaged; a record in flash is out of reach', async () => {
    const s = scenario('dma-over-handoff-record');
    for (const name of RAM_RECORD) {
      const outcomes = new Set<string>();
      for (const seed of SEEDS) {
        const r = await run(design(name), s, seed);
        expect(r.metrics.handoffFaultLanded).toBe(true);
        expect(['handoff-rejected', dumped(name)]).toContain(r.outcome);
        if (r.outcome === 'handoff-rejected')
          expect(r.reason).toMatch(
            /^the handoff record was damaged \(dma-during-reset: nic0 wrote \d+ bytes at 0x[0-9a-f]+, inside the handoff page, during the reset\); the stub refused it \((corrupt|truncated|forged)\)/,
          );
        outcomes.add(r.outcome);
      }
      expect(outcomes).toContain('handoff-rejected');
    }
    for (const name of FLASH_RECORD) {
      const r = await run(design(name), s, 1);
      expect({ name, outcome: r.outcome, landed: r.metrics.handoffFaultLanded }).toEqual({ name, outcome: dumped(name), landed: false });
    }
  });

  it("torn write of the record: the record the stub finds is part new, part armed; it is refused (or repaired by the zone's parity and verified), never trusted torn", async () => {
    const s = scenario('torn-handoff-record');
    for (const name of RAM_RECORD) {
      for (const seed of SEEDS) {
        const r = await run(design(name), s, seed);
        expect(r.metrics.handoffFaultLanded).toBe(true);
        if (r.outcome === dumped(name)) expect(r.metrics.handoffCorrectedBytes).toBeGreaterThan(0);
        else expect({ name, seed, outcome: r.outcome }).toEqual({ name, seed, outcome: 'handoff-rejected' });
      }
    }
    for (const name of FLASH_RECORD) {
      const r = await run(design(name), s, 1);
      expect({ name, outcome: r.outcome, landed: r.metrics.handoffFaultLanded }).toEqual({ name, outcome: dumped(name), landed: false });
    }
  });

  it('every attack scenario declares rejection (or a dump) as success, so the default comparison colours a trusted forgery red', () => {
    for (const s of ['forged-crash-marker', 'replayed-handoff-record', 'stolen-key-forgery', 'stolen-key-forgery-lockdown'])
      expect(scenario(s).success).toEqual(['forgery-rejected']);
    for (const s of ['dma-over-handoff-record', 'torn-handoff-record'])
      expect(scenario(s).success).toEqual(['dump-complete', 'dump-partial', 'handoff-rejected']);
  });
});
