/**
 * The laboratory's crash → dump measurement: from the panic to the end of the writer, on the
 * virtual clock. The time a write costs is the writer's (its own model of the dump target).
 */
import { formatDuration } from '../clock';
import type { DumpWriter, StageOperator } from '../contracts';
import { stage } from '../stage';

/**
 * The dump is on disk: crash-to-dump time, from the panic to the end of the writer. A run that
 * wrote no file (no `--out`) is charged what the writer says saving /proc/vmcore would take
 * (`DumpWriter.unwrittenSaveUs`; a writer that says nothing is charged nothing).
 */
export function dumpOnDisk(writer: DumpWriter): StageOperator {
  return stage('dump-done', (ctx) => {
    const t0 = ctx.state.panic?.tUs;
    if (t0 === undefined) return;
    if (!ctx.state.dump && ctx.state.vmcore && writer.unwrittenSaveUs) {
      const us = writer.unwrittenSaveUs(ctx.state.vmcore.size);
      ctx.clock.advance(us);
      ctx.metrics.dumpWriteModelledUs = us;
    }
    ctx.metrics.crashToDumpUs = Math.round(ctx.clock.nowUs - t0);
    ctx.log.emit('dump-done', 'info', `crash to dump on disk: ${formatDuration(Math.round(ctx.clock.nowUs - t0))}`);
  });
}
