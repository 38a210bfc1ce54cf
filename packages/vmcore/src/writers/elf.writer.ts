import { inject, injectable, type DependencyContainer } from 'tsyringe';
import {
  AtomicFile,
  formatSize,
  MiB,
  COMPONENT_OPTIONS,
  RUN_CONTAINER,
  RUN_CONTEXT,
  SimulationError,
  stage,
  type DumpWriter,
  type RunContext,
  type StageOperator,
  type VmcoreView,
} from '@efikdump/core';
import { vmcoreChunks } from '../proc-vmcore/proc-vmcore';
import { needsClassification } from '../dump-level/dump-level';
import { PageKindClassifier } from '../dump-level/page-kind-classifier';
import { procVmcoreSource, type ElfWriterOptions } from './dump-writer-options';
import { writeFilteredElf } from './elf-filtered.writer';
import { dumpEncryptionOf, encryptDump, plainTempOf, type DumpEncryption } from './dump-encryption';

/** The writer reads /proc/vmcore in pieces this large, through one reused buffer. */
export const ELF_WRITE_CHUNK_BYTES = 1 * MiB;
/** Progress is reported at most this often (in bytes of the file). */
export const PROGRESS_EVERY_BYTES = 64 * MiB;
/**
 * [modelled] Sequential write throughput of the dump target, charged per byte a writer writes and,
 * when the run writes no file (no `--out`), for /proc/vmcore (`unwrittenSaveUs`). Domain reference
 * §3.4 says to parameterise speed (2005: `cp` ≈ 59 MB/s); 500 MB/s stands for a current SATA/NVMe SSD.
 */
export const MODELLED_DISK_BYTES_PER_SECOND = 500_000_000;

/** Virtual µs to save `bytes` of /proc/vmcore at MODELLED_DISK_BYTES_PER_SECOND (a run without `--out`). */
export function procVmcoreSaveUs(bytes: number): number {
  return Math.round((bytes / MODELLED_DISK_BYTES_PER_SECOND) * 1e6);
}

export interface DumpProgress {
  done: number;
  total: number;
}

export interface ElfDumpResult {
  path: string;
  /** Size of the file (what `ls -l` shows). */
  bytes: number;
  /** Bytes actually written; the rest are holes left for all-zero chunks. */
  dataBytes: number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Copies a vmcore view into an ELF file at `path`, as `cp --sparse=always /proc/vmcore` would:
 * 1 MiB at a time through one buffer, all-zero chunks left as holes, the file written under a
 * temporary name and renamed when complete. On any error the temporary file is removed.
 *
 * @example
 * await writeElfDump(view, 'out/demo.vmcore', ({ done, total }) => console.error(done, total));
 */
export async function writeElfDump(view: VmcoreView, path: string, onProgress?: (p: DumpProgress) => void): Promise<ElfDumpResult> {
  const file = new AtomicFile(path);
  try {
    const total = view.size;
    const zero = Buffer.alloc(Math.min(ELF_WRITE_CHUNK_BYTES, Math.max(1, total)));
    let dataBytes = 0;
    let reported = 0;
    for (const { offset, data } of vmcoreChunks(view, ELF_WRITE_CHUNK_BYTES)) {
      const isZero = Buffer.from(data.buffer, data.byteOffset, data.length).equals(zero.subarray(0, data.length));
      if (!isZero) {
        file.writeAt(data, offset);
        dataBytes += data.length;
      }
      const done = offset + data.length;
      if (onProgress && (done - reported >= PROGRESS_EVERY_BYTES || done === total)) {
        reported = done;
        onProgress({ done, total });
      }
      if (done % PROGRESS_EVERY_BYTES === 0) await yieldToEventLoop();
    }
    file.commit(total);
    return { path, bytes: total, dataBytes };
  } catch (e) {
    file.abort();
    throw e;
  }
}

/**
 * The `elf` dump writer: saves /proc/vmcore as it is, or, when its `dumpLevel` option is
 * above 0, without the pages that level excludes, as `makedumpfile -E -d N` does (classified from
 * the simulator's page kinds). Without `--out` it writes nothing; the run is still verified
 * through the /proc/vmcore view.
 */
@injectable()
export class ElfDumpWriter implements DumpWriter {
  readonly name = 'elf';

  /** Set when the writer encrypts (option `encrypt`): checked at construction, before the run. */
  private readonly encryption: DumpEncryption | undefined;

  constructor(
    @inject(RUN_CONTEXT) readonly ctx: RunContext,
    @inject(COMPONENT_OPTIONS) readonly options: ElfWriterOptions,
    @inject(RUN_CONTAINER) run?: DependencyContainer,
  ) {
    this.encryption = dumpEncryptionOf(run, ctx, options, 'elf');
  }

  unwrittenSaveUs(bytes: number): number {
    return procVmcoreSaveUs(bytes);
  }

  operator(): StageOperator {
    return stage('dump-write', async (ctx) => {
      const out = ctx.options.out;
      const enc = this.encryption;
      if (!out) {
        ctx.log.emit('dump-write', 'info', 'no dump file requested (--out not given); the dump is checked through /proc/vmcore only');
        if (enc && ctx.state.vmcore) {
          // The write itself is charged by dump-done (unwrittenSaveUs); the encryption here.
          encryptDump(ctx, enc, ctx.state.vmcore.size);
        }
        return;
      }
      const view = ctx.state.vmcore;
      if (!view) throw new SimulationError('the ELF writer needs /proc/vmcore (vmcore-init did not run)');
      const path = enc ? plainTempOf(out) : out;
      const { dumpLevel } = this.options;
      if (dumpLevel > 0) {
        const r = await writeFilteredElf(procVmcoreSource(view), path, {
          dumpLevel,
          classifier: needsClassification(dumpLevel) ? () => new PageKindClassifier(ctx.machine.memory, dumpLevel) : undefined,
          onProgress: ({ done, total }) =>
            ctx.log.emit('dump-write', 'progress', `${formatSize(done)} of ${formatSize(total)}`, { done, total }),
        });
        ctx.clock.advance((r.dataBytes / MODELLED_DISK_BYTES_PER_SECOND) * 1_000_000);
        const bytes = enc ? encryptDump(ctx, enc, r.bytes, { plain: path, out, format: 'elf' })! : r.bytes;
        ctx.state.dump = { path: out, bytes, format: enc ? 'sealed-elf' : 'elf' };
        ctx.artifacts.dump = out;
        ctx.metrics.dumpBytes = bytes;
        ctx.metrics.dumpLevel = dumpLevel;
        ctx.log.emit(
          'dump-write',
          'info',
          `wrote ${formatSize(r.bytes)} ELF core, -d ${dumpLevel}: ${r.loads} PT_LOADs, ${formatSize(r.dataBytes)} of data`,
        );
        return;
      }
      const result = await writeElfDump(view, path, ({ done, total }) =>
        ctx.log.emit('dump-write', 'progress', `${formatSize(done)} of ${formatSize(total)}`, { done, total }),
      );
      ctx.clock.advance((result.bytes / MODELLED_DISK_BYTES_PER_SECOND) * 1_000_000);
      const bytes = enc ? encryptDump(ctx, enc, result.bytes, { plain: path, out, format: 'elf' })! : result.bytes;
      ctx.state.dump = { path: out, bytes, format: enc ? 'sealed-elf' : 'elf' };
      ctx.artifacts.dump = out;
      ctx.metrics.dumpBytes = bytes;
      ctx.log.emit(
        'dump-write',
        'info',
        `wrote ${formatSize(result.bytes)} ELF core (${formatSize(result.dataBytes)} of data, the rest left as holes)`,
      );
    });
  }
}
