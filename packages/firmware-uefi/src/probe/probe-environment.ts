import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { ConfigError } from '@efikdump/core';

/** Where Debian 12's `ovmf` package installs the 4 MiB-flash builds (edk2 2022.11). */
export const OVMF_DIR = '/usr/share/OVMF';
export const OVMF_FILES = {
  plain: { code: `${OVMF_DIR}/OVMF_CODE_4M.fd`, vars: `${OVMF_DIR}/OVMF_VARS_4M.fd` },
  /** SMM-enforced build; the `.ms` VARS template has Microsoft's keys enrolled and Secure Boot on. */
  secureBoot: { code: `${OVMF_DIR}/OVMF_CODE_4M.secboot.fd`, vars: `${OVMF_DIR}/OVMF_VARS_4M.ms.fd` },
} as const;
export const QEMU_BINARY = 'qemu-system-x86_64';
export const APT_PACKAGES = ['qemu-system-x86', 'ovmf'] as const;

export interface FirmwareFiles {
  code: string;
  /** The VARS template; the probe always boots a private copy of it. */
  vars: string;
  secureBoot: boolean;
}

export interface FileIdentity {
  path: string;
  sha256: string;
  bytes: number;
}

function isReadableFile(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The OVMF code and VARS files to boot: the given pair, or Debian's defaults for the mode. */
export function resolveFirmwareFiles(options: { code?: string; vars?: string; secureBoot?: boolean }): FirmwareFiles {
  const secureBoot = options.secureBoot === true;
  if ((options.code === undefined) !== (options.vars === undefined)) {
    const missing = options.code === undefined ? '--code' : '--vars';
    throw new ConfigError(`give --code and --vars together (the VARS template must match the code build); ${missing} is missing`, {
      field: missing,
    });
  }
  const defaults = secureBoot ? OVMF_FILES.secureBoot : OVMF_FILES.plain;
  const code = options.code ?? defaults.code;
  const vars = options.vars ?? defaults.vars;
  for (const [field, path] of [
    ['--code', code],
    ['--vars', vars],
  ] as const) {
    if (!isReadableFile(path)) {
      const hint = options.code === undefined ? ' (install the Debian package ovmf, or give --code and --vars)' : '';
      throw new ConfigError(`OVMF firmware file not found or not readable${hint}`, { file: path, field });
    }
  }
  return { code, vars, secureBoot };
}

/** The absolute path of `binary` on PATH, or a ConfigError naming the package to install. */
export function findQemu(binary = QEMU_BINARY, pathEnv = process.env.PATH ?? ''): string {
  const candidates = isAbsolute(binary)
    ? [binary]
    : pathEnv
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, binary));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  throw new ConfigError(`${binary} not found on PATH (install the Debian package qemu-system-x86)`, { field: 'qemu' });
}

/** First line of `qemu-system-x86_64 --version`, e.g. "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)". */
export function qemuVersion(qemu: string): string {
  const r = spawnSync(qemu, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const line = (r.stdout ?? '').split('\n')[0]?.trim();
  if (r.status !== 0 || !line)
    throw new ConfigError(`${qemu} --version failed: ${(r.stderr || r.error?.message || '').trim()}`, { field: 'qemu' });
  return line;
}

/** `dpkg-query -W` versions of the given packages; packages dpkg does not know (or no dpkg) are absent. */
export function debianPackageVersions(packages: readonly string[]): Record<string, string> {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package}\t${Version}\n', ...packages], { encoding: 'utf8', timeout: 10_000 });
  const out: Record<string, string> = {};
  for (const line of (r.stdout ?? '').split('\n')) {
    const [name, version] = line.split('\t');
    if (name && version) out[name] = version;
  }
  return out;
}

export function fileIdentity(path: string): FileIdentity {
  const data = readFileSync(path);
  return { path, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
}

/**
 * TCG: the accelerator every committed retention profile was measured with, and one that runs
 * wherever QEMU does. KVM is asked for explicitly (`accel: 'kvm'`, `efikdump probe --accel kvm`):
 * a /dev/kvm this user can open does not prove KVM runs a guest (seen here: on a nested host OVMF
 * stopped at once with "KVM internal error", and the probe waited out its boot timeout).
 */
export function defaultAccelerator(): 'kvm' | 'tcg' {
  return 'tcg';
}
