import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { inject, injectable } from 'tsyringe';
import {
  EHDR_SIZE,
  EM_X86_64,
  encodeElfHeader,
  encodeLostRanges,
  encodeNote,
  encodeProgramHeader,
  ET_CORE,
  FIRMWARE,
  FIRMWARE_SERVICES,
  formatSize,
  hashString,
  hex,
  LOST_RANGES_NOTE_NAME,
  lostPageCount,
  ms,
  NT_EFIKDUMP_LOST_RANGES,
  PAGE_SIZE,
  pageAlignUp,
  PF_R,
  PF_W,
  PF_X,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  Rng,
  scrubbedOutcome,
  SimulationError,
  stage,
  totalSize,
  type ExitStrategy,
  type Firmware,
  type FirmwareServices,
  type HandoffDiscovery,
  type HandoffTransport,
  type LostRange,
  type PhysicalMemory,
  type PhysRange,
  type RouteInput,
  type RunContext,
  type StageOperator,
  type VmcoreView,
} from '@efikdump/core';
import { PROFILES_DIR } from '../profiles/firmware-profiles';
import {
  encodeEncryptionAlgorithm,
  encodeOsData,
  encodeUseCapability,
  OFFLINE_DUMP_ALGORITHM,
  OFFLINE_DUMP_VARIABLE_ATTRIBUTES,
  OFFLINE_DUMP_VARIABLE_GUID,
  OFFLINE_DUMP_VARIABLES,
  USE_CAPABILITY_GPT_SCAN,
} from './offline-dump-config.codec';
import { creationErrorText, lastFirmwareDump, SYSTEM_INFORMATION, type FirmwareDumpRecord } from './firmware-dump-writer';
import { createGptImage } from './gpt-image';
import { ESP_TYPE_GUID } from './gpt.codec';
import { writeOfflineDump } from './offline-dump.writer';
import { OFFLINE_DUMP_PARTITION_TYPE_GUID } from './offline-dump-config.codec';

/** The panic path's call into ResetSystem: [modelled] 5 ms, as the EFI reset exits. */
export const OFFLINE_DUMP_RESET_CALL_US = ms(5);
/** The ResetData the panic path passes: the firmware's writer takes a reset with a reason from the OS for an abnormal one. */
export const OFFLINE_DUMP_RESET_REASON = 'efikdump: panic, offline crash dump requested';
/**
 * The certificate the encrypted design's OS writes into OfflineMemoryDumpEncryptionPublicKey: a
 * demonstration key pair shipped in the package (profiles/offline-dump/demo-*), its private key
 * public too — `efikdump dump extract --key` opens what it encrypts. Never for real dumps.
 */
export const OFFLINE_DUMP_DEMO_CERTIFICATE = join(PROFILES_DIR, 'offline-dump', 'demo-cert.der');
export const OFFLINE_DUMP_DEMO_KEY = join(PROFILES_DIR, 'offline-dump', 'demo-key.pem');
/** A certificate whose key is EC P-256, not RSA: what a scenario's `offlineDump.certificate: "not-rsa"` writes (OffCD transports the key with RSAES-OAEP only). */
export const OFFLINE_DUMP_DEMO_EC_CERTIFICATE = join(PROFILES_DIR, 'offline-dump', 'demo-ec-cert.der');

/** The certificate variable's data as a scenario replaces it: a torn (truncated) DER certificate, an EC one, or none. */
function scenarioCertificate(kind: 'not-x509' | 'not-rsa' | 'missing'): Uint8Array | undefined {
  if (kind === 'missing') return undefined;
  if (kind === 'not-rsa') return new Uint8Array(readFileSync(OFFLINE_DUMP_DEMO_EC_CERTIFICATE));
  return new Uint8Array(readFileSync(OFFLINE_DUMP_DEMO_CERTIFICATE)).subarray(0, 64);
}

/**
 * The OS side of an Offline-Crash-Dump design at boot (the kdump service's moment): it sets the
 * OffCD variables (NV|BS|RT, vendor GUID 77fa9abd-…) that tell the firmware to write a dump after
 * an abnormal reset. Nothing is stored at the panic: the firmware needs no record, only the
 * variables, so `persist` reports where the handoff lives. The stub has nothing to discover.
 */
abstract class OffcdVariablesTransport implements HandoffTransport {
  abstract readonly name: string;
  protected abstract readonly algorithm: number;

  constructor(protected readonly fw: FirmwareServices) {}

