/**
 * `@efikdump/core/base`: the part of core that needs neither RxJS nor tsyringe — errors, units,
 * seeded randomness, ranges and sparse physical memory, the ELF/CPER/ACPI/lost-ranges codecs,
 * atomic file output, the truth check, the pure Linux boot facts (`crashkernel=` parsing and
 * placement, the memblock view, the kernel image constants, the capture command line; not
 * runCrashkernel, which reads a run) and the handoff record codec with efikdump's names. Commands
 * that read and write dump files (convert, verify, inspect) load this instead of the whole
 * package: RxJS alone costs 0.1–0.4 s of start-up here (docs/performance.md, "Issue 17, third
 * pass").
 *
 * Everything here is also exported by `@efikdump/core` (index.ts), from the same modules, so a
 * class is the same class through either entry. Nothing imported below may reach `rxjs`,
 * `tsyringe` or `reflect-metadata` at run time: `base.test.ts` checks that.
 */
export * from './errors';
export * from './units';
export * from './rng';
export * from './memory/ranges';
export * from './memory/page-kinds';
export * from './memory/physical-memory';
export * from './memory/efi-memory-map';
export * from './formats/elf';
export * from './formats/cper';
export * from './formats/acpi';
export * from './formats/lost-ranges';
export * from './io';
export * from './truth-check';
export * from './machine/capture-sizing';
export * from './linux/kernel-image';
export * from './linux/crashkernel';
export * from './linux/memblock';
export * from './linux/capture-cmdline';
export * from './handoff/ids';
export * from './handoff/record';
