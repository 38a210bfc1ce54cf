import { SLOTS, catalogOf, describeOption, type OptionSpec, type SlotKey } from '@efikdump/core';
import { DEFAULT_FIRMWARE_PROFILE, describeRetention, loadFirmwareProfile } from '@efikdump/firmware-uefi';
import { createContainer, pluginsFromCommandLine } from '../container';
import { builtinDesigns, builtinScenarios } from '../library';
import type { Output } from '../output';

/** The line `efikdump designs` prints under a design about its firmware profile. */
export function firmwareText(profileName: string | undefined): string {
  const profile = loadFirmwareProfile(profileName ?? DEFAULT_FIRMWARE_PROFILE);
  return `firmware profile ${profile.name}: retention ${describeRetention(profile)}; on a reset it also applies ${profile.platformRetention.map((p) => p.name).join(', ') || 'nothing'} (platformRetention) unless the design names them`;
}

/** The lines `efikdump designs` prints under a plug-in, one an option (without the indent). */
export function optionTexts(options: Readonly<Record<string, OptionSpec>> | undefined): string[] {
  return Object.entries(options ?? {}).map(
    ([name, spec]) =>
      `option ${name}: ${describeOption(spec)}${spec.default !== undefined ? `, default ${JSON.stringify(spec.default)}` : ''}${spec.description ? ` — ${spec.description}` : ''}`,
  );
}

/** The header of the plug-in list of `efikdump designs`. */
export const PLUGINS_HEADER = 'plug-ins (a design names one per slot, with its options as {"name": ..., "options": {...}}):';

export function designsCommand(io: Output): number {
  for (const d of builtinDesigns()) {
    io.out(`${d.name}`);
    io.out(`    ${d.description}`);
    io.out(`    ${(Object.keys(SLOTS) as SlotKey[]).map((s) => `${s}=${d.components[s].join('+')}`).join(' ')}`);
    io.out(`    ${firmwareText(d.firmware?.profile)}`);
  }
  io.out('');
  io.out(PLUGINS_HEADER);
  for (const p of catalogOf(createContainer(pluginsFromCommandLine(undefined))).list()) {
    io.out(`  ${p.slot.padEnd(10)} ${p.name.padEnd(24)} ${p.description}`);
    for (const line of optionTexts(p.options)) io.out(`  ${''.padEnd(10)} ${''.padEnd(24)}   ${line}`);
  }
  return 0;
}

export function scenariosCommand(io: Output): number {
  for (const s of builtinScenarios()) io.out(`${s.name.padEnd(28)} ${s.description}`);
  return 0;
}
