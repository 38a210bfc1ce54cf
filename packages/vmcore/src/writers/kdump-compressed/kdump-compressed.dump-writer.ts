import { inject, injectable } from 'tsyringe';
import {
  COMPONENT_OPTIONS, formatSize, RUN_CONTEXT, SimulationError, stage, type DumpWriter, type RunContext, type StageOperator,
} from '@efikdump/core';
import { needsClassification } from '../../dump-level/dump-level';
import { PageKindClassifier } from '../../dump-level/page-kind-classifier';
import { MODELLED_DISK_BYTES_PER_SECOND } from '../elf.writer';
import { procVmcoreSource, type KdumpCompressedWriterOptions } from '../dump-writer-options';
import { writeKdumpCompressed } from './kdump-compressed.writer';

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

  constructor(@inject(RUN_CONTEXT) readonly ctx: RunContext, @inject(COMPONENT_OPTIONS) readonly options: KdumpCompressedWriterOptions) {}

  operator(): StageOperator {
    return stage('dump-write', async (ctx) => {
      const { dumpLevel, compress, threads } = this.options;
      const path = ctx.options.out;
      if (!path) {
        ctx.log.emit('dump-write', 'info', 'no dump file requested (--out not given); the dump is checked through /proc/vmcore only');
        return;
      }
      const view = ctx.state.vmcore;
      if (!view) throw new SimulationError('the kdump-compressed writer needs /proc/vmcore (vmcore-init did not run)');
      const source = procVmcoreSource(view);
      const classifier = needsClassification(dumpLevel) ? new PageKindClassifier(ctx.machine.memory, dumpLevel) : undefined;
      const r = await writeKdumpCompressed(source, path, {
        compress, dumpLevel, threads, classifier,
        onProgress: ({ done, total }) => ctx.log.emit('dump-write', 'progress', `${done} of ${total} pages`, { done, total }),
      });
      const computePages = compress === 'zlib' ? r.dumpedFrames - r.zeroFrames : 0;
      ctx.clock.advance(Math.max((r.bytes / MODELLED_DISK_BYTES_PER_SECOND) * 1_000_000, computePages * MODELLED_ZLIB_US_PER_PAGE));
      ctx.state.dump = { path, bytes: r.bytes, format: 'kdump-compressed' };
      ctx.artifacts.dump = path;
      ctx.metrics.dumpBytes = r.bytes;
      ctx.metrics.dumpLevel = dumpLevel;
      ctx.metrics.dumpedPages = r.dumpedFrames;
      ctx.log.emit('dump-write', 'info',
        `wrote ${formatSize(r.bytes)} kdump-compressed (${compress}, -d ${dumpLevel}): ${r.dumpedFrames} of ${r.ramFrames} pages, ` +
        `${r.zeroFrames} zero; left out ${Object.entries(r.excluded).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing'}`);
    });
  }
}
