import { ConfigError } from '@efikdump/core';

export interface ElfcorehdrParam {
  paddr: number;
  /** Absent in the `elfcorehdr=offset` form: the kernel then reads 64 + e_phnum × 56 bytes. */
  sizeBytes?: number;
}

const SHIFT: Record<string, number> = { k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 };

/**
 * Linux lib/cmdline.c `memparse`: a number as simple_strtoull(base 0) reads it (0x… hex, 0… octal,
 * else decimal) and an optional K, M, G, T, P or E suffix.
 */
function memparse(text: string, field: string): { value: number; rest: string } {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtTpPeE]?)/.exec(text);
  if (!m) throw new ConfigError(`expected a number such as 0x1000, 4096 or 16K, found "${text}"`, { field });
  const digits = m[1];
  let value = /^0[xX]/.test(digits)
    ? BigInt(digits)
    : digits.length > 1 && digits.startsWith('0')
      ? BigInt(`0o${digits.slice(1)}`)
      : BigInt(digits);
  if (m[2]) value <<= BigInt(SHIFT[m[2].toLowerCase()]);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConfigError(`"${m[0]}" is too large (at most 2^53 - 1)`, { field });
  return { value: Number(value), rest: text.slice(m[0].length) };
}

/** Splits a kernel command line as Linux lib/cmdline.c `next_arg` does: spaces separate, double quotes group. */
export function splitKernelCmdline(cmdline: string): string[] {
  const args: string[] = [];
  let current = '';
  let inQuote = false;
  let started = false;
  for (const ch of cmdline) {
    if (ch === '"') {
      inQuote = !inQuote;
      started = true;
    } else if (!inQuote && /\s/.test(ch)) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += ch;
      started = true;
    }
  }
  if (started) args.push(current);
  return args;
}

/**
 * The `elfcorehdr=[size[KMG]@]offset[KMG]` parameter (Linux kernel/crash_dump.c
 * `setup_elfcorehdr`) of a capture kernel's command line: both the `<size>@<addr>` form and the
 * kexec-tools `<addr/1024>K` form. The last occurrence wins, as for any early parameter;
 * arguments after `--` belong to init. Undefined when there is none (not a kdump kernel).
 * Unlike the kernel, which ignores trailing characters, we reject them.
 */
export function parseElfcorehdrParam(cmdline: string): ElfcorehdrParam | undefined {
  let found: ElfcorehdrParam | undefined;
  for (const arg of splitKernelCmdline(cmdline)) {
    if (arg === '--') break;
    if (!arg.startsWith('elfcorehdr=')) continue;
    const value = arg.slice('elfcorehdr='.length);
    const first = memparse(value, 'elfcorehdr');
    let result: ElfcorehdrParam;
    let rest: string;
    if (first.rest.startsWith('@')) {
      const second = memparse(first.rest.slice(1), 'elfcorehdr');
      result = { paddr: second.value, sizeBytes: first.value };
      rest = second.rest;
    } else {
      result = { paddr: first.value };
      rest = first.rest;
    }
    if (rest !== '') throw new ConfigError(`expected elfcorehdr=[size[KMG]@]offset[KMG], found "${arg}"`, { field: 'elfcorehdr' });
    found = result;
  }
  return found;
}
