import { SLOTS, catalogOf, describeOption, type SlotKey } from '@efikdump/core';
import { DEFAULT_FIRMWARE_PROFILE, describeRetention, loadFirmwareProfile } from '@efikdump/firmware-uefi';
import { createContainer, pluginsFromCommandLine } from '../container';
import { builtinDesigns, builtinScenarios } from '../library';
import type { Output } from '../output';

export function designsCommand(io: Output): number {
  for (const d of builtinDesigns()) {
    io.out(`${d.name}`);
    io.out(`    ${d.description}`);
    io.out(`    ${(Object.keys(SLOTS) as SlotKey[]).map((s) => `${s}=${d.components[s].join('+')}`).join(' ')}`);
    const profile = loadFirmwareProfile(d.firmware?.profile ?? DEFAULT_FIRMWARE_PROFILE);
    io.out(`    firmware profile ${profile.name}: retention ${describeRetention(profile)}; on a reset it also applies ${profile.platformRetention.map((p) => p.name).join(', ') || 'nothing'} (platformRetention) unless the design names them`);
  }
  io.out('');
  io.out('plug-ins (a design names one per slot, with its options as {"name": ..., "options": {...}}):');
  for (const p of catalogOf(createContainer(pluginsFromCommandLine(undefined))).list()) {
    io.out(`  ${p.slot.padEnd(10)} ${p.name.padEnd(24)} ${p.description}`);
    for (const [name, spec] of Object.entries(p.options ?? {})) {
      io.out(`  ${''.padEnd(10)} ${''.padEnd(24)}   option ${name}: ${describeOption(spec)}${spec.default !== undefined ? `, default ${JSON.stringify(spec.default)}` : ''}${spec.description ? ` — ${spec.description}` : ''}`);
    }
  }
  return 0;
}

export function scenariosCommand(io: Output): number {
  for (const s of builtinScenarios()) io.out(`${s.name.padEnd(28)} ${s.description}`);
  return 0;
}
