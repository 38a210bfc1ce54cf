import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { IoError, MiB } from '@efikdump/core';
import { writeCpio, type CpioEntry } from './cpio';
import type { LabEnvironment } from './lab-environment';

/** The compiler flags for the loader (gnu-efi x86_64, as shared/docs/real-e2e.md records them). */
export const LOADER_CFLAGS = [
  '-O2',
  '-Wall',
  '-Werror',
  '-fpic',
  '-fshort-wchar',
  '-mno-red-zone',
  '-fno-stack-protector',
  '-ffreestanding',
  '-maccumulate-outgoing-args',
  '-DGNU_EFI_USE_MS_ABI',
  '-I/usr/include/efi',
  '-I/usr/include/efi/x86_64',
];
const LOADER_SECTIONS = ['.text', '.sdata', '.data', '.dynamic', '.dynsym', '.rel', '.rela', '.rel.*', '.rela.*', '.reloc'];
const GUEST_CFLAGS = ['-static', '-O2', '-Wall', '-Werror'];
/** Modules the initramfs loads (with their dependencies from modules.dep). */
export const LAB_MODULES = ['virtio_pci', 'virtio_blk', 'efivarfs', 'efi-pstore', 'ramoops'];
const FORMAT_VERSION = 'efikdump-lab-images/1';

const sha256 = (...parts: (string | Uint8Array)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
const fileHash = (path: string) => sha256(readFileSync(path));

function run(cmd: string, args: string[], what: string, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env, maxBuffer: 16 << 20 });
  if (r.error || r.status !== 0) {
    const detail = (r.stderr || r.stdout || r.error?.message || '').trim().split('\n').slice(-4).join(' | ');
    throw new IoError(`${what} failed: ${cmd} ${args.join(' ')}: ${detail}`, { file: cmd });
  }
  return r.stdout;
}

/** Runs `make(tmp)` unless `path` exists; `make` writes a temporary file that is renamed into place. */
function cached(path: string, make: (tmp: string) => void): { path: string; built: boolean } {
  if (existsSync(path)) return { path, built: false };
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    make(tmp);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true, recursive: true });
  }
  return { path, built: true };
}

export interface BuiltPiece {
  path: string;
  sha256: string;
  built: boolean;
}

