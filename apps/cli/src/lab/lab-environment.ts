import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '@efikdump/core';
import { findQemu, resolveFirmwareFiles, type FirmwareFiles } from '@efikdump/firmware-uefi';

/** Debian packages the lab uses (.ci/run installs them). */
export const LAB_APT_PACKAGES = [
  'linux-image-amd64',
  'busybox-static',
  'gnu-efi',
  'gcc',
  'binutils',
  'mtools',
  'dosfstools',
  'ovmf',
  'qemu-system-x86',
  'makedumpfile',
] as const;

/** Everything a lab run needs from the host, found once. */
export interface LabEnvironment {
  kernel: string;
  kernelVersion: string;
  modulesDir: string;
  busybox: string;
  makedumpfile: string;
  qemu: string;
  firmware: FirmwareFiles;
  /** tools/lab in the repository: the loader, guest helper and /init sources. */
  sourcesDir: string;
  gnuEfi: { crt0: string; lds: string; libDir: string; include: string };
}

/** The lab cannot run here: names what is missing and which packages provide it. */
export class LabUnavailableError extends ConfigError {
  constructor(readonly missing: string[]) {
    super(`efikdump lab needs ${missing.join(', ')} (Debian: apt-get install ${LAB_APT_PACKAGES.join(' ')})`, { field: 'lab' });
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const onPath = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;

/** tools/lab, found by walking up from this file (the lab runs from a checkout of the repository). */
export function findLabSources(from = __dirname): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'tools', 'lab');
    if (existsSync(join(candidate, 'loader', 'loader.c'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The newest /boot/vmlinuz-<version> that has /lib/modules/<version>. */
function findKernel(): { kernel: string; version: string } | undefined {
  let names: string[] = [];
  try {
    names = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return undefined;
  }
  const versions = names
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((v) => existsSync(join('/lib/modules', v, 'modules.dep')))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const version = versions.at(-1);
  return version ? { kernel: join('/boot', `vmlinuz-${version}`), version } : undefined;
}

/** Finds every host tool and file; throws LabUnavailableError listing all that are missing. */
export function probeLabEnvironment(): LabEnvironment {
  const missing: string[] = [];
  const kernel = findKernel();
  if (!kernel) missing.push('a kernel /boot/vmlinuz-* with /lib/modules (linux-image-amd64)');
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find(executable);
  if (!busybox) missing.push('busybox (busybox-static)');
  const makedumpfile = ['/usr/bin/makedumpfile', '/usr/sbin/makedumpfile'].find(executable);
  if (!makedumpfile) missing.push('makedumpfile');
  for (const tool of ['gcc', 'ld', 'objcopy', 'mkfs.vfat', 'mcopy', 'mmd', 'ldd']) if (!onPath(tool)) missing.push(tool);
  const gnuEfi = {
    crt0: '/usr/lib/crt0-efi-x86_64.o',
    lds: '/usr/lib/elf_x86_64_efi.lds',
    libDir: '/usr/lib',
    include: '/usr/include/efi',
  };
  if (!existsSync(gnuEfi.crt0) || !existsSync(gnuEfi.lds) || !existsSync(join(gnuEfi.include, 'efi.h'))) missing.push('gnu-efi');
  if (!existsSync('/usr/lib/x86_64-linux-gnu/libc.a') && !existsSync('/usr/lib/libc.a')) missing.push('a static libc (libc6-dev)');
  let qemu = '';
  try {
    qemu = findQemu();
  } catch {
    missing.push('qemu-system-x86_64 (qemu-system-x86)');
  }
  let firmware: FirmwareFiles | undefined;
  try {
    firmware = resolveFirmwareFiles({});
  } catch {
    missing.push('OVMF (ovmf)');
  }
  const sourcesDir = findLabSources();
  if (!sourcesDir) missing.push("tools/lab (run from a checkout of efikdump's repository)");
  if (missing.length || !kernel || !busybox || !makedumpfile || !firmware || !sourcesDir) throw new LabUnavailableError(missing);
  return {
    kernel: kernel.kernel,
    kernelVersion: kernel.version,
    modulesDir: join('/lib/modules', kernel.version),
    busybox,
    makedumpfile,
    qemu,
    firmware,
    sourcesDir,
    gnuEfi,
  };
}

/** Where built images are cached: $EFIKDUMP_LAB_CACHE, else $XDG_CACHE_HOME/efikdump/lab, else ~/.cache/efikdump/lab. */
export function defaultLabCacheDir(): string {
  if (process.env.EFIKDUMP_LAB_CACHE) return process.env.EFIKDUMP_LAB_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'efikdump', 'lab');
}
