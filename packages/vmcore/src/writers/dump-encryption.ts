import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { rmSync } from 'node:fs';
import type { DependencyContainer } from 'tsyringe';
import { ConfigError, DUMP_SEALER, formatDuration, formatSize, hashString, Rng, type DumpSealer, type RunContext } from '@efikdump/core';

/**
 * [assumption] What encrypting a dump adds per byte in a capture kernel: the same per-byte cost the
 * firmware writer's encrypted figure adds to its plain one (1/250 − 1/400 s per MB: 666.7 MB/s), so
 * that the comparison charges every family alike. No published figure for AES-128-CTR plus
 * HMAC-SHA256 in a kdump initramfs; AES-NI machines are faster.
 */
export const DUMP_ENCRYPT_BYTES_PER_SECOND = 1 / (1 / 250e6 - 1 / 400e6);

/** The options every dump writer takes for encryption (merged into each writer's schema). */
export const DUMP_ENCRYPTION_OPTIONS = {
  encrypt: {
    type: 'boolean',
    default: false,
    description: 'seal the dump in an encrypted container to a public key (the capture kernel holds no secret)',
  },
  certificate: {
    type: 'string',
    minLength: 1,
    maxLength: 4096,
    expected: 'a path to an X.509 certificate with an RSA key (relative to the design file)',
    description: "the certificate to encrypt to (default: the sealer's demonstration certificate, never for real dumps)",
  },
} as const;

/** How a writer encrypts, fixed when it is constructed (before the run): the sealer and the certificate's bytes. */
export interface DumpEncryption {
  sealer: DumpSealer;
  certificate: Uint8Array;
  /** Where the certificate was read from (resolved; for callers — the run's messages use `certificateLabel`). */
  certificatePath: string;
  /**
   * The certificate as the run's messages name it: the design's `certificate` option as written
   * (relative to the design file), or the sealer's demonstration certificate by file name — never
   * the resolved path, so the run's report is the same bytes wherever the checkout is.
   */
  certificateLabel: string;
}

/**
 * The writer's encryption set-up from its options, checked before any stage runs: a sealer must
 * be registered (a plug-in package offers it: firmware-uefi) and the certificate must read as an
 * RSA X.509 certificate. Undefined when the writer is not asked to encrypt.
 */
export function dumpEncryptionOf(
  run: DependencyContainer | undefined,
  ctx: RunContext,
  options: { encrypt: boolean; certificate?: string },
  writer: string,
): DumpEncryption | undefined {
  const field = 'components.writer.options';
  if (!options.encrypt) {
    if (options.certificate !== undefined)
      throw new ConfigError(`writer "${writer}": option certificate is given but encrypt is false`, {
        file: ctx.design.source,
        field: `${field}.certificate`,
      });
    return undefined;
  }
  if (!run || !run.isRegistered(DUMP_SEALER, true)) {
    throw new ConfigError(
      `writer "${writer}": encrypt needs a dump sealer, and no plug-in package registered one (@efikdump/firmware-uefi does)`,
      { file: ctx.design.source, field: `${field}.encrypt` },
    );
  }
  const sealer = run.resolve(DUMP_SEALER);
  const from = ctx.design.source && ctx.design.source.endsWith('.json') ? dirname(resolve(ctx.design.source)) : process.cwd();
  const certificatePath =
    options.certificate === undefined
      ? sealer.defaultCertificate
      : isAbsolute(options.certificate)
        ? options.certificate
        : join(from, options.certificate);
  const certificate = sealer.readCertificate(certificatePath, { file: ctx.design.source, field: `${field}.certificate` });
  const certificateLabel =
    options.certificate === undefined ? `the demonstration certificate ${basename(sealer.defaultCertificate)}` : options.certificate;
  return { sealer, certificate, certificatePath, certificateLabel };
}

/** Where a writer that encrypts writes its plain file first: beside the output, hidden, removed after sealing. */
export function plainTempOf(out: string): string {
  return join(dirname(out), `.${basename(out)}.${process.pid}.plain.tmp`);
}

/**
 * The cost of encrypting `bytes` (charged to the run's clock, as metrics), and — when a plain file
 * was written — the sealing of it into `out`. The container's keys come from the run's seed; RSA-OAEP
 * padding is random (node:crypto), so a sealed file is not byte-identical from run to run.
 */
export function encryptDump(
  ctx: RunContext,
  enc: DumpEncryption,
  bytes: number,
  file?: { plain: string; out: string; format: 'elf' | 'kdump' },
): number | undefined {
  const us = Math.round((bytes / DUMP_ENCRYPT_BYTES_PER_SECOND) * 1e6);
  ctx.clock.advance(us);
  ctx.metrics.dumpEncrypted = true;
  ctx.metrics.dumpEncryptUs = us;
  ctx.metrics.dumpEncryptThroughputAssumed = true;
  if (!file) {
    ctx.log.emit(
      'dump-write',
      'info',
      `the dump is encrypted to ${enc.certificateLabel} (${formatSize(bytes)}, ${formatDuration(us)} at the assumed ${formatSize(DUMP_ENCRYPT_BYTES_PER_SECOND)}/s)`,
    );
    return undefined;
  }
  const rng = new Rng(ctx.seed, hashString('dump-seal'));
  try {
    const sealed = enc.sealer.seal(file.plain, file.out, file.format, enc.certificate, (n) => rng.bytes(n));
    ctx.log.emit(
      'dump-write',
      'info',
      `sealed ${file.out}: ${enc.sealer.description}, to ${enc.certificateLabel} (${formatSize(sealed.bytes)}; ${formatDuration(us)} at the assumed ${formatSize(DUMP_ENCRYPT_BYTES_PER_SECOND)}/s)`,
    );
    return sealed.bytes;
  } finally {
    rmSync(file.plain, { force: true });
  }
}