  protected certificate(): Uint8Array | undefined {
    return undefined;
  }

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      const setup = ctx.scenario.offlineDump;
      const cert = setup?.certificate ? scenarioCertificate(setup.certificate) : this.certificate();
      const algorithm = setup?.encryptionAlgorithm ?? this.algorithm;
      const osData = BigInt(new Rng(ctx.seed, hashString('offcd-os-data')).below(0x7fffffff));
      const vars: [string, Uint8Array][] = [
        [OFFLINE_DUMP_VARIABLES.useCapability.name, encodeUseCapability(USE_CAPABILITY_GPT_SCAN)],
        [OFFLINE_DUMP_VARIABLES.osData.name, encodeOsData(osData)],
        [OFFLINE_DUMP_VARIABLES.encryptionAlgorithm.name, encodeEncryptionAlgorithm(algorithm)],
        ...(cert ? [[OFFLINE_DUMP_VARIABLES.encryptionPublicKey.name, cert] as [string, Uint8Array]] : []),
      ];
      const failed: string[] = [];
      let bytes = 0;
      for (const [name, data] of vars) {
        const r = this.fw.variables.setVariable(ctx, name, OFFLINE_DUMP_VARIABLE_GUID, OFFLINE_DUMP_VARIABLE_ATTRIBUTES, data);
        if (r.status === 'EFI_SUCCESS') bytes += data.length;
        else failed.push(`${name}: ${r.status}`);
      }
      ctx.metrics.offlineDumpVariableBytes = bytes;
      const kept = offcdState.get(ctx) ?? {};
      offcdState.set(ctx, {
        ...kept,
        failure: failed.length ? `the OffCD variables were not all set at boot (${failed.join('; ')})` : undefined,
      });
      ctx.log.emit(
        'handoff-prepare',
        failed.length ? 'warn' : 'info',
        failed.length
          ? `${this.name}: ${failed.join('; ')}`
          : `${this.name}: ${vars.length} OffCD variables set (${bytes} bytes, algorithm ${algorithm})`,
      );
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const failure = offcdState.get(ctx)?.failure;
      ctx.state.handoff = {
        transport: this.name,
        location: `OffCD variables under ${OFFLINE_DUMP_VARIABLE_GUID} (set at boot)`,
        bytes: 0,
        ...(failure ? { failure } : {}),
      };
    });
  }

  discover(): HandoffDiscovery {
    return { found: false, reason: 'an offline crash dump design: the firmware writes the dump, the stub has nothing to find' };
  }

  consume(): void {
    // The variables stay set: they arm the next crash too.
  }
}

const offcdState = new WeakMap<RunContext, { failure?: string }>();

/** The OffCD variables for a plain dump (algorithm 0). */
@injectable()
export class OffcdVariablesPlainTransport extends OffcdVariablesTransport {
  readonly name = 'offline-dump-variables';
  protected readonly algorithm = OFFLINE_DUMP_ALGORITHM.none;

  constructor(@inject(FIRMWARE_SERVICES) fw: FirmwareServices) {
    super(fw);
  }
}

/** The OffCD variables for an encrypted dump: AES-128-CTR, the key wrapped to the demonstration certificate. */
@injectable()
export class OffcdVariablesEncryptedTransport extends OffcdVariablesTransport {
  readonly name = 'offline-dump-variables-encrypted';
  protected readonly algorithm = OFFLINE_DUMP_ALGORITHM.aes128Ctr;

  constructor(@inject(FIRMWARE_SERVICES) fw: FirmwareServices) {
    super(fw);
  }

  protected override certificate(): Uint8Array {
    return new Uint8Array(readFileSync(OFFLINE_DUMP_DEMO_CERTIFICATE));
  }
}

/**
 * The dump as the next OS reads it from the partition and `efikdump dump extract` writes it: an
 * ELF core with one PT_LOAD per saved RAM range and the lost-ranges note for what the writer left
 * out. Its page data is RAM as the firmware's writer read it (nothing runs on the simulated machine
 * after the writer, so reading the memory now reads what was written).
 */
class OfflineDumpView implements VmcoreView {
  readonly size: number;
  readonly declaredLost: readonly LostRange[];
  private readonly header: Uint8Array;
  private readonly loads: { paddr: number; offset: number; size: number }[];

