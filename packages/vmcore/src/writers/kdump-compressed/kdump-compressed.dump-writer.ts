import { inject, injectable, type DependencyContainer } from 'tsyringe';
import {
  COMPONENT_OPTIONS,
  formatSize,
  RUN_CONTAINER,
  RUN_CONTEXT,
  SimulationError,
  stage,
  type DumpWriter,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { needsClassification } from '../../dump-level/dump-level';
import { PageKindClassifier } from '../../dump-level/page-kind-classifier';
import { MODELLED_DISK_BYTES_PER_SECOND, procVmcoreSaveUs } from '../elf.writer';
import { procVmcoreSource, type KdumpCompressedWriterOptions } from '../dump-writer-options';
import { writeKdumpCompressed } from './kdump-compressed.writer';
import { dumpEncryptionOf, encryptDump, plainTempOf, type DumpEncryption } from '../dump-encryption';

/**
 * [measured] zlib level 1 on one 4 KiB page of the simulator's non-zero kinds, one core of the
 * 2-core development machine: 40–90 µs (docs/performance.md). The capture kernel usually has one CPU.
 */
export const MODELLED_ZLIB_US_PER_PAGE = 60;

/**
 * The `kdump-compressed` dump writer: what `makedumpfile -c -d 31` does in a kdump initramfs, from
 * /proc/vmcore to --out. Filtering above level 1 reads the simulator's page kinds. Its options
 * (KDUMP_COMPRESSED_WRITER_OPTIONS): `dumpLevel` (default 31, Fedora's), `compress` (default zlib) and `threads`.
 */
@injectable()
export class KdumpCompressedDumpWriter implements DumpWriter {
  readonly name = 'kdump-compressed';

  /** Set when the writer encrypts (option `encrypt`): checked at construction, before the run. */
  private readonly encryption: DumpEncryption | undefined;

  constructor(
    @inject(RUN_CONTEXT) readonly ctx: RunContext,
    @inject(COMPONENT_OPTIONS) readonly options: KdumpCompressedWriterOptions,
    @inject(RUN_CONTAINER) run?: DependencyContainer,
  ) {
    this.encryption = dumpEncryptionOf(run, ctx, options, 'kdump-compressed');
  }

  unwrittenSaveUs(bytes: number): number {
    return procVmcoreSaveUs(bytes);
  }

  operator(): StageOperator {
    return stage('dump-write', async (ctx) => {
      const { dumpLevel, compress, threads } = this.options;
      const out = ctx.options.out;
      const enc = this.encryption;
      if (!out) {
        ctx.log.emit('dump-write', 'info', 'no dump file requested (--out not given); the dump is checked through /proc/vmcore only');
        // The write is charged by dump-done (unwrittenSaveUs, on /proc/vmcore's size); the encryption here.
        if (enc && ctx.state.vmcore) encryptDump(ctx, enc, ctx.state.vmcore.size);
        return;
      }
      const path = enc ? plainTempOf(out) : out;
      const view = ctx.state.vmcore;
      if (!view) throw new SimulationError('the kdump-compressed writer needs /proc/vmcore (vmcore-init did not run)');
      const source = procVmcoreSource(view);
      const classifier = needsClassification(dumpLevel) ? new PageKindClassifier(ctx.machine.memory, dumpLevel) : undefined;
      const r = await writeKdumpCompressed(source, path, {
        compress,
        dumpLevel,
        threads,
        classifier,
        onProgress: ({ done, total }) => ctx.log.emit('dump-write', 'progress', `${done} of ${total} pages`, { done, total }),
      });
      const computePages = compress === 'zlib' ? r.dumpedFrames - r.zeroFrames : 0;
      ctx.clock.advance(Math.max((r.bytes / MODELLED_DISK_BYTES_PER_SECOND) * 1_000_000, computePages * MODELLED_ZLIB_US_PER_PAGE));
      const bytes = enc ? encryptDump(ctx, enc, r.bytes, { plain: path, out, format: 'kdump' })! : r.bytes;
      ctx.state.dump = { path: out, bytes, format: enc ? 'sealed-kdump-compressed' : 'kdump-compressed' };
      ctx.artifacts.dump = out;
      ctx.metrics.dumpBytes = bytes;
      ctx.metrics.dumpLevel = dumpLevel;
      ctx.metrics.dumpedPages = r.dumpedFrames;
      ctx.log.emit(
        'dump-write',
        'info',
        `wrote ${formatSize(r.bytes)} kdump-compressed (${compress}, -d ${dumpLevel}): ${r.dumpedFrames} of ${r.ramFrames} pages, ` +
          `${r.zeroFrames} zero; left out ${
            Object.entries(r.excluded)
              .filter(([, n]) => n)
              .map(([k, n]) => `${n} ${k}`)
              .join(', ') || 'nothing'
          }`,
      );
    });
  }
}