/** The loader as \EFI\BOOT\BOOTX64.EFI: gcc, ld against gnu-efi, objcopy to a PE32+ EFI application. */
export function buildLoader(env: LabEnvironment, cacheDir: string): BuiltPiece {
  const source = join(env.sourcesDir, 'loader', 'loader.c');
  const key = sha256(FORMAT_VERSION, readFileSync(source), LOADER_CFLAGS.join(' '), fileHash(join(env.gnuEfi.libDir, 'libgnuefi.a')));
  const out = join(cacheDir, `loader-${key.slice(0, 16)}.efi`);
  const r = cached(out, (tmp) => {
    const work = `${tmp}.d`;
    mkdirSync(work, { recursive: true });
    try {
      const obj = join(work, 'loader.o');
      const so = join(work, 'loader.so');
      run('gcc', [...LOADER_CFLAGS, '-c', source, '-o', obj], 'compiling the loader');
      run(
        'ld',
        [
          '-nostdlib',
          '-znocombreloc',
          '-T',
          env.gnuEfi.lds,
          '-shared',
          '-Bsymbolic',
          `-L${env.gnuEfi.libDir}`,
          env.gnuEfi.crt0,
          obj,
          '-o',
          so,
          '-lefi',
          '-lgnuefi',
        ],
        'linking the loader',
      );
      run(
        'objcopy',
        [...LOADER_SECTIONS.flatMap((s) => ['-j', s]), '--target=efi-app-x86_64', '--subsystem=10', so, tmp],
        'objcopy of the loader',
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
  return { ...r, sha256: fileHash(out) };
}

/** The 1st kernel's helper (kdump service and pattern writer), a static binary. */
export function buildGuestHelper(env: LabEnvironment, cacheDir: string): BuiltPiece {
  const source = join(env.sourcesDir, 'guest', 'efikdump-guest.c');
  const key = sha256(FORMAT_VERSION, readFileSync(source), GUEST_CFLAGS.join(' '));
  const out = join(cacheDir, `guest-${key.slice(0, 16)}`);
  const r = cached(out, (tmp) => run('gcc', [...GUEST_CFLAGS, '-o', tmp, source], 'compiling the guest helper'));
  return { ...r, sha256: fileHash(out) };
}

/** `wanted` and their dependencies from modules.dep, dependencies first (paths relative to the modules dir). */
export function resolveModules(modulesDir: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    deps.set(
      line.slice(0, colon),
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
  }
  const byName = new Map<string, string>();
  for (const path of deps.keys())
    byName.set(
      basename(path)
        .replace(/\.ko(\.xz|\.zst|\.gz)?$/, '')
        .replace(/-/g, '_'),
      path,
    );
  const order: string[] = [];
  const visit = (path: string) => {
    if (order.includes(path)) return;
    for (const d of [...(deps.get(path) ?? [])].reverse()) visit(d);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name.replace(/-/g, '_'));
    if (!path) throw new IoError(`module ${name} is not in modules.dep`, { file: join(modulesDir, 'modules.dep') });
    visit(path);
  }
  for (const p of order)
    if (!p.endsWith('.ko'))
      throw new IoError(`module ${p} is compressed; the lab's initramfs loads plain .ko files with busybox insmod`, {
        file: join(modulesDir, p),
      });
  return order;
}

/** Shared libraries of `binary` as ldd lists them (including the dynamic loader). */
function sharedLibraries(binary: string): string[] {
  const libs: string[] = [];
  for (const line of run('ldd', [binary], `ldd ${binary}`).split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** The initramfs (gzip'd newc cpio): busybox, modules, makedumpfile and its libraries, the helper, /init. */
export function buildInitramfs(env: LabEnvironment, guest: BuiltPiece, cacheDir: string): BuiltPiece {
  const initScript = join(env.sourcesDir, 'guest', 'init.sh');
  const modules = resolveModules(env.modulesDir, LAB_MODULES);
  const libs = sharedLibraries(env.makedumpfile);
  const inputs = [env.busybox, env.makedumpfile, ...libs, ...modules.map((m) => join(env.modulesDir, m)), initScript];
  const key = sha256(FORMAT_VERSION, guest.sha256, ...inputs.flatMap((p) => [p, fileHash(p)]));
  const out = join(cacheDir, `initrd-${key.slice(0, 16)}.img`);
  const r = cached(out, (tmp) => {
    const entries: CpioEntry[] = [];
    const dirs = new Set<string>();
    const dir = (path: string) => {
      const parts = path.split('/').filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (!dirs.has(d)) {
          dirs.add(d);
          entries.push({ kind: 'dir', path: d });
        }
      }
    };
    const file = (path: string, data: Uint8Array, mode = 0o755) => {
      dir(path.split('/').slice(0, -1).join('/'));
      entries.push({ kind: 'file', path, data, mode });
    };
    for (const d of ['dev', 'proc', 'sys', 'run', 'tmp', 'sbin']) dir(d);
    file('init', readFileSync(initScript));
    file('bin/busybox', readFileSync(env.busybox));
    file('bin/efikdump-guest', readFileSync(guest.path));
    file('bin/makedumpfile', readFileSync(env.makedumpfile));
    for (const lib of libs) file(lib.replace(/^\/+/, ''), readFileSync(lib));
    for (const m of modules) file(`lib/modules/${basename(m)}`, readFileSync(join(env.modulesDir, m)), 0o644);
    file('lib/modules/order', Buffer.from(modules.map((m) => basename(m)).join('\n') + '\n'), 0o644);
    writeFileSync(tmp, gzipSync(writeCpio(entries), { level: 6 }));
  });
  return { ...r, sha256: fileHash(out) };
}

/** What differs between ESPs of one build: the command lines and the loader's optional inputs. */
export interface EspConfig {
  /** \efikdump\cmdline.txt: the normal boot's command line (the loader appends efikdump.boot=N). */
  cmdline: string;
  /** \efikdump\capture.txt: the capture boot's base command line (the loader appends the memory map). */
  capture: string;
  /** \efikdump\footprint.txt: "start end" hex ranges the loader declares lost. */
  footprint?: string;
  /** \efikdump\design.txt: "efivar", or "reserved-memory 0x<zone base>". */
  design: string;
  /** \efikdump\snapshot: the loader waits for a key at entry so the host can read RAM. */
  snapshot?: boolean;
}

/** The FAT32 ESP image (mkfs.vfat, mtools): \EFI\BOOT\BOOTX64.EFI, \vmlinuz, \initrd.img, \efikdump\*. */
export function buildEsp(env: LabEnvironment, loader: BuiltPiece, initrd: BuiltPiece, config: EspConfig, cacheDir: string): BuiltPiece {
  const kernelHash = fileHash(env.kernel);
  const key = sha256(FORMAT_VERSION, loader.sha256, initrd.sha256, kernelHash, JSON.stringify(config));
  const out = join(cacheDir, `esp-${key.slice(0, 16)}.img`);
  const r = cached(out, (tmp) => {
    const payload = statSync(env.kernel).size + statSync(initrd.path).size + statSync(loader.path).size;
    const sizeMiB = Math.max(64, Math.ceil((payload * 1.25) / MiB) + 16);
    run(
      'mkfs.vfat',
      ['-F', '32', '-n', 'EFIKDUMP', '-i', '0efd0001', '--invariant', '-C', tmp, String(sizeMiB * 1024)],
      'formatting the ESP',
    );
    const mtoolsEnv = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
    run('mmd', ['-i', tmp, '::/EFI', '::/EFI/BOOT', '::/efikdump'], 'mmd', mtoolsEnv);
    const staging = `${tmp}.d`;
    mkdirSync(staging, { recursive: true });
    try {
      const put = (name: string, text: string) => {
        writeFileSync(join(staging, name), text);
        run('mcopy', ['-i', tmp, join(staging, name), `::/efikdump/${name}`], 'mcopy', mtoolsEnv);
      };
      run('mcopy', ['-i', tmp, loader.path, '::/EFI/BOOT/BOOTX64.EFI'], 'mcopy', mtoolsEnv);
      run('mcopy', ['-i', tmp, env.kernel, '::/vmlinuz'], 'mcopy', mtoolsEnv);
      run('mcopy', ['-i', tmp, initrd.path, '::/initrd.img'], 'mcopy', mtoolsEnv);
      put('cmdline.txt', config.cmdline + '\n');
      put('capture.txt', config.capture + '\n');
      put('design.txt', config.design + '\n');
      if (config.footprint) put('footprint.txt', config.footprint);
      if (config.snapshot) put('snapshot', 'the loader waits for a key at entry\n');
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  });
  return { ...r, sha256: key };
}

export interface LabImages {
  loader: BuiltPiece;
  guest: BuiltPiece;
  initrd: BuiltPiece;
  esp: BuiltPiece;
}

/** Builds (or finds in `cacheDir`) every image a run needs. */
export function buildLabImages(env: LabEnvironment, config: EspConfig, cacheDir: string): LabImages {
  mkdirSync(cacheDir, { recursive: true });
  const loader = buildLoader(env, cacheDir);
  const guest = buildGuestHelper(env, cacheDir);
  const initrd = buildInitramfs(env, guest, cacheDir);
  const esp = buildEsp(env, loader, initrd, config, cacheDir);
  return { loader, guest, initrd, esp };
}
