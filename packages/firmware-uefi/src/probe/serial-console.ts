import { closeSync, openSync, readSync } from 'node:fs';
import { EfiMemoryType, PAGE_SIZE, type MemoryDescriptor } from '@efikdump/core';

/**
 * What OVMF prints on the serial console when POST is over and the firmware waits for input.
 * Found by experiment with Debian 12's ovmf 2022.11 (see profiles/measured/README.md):
 * - the boot manager's first line, "BdsDxe: loading Boot0001 …" or "BdsDxe: No bootable option
 *   …": DXE is done and BDS runs (the moment a kernel would be loaded);
 * - then, with no bootable disk and no NIC, either the built-in UEFI Shell's prompt "Shell> "
 *   (after its 5 s startup.nsh countdown), or, when the shell cannot start (Secure Boot rejects
 *   it: "Security Violation"), "Press any key to enter the Boot Manager Menu." — both wait for
 *   a key forever, so the firmware is idle and its memory use stable when we pause it.
 */
export const BDS_MARKER = /BdsDxe: /;
export const IDLE_MARKERS: readonly { name: PostIdleState; pattern: RegExp }[] = [
  { name: 'uefi-shell', pattern: /Shell> / },
  { name: 'boot-manager-wait', pattern: /Press any key to enter the Boot Manager Menu\./ },
];
export type PostIdleState = 'uefi-shell' | 'boot-manager-wait';

/** Control sequences the shell and the terminal driver emit (CSI … final byte). */
// eslint-disable-next-line no-control-regex -- ESC starts the terminal sequences we strip
const ANSI = /\x1b\[[0-9;=?]*[A-Za-z]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export interface PostProgress {
  /** Offset (in the raw log) of the first boot-manager line, when seen. */
  bdsAt?: number;
  idle?: { state: PostIdleState; at: number };
}

/**
 * Where, in `raw` from `from` on, the boot manager started and the firmware went idle. Offsets
 * are into `raw`. The idle prompt only counts after the boot manager's first line, so a stray
 * "Shell> " typed into an earlier boot cannot be mistaken for this one.
 */
export function findPostProgress(raw: string, from = 0): PostProgress {
  const result: PostProgress = {};
  const bds = BDS_MARKER.exec(raw.slice(from));
  if (!bds) return result;
  result.bdsAt = from + bds.index;
  const after = raw.slice(result.bdsAt);
  let best: { state: PostIdleState; at: number } | undefined;
  for (const m of IDLE_MARKERS) {
    // Escape sequences may sit inside a marker's text ("Shell> " is printed after colour codes, not inside them).
    const hit = m.pattern.exec(after);
    if (hit && (!best || hit.index < best.at - result.bdsAt)) best = { state: m.name, at: result.bdsAt + hit.index };
  }
  if (best) result.idle = best;
  return result;
}

/** Reads the growing serial log file (QEMU's file chardev) incrementally. */
export class SerialLog {
  private text = '';
  private readOffset = 0;

  constructor(readonly path: string) {}

  /** Reads whatever QEMU appended since the last call; returns the whole log so far. */
  poll(): string {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return this.text; // QEMU has not created it yet
    }
    try {
      const chunk = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, this.readOffset);
        if (n <= 0) break;
        this.readOffset += n;
        this.text += chunk.subarray(0, n).toString('latin1');
      }
    } finally {
      closeSync(fd);
    }
    return this.text;
  }

  /** The current end of the log: pass it to findPostProgress to look only at later output. */
  mark(): number {
    return this.poll().length;
  }

  /** The last `lines` lines, without escape sequences, for error messages. */
  tail(lines = 12): string {
    return stripAnsi(this.poll())
      .split(/\r?\n|\r/)
      .map((l) => l.trimEnd())
      .filter((l) => l.length > 0)
      .slice(-lines)
      .join('\n');
  }
}

/** The UEFI Shell's `memmap` type names (ShellPkg UefiShellDebug1CommandsLib MemMap.c). */
const SHELL_MEMORY_TYPES: Record<string, number> = {
  Reserved: EfiMemoryType.Reserved,
  LoaderCode: EfiMemoryType.LoaderCode,
  LoaderData: EfiMemoryType.LoaderData,
  BS_Code: EfiMemoryType.BootServicesCode,
  BS_Data: EfiMemoryType.BootServicesData,
  RT_Code: EfiMemoryType.RuntimeServicesCode,
  RT_Data: EfiMemoryType.RuntimeServicesData,
  Available: EfiMemoryType.Conventional,
  Unusable: EfiMemoryType.Unusable,
  ACPI_Recl: EfiMemoryType.AcpiReclaim,
  ACPI_NVS: EfiMemoryType.AcpiNvs,
  MMIO: EfiMemoryType.MemoryMappedIo,
  MMIO_Port: EfiMemoryType.MemoryMappedIoPortSpace,
  PalCode: EfiMemoryType.PalCode,
  Persistent: EfiMemoryType.Persistent,
  Unaccepted: EfiMemoryType.Unaccepted,
};

/**
 * Parses the UEFI Shell's `memmap` table ("Type Start-End #Pages Attributes", hex) into EFI
 * memory descriptors. Other lines are skipped; a damaged row (cut short, or a page count that
 * does not match its range) rejects the table (undefined), as does a table with no rows.
 */
export function parseShellMemmap(text: string): MemoryDescriptor[] | undefined {
  const rows: MemoryDescriptor[] = [];
  const row = /^\s*([A-Za-z_]+)\s+([0-9A-F]{16})-([0-9A-F]{16})\s+([0-9A-F]{16})\s+([0-9A-F]{16})\s*$/i;
  for (const line of stripAnsi(text).split(/\r?\n|\r/)) {
    const m = row.exec(line);
    if (!m) {
      // A row that starts like one but does not parse is damaged output, not a summary line.
      if (/^\s*[A-Za-z_]+\s+[0-9A-F]{16}/i.test(line)) return undefined;
      continue;
    }
    const type = SHELL_MEMORY_TYPES[m[1]];
    if (type === undefined) return undefined;
    const start = Number.parseInt(m[2], 16);
    const last = Number.parseInt(m[3], 16);
    const pages = Number.parseInt(m[4], 16);
    if (!Number.isSafeInteger(last) || (last + 1 - start) / PAGE_SIZE !== pages) return undefined;
    rows.push({ type, start, pages, attribute: BigInt(`0x${m[5]}`) });
  }
  return rows.length ? rows : undefined;
}