  constructor(
    private readonly memory: PhysicalMemory,
    saved: readonly PhysRange[],
    lost: readonly LostRange[],
  ) {
    this.declaredLost = lost;
    const note = lost.length ? encodeNote(LOST_RANGES_NOTE_NAME, NT_EFIKDUMP_LOST_RANGES, encodeLostRanges(lost)) : undefined;
    const phnum = saved.length + (note ? 1 : 0);
    const noteOffset = EHDR_SIZE + PHDR_SIZE * phnum;
    let offset = pageAlignUp(noteOffset + (note?.length ?? 0));
    this.loads = saved.map((r) => {
      const l = { paddr: r.start, offset, size: r.end - r.start };
      offset += l.size;
      return l;
    });
    this.size = offset;
    const header = new Uint8Array(this.loads.length ? this.loads[0].offset : offset);
    header.set(encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: EHDR_SIZE, phnum }), 0);
    if (note) {
      header.set(
        encodeProgramHeader({
          type: PT_NOTE,
          flags: 0,
          offset: noteOffset,
          vaddr: 0n,
          paddr: 0,
          filesz: note.length,
          memsz: note.length,
          align: 4,
        }),
        EHDR_SIZE,
      );
      header.set(note, noteOffset);
    }
    const first = note ? 1 : 0;
    this.loads.forEach((l, i) =>
      header.set(
        encodeProgramHeader({
          type: PT_LOAD,
          flags: PF_R | PF_W | PF_X,
          offset: l.offset,
          vaddr: 0xffff888000000000n + BigInt(l.paddr),
          paddr: l.paddr,
          filesz: l.size,
          memsz: l.size,
          align: PAGE_SIZE,
        }),
        EHDR_SIZE + (first + i) * PHDR_SIZE,
      ),
    );
    this.header = header;
  }

  read(offset: number, dst: Uint8Array): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + dst.length > this.size)
      throw new SimulationError(`read of ${dst.length} bytes at ${hex(offset)} is outside the offline dump (${this.size} bytes)`);
    let done = 0;
    while (done < dst.length) {
      const pos = offset + done;
      const load = this.loads.find((l) => pos >= l.offset && pos < l.offset + l.size);
      let n: number;
      if (!load) {
        // Only the header area (ELF header, program headers, the note, padding) lies outside the loads, which follow it back to back.
        n = Math.min(dst.length - done, this.header.length - pos);
        dst.set(this.header.subarray(pos, pos + n), done);
      } else {
        n = Math.min(dst.length - done, load.offset + load.size - pos);
        this.memory.read(load.paddr + (pos - load.offset), dst.subarray(done, done + n));
      }
      done += n;
    }
  }

  fileOffsetOf(paddr: number): number | undefined {
    const load = this.loads.find((l) => paddr >= l.paddr && paddr < l.paddr + l.size);
    return load ? load.offset + (paddr - load.paddr) : undefined;
  }
}

/**
 * Firmware writes the dump (an Offline-Crash-Dump-style design, issue 16): the panicking kernel
 * asks for a warm reset with a reason; the firmware's next POST sees the abnormal reset and, before
 * it loads any OS, writes RAM — as its own footprint so far has left it — to the dump partition
 * (`runFirmwareDumpWriter`, part of POST). No capture kernel, no crashkernel= reservation, no
 * stub decision: the next OS boots normally, finds the configuration table's record and reads the
 * dump from the partition; that dump is the run's vmcore view.
 */
@injectable()
export class FirmwareWritesDumpExit implements ExitStrategy {
  readonly name = 'firmware-writes-dump';
  readonly stubDecides = false;
  /** The firmware writes all RAM: a crashkernel= reservation (a scenario may set one) is in the dump, unused memory of the crashed kernel. */
  readonly dumpExcludesReservation = false;

  constructor(@inject(FIRMWARE) private readonly firmware: Firmware) {}

  leave(): StageOperator {
    return stage('exit', (ctx) => {
      ctx.clock.advance(OFFLINE_DUMP_RESET_CALL_US);
      ctx.state.devices?.runDma(
        ctx,
        ctx.clock.nowUs - (ctx.state.panic?.tUs ?? ctx.clock.nowUs),
        'kernel',
        'between the panic and the reset',
      );
      this.firmware.resetSystem(ctx, 'warm', OFFLINE_DUMP_RESET_REASON);
    });
  }

  route(input: RouteInput): StageOperator[] {
    return [this.leave(), ...input.inFlight, input.firmware.resetAndPost(), this.readDump(), writeDiskArtifact()];
  }

  /** After a watchdog reset (a hung machine): POST sees an abnormal reset and writes the dump just the same. */
  afterWatchdogReset(input: RouteInput): StageOperator[] {
    return [input.firmware.resetAndPost(), this.readDump(), writeDiskArtifact()];
  }

  /** The next OS: reads the configuration table's record and, when a dump was written, opens it from the partition. */
  readDump(): StageOperator {
    return stage('offline-dump-read', (ctx) => {
      const scrubbed = scrubbedOutcome(ctx);
      if (scrubbed) {
        ctx.outcome = scrubbed;
        return;
      }
      const rec = lastFirmwareDump(ctx);
      if (!rec || rec.boot !== ctx.state.bootCount || !rec.written) {
        ctx.outcome = {
          outcome: 'no-dump',
          reason: `the firmware wrote no offline dump: ${rec?.why ?? 'no POST considered one'} (creation errors: ${creationErrorText(rec?.config.creationErrors ?? 0)})`,
        };
        return;
      }
      const view = new OfflineDumpView(ctx.machine.memory, rec.saved, rec.declaredLost);
      ctx.state.vmcore = view;
      ctx.state.dump = { bytes: rec.bytes, format: rec.encrypted ? 'offcd-encrypted' : 'offcd-raw' };
      ctx.metrics.vmcoreBytes = view.size;
      ctx.log.emit('offline-dump-read', 'info', describe(rec, view));
    });
  }
}

