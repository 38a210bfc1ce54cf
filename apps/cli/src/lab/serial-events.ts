/** One parseable line from the lab's guest side: "efikdump-<source>: <event> key=value ...". */
export interface LabLine {
  source: 'loader' | 'init' | 'guest';
  event: string;
  fields: Record<string, string>;
  /** The text after the event name (for lines like "cmdline ..." whose rest is free text). */
  rest: string;
  /** Offset of the line in the serial log. */
  offset: number;
}

const LINE = /efikdump-(loader|init|guest): (\S+)([^\r\n]*)/g;
const FIELD = /([a-z][a-z0-9-]*)=(\S*)/g;

/** Every lab line in `text` from `from` on (ANSI escapes are tolerated: OVMF's console adds some). */
export function parseLabLines(text: string, from = 0): LabLine[] {
  const lines: LabLine[] = [];
  LINE.lastIndex = from;
  for (let m = LINE.exec(text); m; m = LINE.exec(text)) {
    // eslint-disable-next-line no-control-regex -- ESC starts the terminal sequences we strip
    const rest = m[3].replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim();
    const fields: Record<string, string> = {};
    for (const f of rest.matchAll(FIELD)) fields[f[1]] = f[2];
    lines.push({ source: m[1] as LabLine['source'], event: m[2], fields, rest, offset: m.index });
  }
  return lines;
}

/** The lines of the kernel's log worth a timeline entry, with what they mean. */
export const KERNEL_MARKERS: readonly { name: string; pattern: RegExp }[] = [
  { name: 'kernel-panic', pattern: /Kernel panic - not syncing[^\r\n]*/ },
  { name: 'sysrq-crash', pattern: /sysrq: Trigger a crash/ },
  { name: 'kernel-rebooting', pattern: /Rebooting in \d+ seconds/ },
  { name: 'efi-stub-initrd', pattern: /EFI stub: Loaded initrd[^\r\n]*/ },
  { name: 'efi-stub-kaslr-off', pattern: /EFI stub: [^\r\n]*disabling physical KASLR/ },
  { name: 'user-defined-ram-map', pattern: /user-defined physical RAM map/ },
  { name: 'vmcore-not-initialized', pattern: /Kdump: vmcore not initialized/ },
];
