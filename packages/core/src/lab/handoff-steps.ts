/**
 * The runner's steps over the design's transport after the dump is saved: the transport's
 * artifacts written out, and the record consumed. Both only call the transport's contract.
 */
import { concatMap } from 'rxjs';
import type { HandoffArtifact, HandoffTransport, StageOperator } from '../contracts';
import { writeDirectoryAtomic } from '../io';
import { stage } from '../stage';

/** After the dump is saved: the capture environment clears the record (consume-once). */
export function consumeHandoff(transport: HandoffTransport): StageOperator {
  return stage('handoff-consume', (ctx) => {
    if (!ctx.state.stub?.crashedBoot) return;
    transport.consume(ctx);
    ctx.log.emit('handoff-consume', 'info', `${transport.name}: handoff record cleared`);
  });
}

/**
 * Writes what the transport stored into `ctx.options.artifactsDir`, whatever the run's outcome
 * (so a run that ended without a dump still shows what was, or was not, stored): the
 * transport's files plus `handoff.json`, the transport's and the stub's summary. The directory
 * appears complete or not at all.
 */
export function writeHandoffArtifacts(transport: HandoffTransport): StageOperator {
  return (source) =>
    source.pipe(
      concatMap(async (ctx) => {
        const dir = ctx.options.artifactsDir;
        if (!dir) return ctx;
        const files: HandoffArtifact[] = transport.artifacts?.(ctx) ?? [];
        const stub = ctx.state.stub;
        const summary = {
          format: 'efikdump-handoff-artifacts/1',
          transport: transport.name,
          persisted: ctx.state.handoff ?? null,
          stub: stub
            ? {
                boot: stub.boot,
                crashedBoot: stub.crashedBoot,
                detector: stub.detector,
                reason: stub.reason,
                record: stub.record,
                rejected: stub.rejected ?? [],
              }
            : null,
          files: files.map((f) => ({ path: f.path, bytes: f.bytes.length })),
        };
        writeDirectoryAtomic(
          dir,
          [...files, { path: 'handoff.json', bytes: new Uint8Array(Buffer.from(JSON.stringify(summary, null, 2) + '\n', 'utf8')) }].map(
            (f) => [f.path, f.bytes] as const,
          ),
        );
        ctx.artifacts.handoff = dir;
        ctx.log.emit('artifacts', 'info', `${files.length + 1} handoff artifact files written to ${dir}`);
        return ctx;
      }),
    );
}