function describe(rec: FirmwareDumpRecord, view: OfflineDumpView): string {
  return (
    `configuration table: abnormal reset, dump expected, creation errors ${creationErrorText(rec.config.creationErrors)}; ` +
    `the dump partition holds ${formatSize(totalSize(rec.saved))} of RAM in ${rec.saved.length} ranges${rec.encrypted ? ' (encrypted)' : ''}, read as a ${formatSize(view.size)} ELF core` +
    `${rec.declaredLost.length ? `; ${lostPageCount(rec.declaredLost)} pages declared lost (what the firmware knows it wrote)` : ''}`
  );
}

/** The simulated disk's EFI system partition. */
const DISK_ESP_BYTES = 64 * 1024 * 1024;
export const DISK_ARTIFACT_NAME = 'disk.img';

/**
 * With `--artifacts DIR`: the simulated disk as a real GPT image, `DIR/disk.img` — an ESP and the
 * dump partition (none when the scenario's disk has none) holding the dump the firmware wrote, as
 * `writeOfflineDump` writes it from the machine's RAM as the writer read it (streamed in 1 MiB
 * chunks, sparse), when the firmware wrote one (a run that ended without a dump writes no disk). Built under a temporary name in DIR and renamed; nothing else in DIR is touched.
 * The encrypted design's dump is authenticated but, the OAEP padding being random, not
 * byte-identical from run to run; the AES key, IV and CMS content key come from the run's seed.
 */
export function writeDiskArtifact(): StageOperator {
  return stage('offline-dump-disk', async (ctx: RunContext) => {
    const dir = ctx.options.artifactsDir;
    const rec = lastFirmwareDump(ctx);
    if (!dir || !rec || rec.boot !== ctx.state.bootCount) return;
    const partition =
      ctx.scenario.offlineDump?.partition === 'none'
        ? undefined
        : (rec.partitionBytes ?? ctx.scenario.offlineDump?.partition ?? ctx.machine.ramBytes + 64 * 1024 * 1024);
    const partitions = [{ typeGuid: ESP_TYPE_GUID, name: 'EFI system partition', sizeBytes: DISK_ESP_BYTES }];
    if (partition !== undefined)
      partitions.push({
        typeGuid: OFFLINE_DUMP_PARTITION_TYPE_GUID,
        name: 'offline crash dump',
        sizeBytes: Math.ceil(partition / 512) * 512,
      });
    const size = DISK_ESP_BYTES + (partition !== undefined ? Math.ceil(partition / (1024 * 1024)) * 1024 * 1024 : 0) + 4 * 1024 * 1024;
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${DISK_ARTIFACT_NAME}.${process.pid}.${ctx.seed}.tmp`);
    try {
      createGptImage(tmp, size, partitions, ctx.seed);
      if (rec.written) {
        const rng = new Rng(ctx.seed, hashString('offcd-disk-keys'));
        const random = (n: number) => rng.bytes(n);
        const ram = ctx.machine.memory.ram;
        const result = await writeOfflineDump({
          image: tmp,
          memory: ctx.machine.memory,
          ddrRanges: ram,
          firmwareAllocations: rec.declaredLost.filter((r) => r.reason === 'firmware-footprint'),
          variables: rec.variables,
          systemInformation: SYSTEM_INFORMATION,
          dumpReason: [0, 0, 0, 0],
          random,
        });
        if (!result.written || result.creationErrors !== rec.config.creationErrors) {
          throw new SimulationError(
            `the disk's writer disagrees with the simulated firmware: written ${result.written}, creation errors ${creationErrorText(result.creationErrors)} (simulated: ${creationErrorText(rec.config.creationErrors)})`,
          );
        }
      }
      renameSync(tmp, join(dir, DISK_ARTIFACT_NAME));
    } finally {
      rmSync(tmp, { force: true });
    }
    ctx.artifacts.disk = join(dir, DISK_ARTIFACT_NAME);
    ctx.log.emit(
      'artifacts',
      'info',
      `simulated disk written to ${ctx.artifacts.disk} (${formatSize(size)} GPT image${rec.written ? `, the dump partition holds the ${rec.encrypted ? 'encrypted ' : ''}offline dump` : ', no dump in it'})`,
    );
  });
}
