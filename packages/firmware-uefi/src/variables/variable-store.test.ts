import { EFI_VARIABLE as A, EFI_STATUS, parseFirmwareProfile, readJsonFile, type FirmwareProfile } from '@efikdump/core';
import { join } from 'node:path';
import { firmwareContext } from '../testing/firmware-context';
import { PROFILES_DIR } from '../profiles/firmware-profiles';
import { UefiVariableServicesImpl } from '../uefi-services';
import { encodeTimeBasedAuthentication, type AuthVerifier } from './variable-auth';
import { emptyNvram, FIRST_RECORD_OFFSET, recordFootprint, VariableStore } from './variable-store';
import { EFI_HARDWARE_ERROR_VARIABLE_GUID, EFI_MIN_RESERVE, LINUX_EFI_CRASH_GUID, VAR_ADDED, VAR_HEADER_VALID_ONLY } from './well-known';

const NV = A.NON_VOLATILE;
const BS = A.BOOTSERVICE_ACCESS;
const RT = A.RUNTIME_ACCESS;
const NV_BS_RT = NV | BS | RT;
const G = LINUX_EFI_CRASH_GUID;
const bytes = (n: number, fill = 0xab) => new Uint8Array(n).fill(fill);

function profile(name: string, over: Partial<FirmwareProfile> = {}): FirmwareProfile {
  return { ...parseFirmwareProfile(readJsonFile(join(PROFILES_DIR, `${name}.json`)), name), ...over };
}

/** An empty store (no firmware variables) of the profile, with the given changes. */
function store(name = 'ovmf', over: Partial<FirmwareProfile> = {}): VariableStore {
  const p = profile(name, over);
  return new VariableStore(emptyNvram(p), p);
}

const boot = { atRuntime: false };
const runtime = { atRuntime: true };

describe('UEFI 2.10 §8.2 SetVariable: attributes', () => {
  it('refuses RUNTIME_ACCESS without BOOTSERVICE_ACCESS', () => {
    expect(store().set('X', G, NV | RT, bytes(4), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(store().set('X', G, RT, bytes(4), boot).status).toBe('EFI_INVALID_PARAMETER');
  });

  it('treats NON_VOLATILE without BOOTSERVICE_ACCESS as no access: a delete of nothing', () => {
    expect(store().set('X', G, NV, bytes(4), boot).status).toBe('EFI_NOT_FOUND');
  });

  it('refuses an empty name, unknown attribute bits, and the deprecated AUTHENTICATED_WRITE_ACCESS', () => {
    const s = store();
    expect(s.set('', G, NV_BS_RT, bytes(4), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.set('X', G, NV_BS_RT | 0x100, bytes(4), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.set('X', G, NV_BS_RT | A.AUTHENTICATED_WRITE_ACCESS, bytes(4), boot).status).toBe('EFI_UNSUPPORTED');
  });

  it("never changes an existing variable's attributes (only APPEND_WRITE may differ)", () => {
    const s = store();
    expect(s.set('X', G, NV_BS_RT, bytes(4), boot).status).toBe('EFI_SUCCESS');
    expect(s.set('X', G, NV | BS, bytes(4, 1), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.set('X', G, BS | RT, bytes(4, 1), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.get('X', G, false).data).toEqual(bytes(4));
    expect(s.set('X', G, NV_BS_RT | A.APPEND_WRITE, bytes(2, 1), boot).status).toBe('EFI_SUCCESS');
    expect(s.get('X', G, false)).toMatchObject({ status: 'EFI_SUCCESS', attributes: NV_BS_RT, dataSize: 6 });
  });
});

describe('UEFI 2.10 §8.2 SetVariable: delete, append, no-op', () => {
  it('deletes with size 0, and with attributes 0', () => {
    const s = store();
    s.set('X', G, NV_BS_RT, bytes(4), boot);
    expect(s.set('X', G, NV_BS_RT, new Uint8Array(0), boot).status).toBe('EFI_SUCCESS');
    expect(s.get('X', G, false).status).toBe('EFI_NOT_FOUND');
    s.set('Y', G, NV_BS_RT, bytes(4), boot);
    expect(s.set('Y', G, 0, bytes(4), boot).status).toBe('EFI_SUCCESS');
    expect(s.get('Y', G, false).status).toBe('EFI_NOT_FOUND');
    expect(s.set('Y', G, NV_BS_RT, new Uint8Array(0), boot).status).toBe('EFI_NOT_FOUND');
  });

  it('APPEND_WRITE with size 0 changes nothing and is not a delete; on a new variable it creates it', () => {
    const s = store();
    expect(s.set('X', G, NV_BS_RT | A.APPEND_WRITE, new Uint8Array(0), boot).status).toBe('EFI_SUCCESS');
    expect(s.get('X', G, false).status).toBe('EFI_NOT_FOUND');
    expect(s.set('X', G, NV_BS_RT | A.APPEND_WRITE, Uint8Array.of(1, 2), boot).status).toBe('EFI_SUCCESS');
    expect(s.set('X', G, NV_BS_RT | A.APPEND_WRITE, new Uint8Array(0), boot).status).toBe('EFI_SUCCESS');
    expect(s.set('X', G, NV_BS_RT | A.APPEND_WRITE, Uint8Array.of(3), boot).status).toBe('EFI_SUCCESS');
    expect(s.get('X', G, false).data).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('updates by appending a new copy and marking the old one deleted (flash bits only clear)', () => {
    const s = store();
    s.set('X', G, NV_BS_RT, bytes(4, 1), boot);
    s.set('X', G, NV_BS_RT, bytes(4, 2), boot);
    expect(s.nv.records.map((r) => r.state)).toEqual([VAR_ADDED & 0xfe & 0xfd, VAR_ADDED]);
    expect(s.get('X', G, false).data).toEqual(bytes(4, 2));
    // Rewriting the same data does not touch the flash.
    const written = s.nv.bytesWritten;
    expect(s.set('X', G, NV_BS_RT, bytes(4, 2), boot)).toEqual({ status: 'EFI_SUCCESS', costUs: 0 });
    expect(s.nv.bytesWritten).toBe(written);
  });
});

describe('UEFI 2.10 §8.2.1 GetVariable', () => {
  it('returns EFI_BUFFER_TOO_SMALL with the size needed, EFI_NOT_FOUND for a missing or empty name', () => {
    const s = store();
    s.set('X', G, NV_BS_RT, bytes(10), boot);
    expect(s.get('X', G, false, 9)).toEqual({ status: 'EFI_BUFFER_TOO_SMALL', dataSize: 10 });
    expect(s.get('X', G, false, 10)).toMatchObject({ status: 'EFI_SUCCESS', dataSize: 10, attributes: NV_BS_RT });
    expect(s.get('Y', G, false).status).toBe('EFI_NOT_FOUND');
    expect(s.get('X', EFI_HARDWARE_ERROR_VARIABLE_GUID, false).status).toBe('EFI_NOT_FOUND');
    expect(s.get('', G, false).status).toBe('EFI_NOT_FOUND');
  });
});

describe('UEFI 2.10 §7.4.6, §8.2 after ExitBootServices', () => {
  it('hides boot-services-only variables from GetVariable and GetNextVariableName', () => {
    const s = store();
    s.set('BsOnly', G, NV | BS, bytes(4), boot);
    s.set('Runtime', G, NV_BS_RT, bytes(4), boot);
    expect(s.get('BsOnly', G, true).status).toBe('EFI_NOT_FOUND');
    expect(s.get('BsOnly', G, false).status).toBe('EFI_SUCCESS');
    expect(s.next(512, '', '', true)).toMatchObject({ status: 'EFI_SUCCESS', name: 'Runtime' });
    expect(s.next(512, 'Runtime', G, true).status).toBe('EFI_NOT_FOUND');
  });

  it('creates only NV+RT variables, changes only NV variables with RT, and keeps volatile ones read-only', () => {
    const s = store();
    expect(s.set('X', G, BS | RT, bytes(4), runtime).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.set('X', G, NV | BS, bytes(4), runtime).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.set('X', G, NV_BS_RT, bytes(4), runtime).status).toBe('EFI_SUCCESS');
    s.set('Vol', G, BS | RT, bytes(4), boot);
    expect(s.set('Vol', G, BS | RT, bytes(4, 1), runtime).status).toBe('EFI_WRITE_PROTECTED');
    s.set('BsNv', G, NV | BS, bytes(4), boot);
    expect(s.set('BsNv', G, NV | BS, bytes(4, 1), runtime).status).toBe('EFI_INVALID_PARAMETER');
  });
});

describe('UEFI 2.10 §8.2.2 GetNextVariableName', () => {
  it('walks every variable once, NV then volatile, and refuses a name that is not a variable', () => {
    const s = store();
    for (const n of ['A', 'B', 'C']) s.set(n, G, NV_BS_RT, bytes(2), boot);
    s.set('V', G, BS | RT, bytes(2), boot);
    const seen: string[] = [];
    let name = '';
    let guid = '';
    for (;;) {
      const r = s.next(1024, name, guid, false);
      if (r.status === 'EFI_NOT_FOUND') break;
      expect(r.status).toBe('EFI_SUCCESS');
      seen.push(r.name!);
      name = r.name!;
      guid = r.guid!;
    }
    expect(seen).toEqual(['A', 'B', 'C', 'V']);
    expect(s.next(1024, 'Nope', G, false).status).toBe('EFI_INVALID_PARAMETER');
  });

  it('returns EFI_BUFFER_TOO_SMALL with the NameSize needed (UCS-2 with NUL)', () => {
    const s = store();
    s.set('LongerName', G, NV_BS_RT, bytes(2), boot);
    expect(s.next(4, '', '', false)).toEqual({ status: 'EFI_BUFFER_TOO_SMALL', nameSize: 22 });
  });
});

describe("UEFI 2.10 §8.2.4 QueryVariableInfo and the profile's limits", () => {
  it("reports the profile's store and maximum variable size, less the header", () => {
    const s = store('ovmf');
    const q = s.query(NV_BS_RT, false);
    expect(q).toEqual({
      status: 'EFI_SUCCESS',
      maxStorageBytes: 0x40000 - FIRST_RECORD_OFFSET,
      remainingBytes: 0x40000 - FIRST_RECORD_OFFSET,
      maxVariableBytes: 0x8400 - 60,
    });
    s.set('X', G, NV_BS_RT, bytes(100), boot);
    expect(s.query(NV_BS_RT, false).remainingBytes).toBe(q.remainingBytes! - recordFootprint('authenticated', 'X', 100));
  });

  it('refuses invalid attribute sets', () => {
    const s = store('ovmf');
    expect(s.query(0, false).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.query(NV | RT, false).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.query(NV | BS, true).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.query(NV_BS_RT | A.HARDWARE_ERROR_RECORD, false).status).toBe('EFI_UNSUPPORTED');
  });

  it('refuses a variable larger than maxVariableBytes (header + name + data) with EFI_INVALID_PARAMETER', () => {
    const s = store('laptop');
    const max = 8192 - 60 - 4; // header, "X\0"
    expect(s.set('X', G, NV_BS_RT, bytes(max), boot).status).toBe('EFI_SUCCESS');
    expect(s.set('Y', G, NV_BS_RT, bytes(max + 1), boot).status).toBe('EFI_INVALID_PARAMETER');
  });

  it('counts deleted copies against the store at runtime, not at boot (edk2: no reclaim at runtime)', () => {
    const s = store('ovmf');
    s.set('X', G, NV_BS_RT, bytes(1000, 1), boot);
    s.set('X', G, NV_BS_RT, bytes(1000, 2), boot);
    const fp = recordFootprint('authenticated', 'X', 1000);
    expect(s.query(NV_BS_RT, false).remainingBytes).toBe(0x40000 - FIRST_RECORD_OFFSET - fp);
    expect(s.query(NV_BS_RT, true).remainingBytes).toBe(0x40000 - FIRST_RECORD_OFFSET - 2 * fp);
  });
});

describe('UEFI 2.10 §8.2.4.2 hardware error records', () => {
  it('need NV|BS|RT|HR, the HwErrRec#### name and the hardware-error vendor GUID, and a store with HwErr space', () => {
    const s = store('server');
    const HR = A.HARDWARE_ERROR_RECORD;
    expect(s.set('HwErrRec0001', EFI_HARDWARE_ERROR_VARIABLE_GUID, NV_BS_RT | HR, bytes(200), boot).status).toBe('EFI_SUCCESS');
    expect(s.set('HwErrRec0002', EFI_HARDWARE_ERROR_VARIABLE_GUID, NV | BS | HR, bytes(200), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.set('Crash0001', EFI_HARDWARE_ERROR_VARIABLE_GUID, NV_BS_RT | HR, bytes(200), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.set('HwErrRec0003', G, NV_BS_RT | HR, bytes(200), boot).status).toBe('EFI_INVALID_PARAMETER');
    expect(s.query(NV_BS_RT | HR, false)).toMatchObject({ status: 'EFI_SUCCESS', maxStorageBytes: 64 * 1024 });
    // Without HwErr storage (edk2 PcdHwErrStorageSize 0) they are not supported at all.
    expect(store('ovmf').set('HwErrRec0001', EFI_HARDWARE_ERROR_VARIABLE_GUID, NV_BS_RT | HR, bytes(200), boot).status).toBe(
      'EFI_INVALID_PARAMETER',
    );
  });

  it('may be larger than maxVariableBytes, up to maxHwErrVariableBytes', () => {
    const s = store('server', { maxVariableBytes: 1024 });
    expect(s.set('HwErrRec0001', EFI_HARDWARE_ERROR_VARIABLE_GUID, NV_BS_RT | A.HARDWARE_ERROR_RECORD, bytes(4000), boot).status).toBe(
      'EFI_SUCCESS',
    );
    expect(s.set('Big', G, NV_BS_RT, bytes(4000), boot).status).toBe('EFI_INVALID_PARAMETER');
  });
});

describe('UEFI 2.10 §8.2.2 time-based authenticated writes', () => {
  const AT = A.TIME_BASED_AUTHENTICATED_WRITE_ACCESS;
  const auth = (second: number, payload: Uint8Array) =>
    encodeTimeBasedAuthentication({ year: 2026, month: 1, day: 1, second }, bytes(64, 0x30), payload);
  const accept: AuthVerifier = () => true;

  it('without valid authentication: EFI_SECURITY_VIOLATION (no descriptor, a malformed one, or one nothing can verify)', () => {
    const s = store('ovmf');
    expect(s.set('Db', G, NV_BS_RT | AT, bytes(16), boot).status).toBe('EFI_SECURITY_VIOLATION');
    const bad = auth(1, bytes(8));
    bad[12] = 1; // TimeZone must be 0
    expect(s.set('Db', G, NV_BS_RT | AT, bad, boot).status).toBe('EFI_SECURITY_VIOLATION');
    expect(s.set('Db', G, NV_BS_RT | AT, auth(1, bytes(8)), boot).status).toBe('EFI_SECURITY_VIOLATION');
  });

  it('with a verifier that accepts: stores the payload and the timestamp; an older timestamp is refused', () => {
    const s = store('ovmf');
    expect(s.set('Db', G, NV_BS_RT | AT, auth(10, bytes(8, 1)), { ...boot, verifier: accept }).status).toBe('EFI_SUCCESS');
    expect(s.get('Db', G, false)).toMatchObject({ data: bytes(8, 1), attributes: NV_BS_RT | AT });
    expect(s.set('Db', G, NV_BS_RT | AT, auth(9, bytes(8, 2)), { ...boot, verifier: accept }).status).toBe('EFI_SECURITY_VIOLATION');
    expect(s.set('Db', G, NV_BS_RT | AT, auth(11, bytes(8, 2)), { ...boot, verifier: accept }).status).toBe('EFI_SUCCESS');
    // Deleting an authenticated variable needs authentication too.
    expect(s.set('Db', G, 0, new Uint8Array(0), boot).status).toBe('EFI_SECURITY_VIOLATION');
  });

  it('on a store without authenticated variables (32-byte headers): EFI_INVALID_PARAMETER, as edk2 without AuthSupport', () => {
    expect(store('server').set('Db', G, NV_BS_RT | AT, auth(1, bytes(8)), { ...boot, verifier: accept }).status).toBe(
      'EFI_INVALID_PARAMETER',
    );
  });
});

describe('edk2 store: capacity, reclaim, wear and write cost (domain reference §5.2, §5.3)', () => {
  it('charges each NV write its fixed and per-byte cost and counts the bytes', () => {
    const s = store('server');
    const r = s.set('X', G, NV_BS_RT, bytes(1000), boot);
    const fp = recordFootprint('plain', 'X', 1000);
    expect(r.costUs).toBeCloseTo(1000 + (fp + 1) * 3);
    expect(s.nv.bytesWritten).toBe(fp + 1);
    expect(s.nv.writes).toBe(1);
  });

  it('reclaims a full store at boot (erasing every block of the store and the spare once), then fails when live data fills it', () => {
    const p = profile('laptop', { nvramBytesUsed: 0, nvramBytesGarbage: 0 });
    const s = new VariableStore(emptyNvram(p), p);
    let status = 'EFI_SUCCESS';
    let reclaimed = false;
    for (let i = 0; i < 200 && status === 'EFI_SUCCESS'; i++) {
      const r = s.set('Counter', G, NV_BS_RT, bytes(4000, i & 0xff), boot);
      status = r.status;
      reclaimed ||= Boolean(r.reclaimed);
      if (r.reclaimed) expect(r.costUs).toBeGreaterThan(2 * 14 * 45000);
    }
    expect(status).toBe('EFI_SUCCESS');
    expect(reclaimed).toBe(true);
    expect(s.nv.reclaims).toBeGreaterThan(1);
    const storeBlocks = 56 / 4;
    expect(s.nv.eraseCounts.slice(0, storeBlocks).every((n) => n === s.nv.reclaims)).toBe(true);
    expect(s.nv.eraseCounts.filter((n) => n > 0)).toHaveLength(2 * storeBlocks);
    // Now fill with distinct live variables until the store is full for good.
    let last = 'EFI_SUCCESS';
    for (let i = 0; i < 100 && last === 'EFI_SUCCESS'; i++) last = s.set(`Live${i}`, G, NV_BS_RT, bytes(4000), boot).status;
    expect(last).toBe('EFI_OUT_OF_RESOURCES');
  });

  it('does not reclaim at runtime where the profile says so (edk2), and does where it says otherwise', () => {
    for (const [reclaimAtRuntime, expected] of [
      [false, 'EFI_OUT_OF_RESOURCES'],
      [true, 'EFI_SUCCESS'],
    ] as const) {
      const p = profile('laptop', { nvramBytesUsed: 0, nvramBytesGarbage: 0, reclaimAtRuntime });
      const s = new VariableStore(emptyNvram(p), p);
      let status = 'EFI_SUCCESS';
      for (let i = 0; i < 20 && status === 'EFI_SUCCESS'; i++) status = s.set('Counter', G, NV_BS_RT, bytes(4000, i), runtime).status;
      expect(status).toBe(expected === 'EFI_SUCCESS' ? 'EFI_SUCCESS' : 'EFI_OUT_OF_RESOURCES');
    }
  });
});

describe('torn NV writes follow the profile (domain reference §5.2, §5.3)', () => {
  const tear = (tornWrite: FirmwareProfile['tornWrite']) => {
    const s = store('laptop', { tornWrite, nvramBytesUsed: 0, nvramBytesGarbage: 0 });
    s.set('Marker', G, NV_BS_RT, bytes(64, 1), boot);
    const r = s.set('Marker', G, NV_BS_RT, bytes(64, 2), { ...boot, tornAt: 0.9 });
    expect(r).toMatchObject({ status: 'EFI_DEVICE_ERROR', torn: true });
    return s;
  };
  it('atomic: the old value survives, the half-written copy is ignored', () => {
    const s = tear('atomic');
    expect(s.get('Marker', G, false).data).toEqual(bytes(64, 1));
    expect(s.nv.records.at(-1)!.state).toBe(VAR_HEADER_VALID_ONLY);
  });
  it('lost: neither value survives', () => {
    expect(tear('lost').get('Marker', G, false).status).toBe('EFI_NOT_FOUND');
  });
  it('corrupt: the variable reads back with erased (0xff) bytes where the write stopped', () => {
    const data = tear('corrupt').get('Marker', G, false).data!;
    expect(data.length).toBe(64);
    expect(data[0]).toBe(2);
    expect(data[63]).toBe(0xff);
  });
});

describe('the panic-time non-blocking path (Linux runtime-wrappers.c, quirks.c; domain reference §5.3)', () => {
  const services = new UefiVariableServicesImpl();

  it('fails with EFI_NOT_READY while another CPU holds the runtime lock, never waiting', () => {
    const { ctx } = firmwareContext({ overrides: { faults: ['runtime-lock-busy-at-panic'] } });
    ctx.state.firmware!.atRuntime = true;
    expect(services.setVariableNonBlocking(ctx, 'dump-type0-1-1', G, NV_BS_RT, bytes(100)).status).toBe('EFI_SUCCESS');
    ctx.state.panic = { cpu: 0, unixTime: 0, reason: 'test' };
    const t = ctx.clock.nowUs;
    expect(services.setVariableNonBlocking(ctx, 'dump-type0-1-2', G, NV_BS_RT, bytes(100))).toEqual({ status: 'EFI_NOT_READY', costUs: 0 });
    expect(ctx.clock.nowUs).toBe(t);
    // The blocking path is not the panic path: it is not subject to the trylock.
    expect(services.setVariable(ctx, 'dump-type0-1-3', G, NV_BS_RT, bytes(100)).status).toBe('EFI_SUCCESS');
  });

  it('refuses an NV write that would leave less than EFI_MIN_RESERVE (5120) bytes, where SetVariable itself would succeed', () => {
    const { ctx } = firmwareContext();
    ctx.state.firmware!.atRuntime = true;
    const remaining = services.queryVariableInfo(ctx, NV_BS_RT).remainingBytes!;
    const size = 1024;
    // Fill until a 1 KiB record would cross the floor, but would still fit.
    const need = size + 2 * 'dump-000'.length + 2;
    let i = 0;
    for (let left = remaining; left - need >= EFI_MIN_RESERVE; left = services.queryVariableInfo(ctx, NV_BS_RT).remainingBytes!) {
      const chunk = Math.min(8000, left - need - EFI_MIN_RESERVE + 1);
      expect(services.setVariable(ctx, `Fill${i++}`, G, NV_BS_RT, bytes(chunk)).status).toBe('EFI_SUCCESS');
      if (i > 100) throw new Error(`store did not fill from ${remaining}`);
    }
    expect(services.setVariableNonBlocking(ctx, 'dump-000', G, NV_BS_RT, bytes(size)).status).toBe('EFI_OUT_OF_RESOURCES');
    expect(services.setVariable(ctx, 'dump-000', G, NV_BS_RT, bytes(size)).status).toBe('EFI_SUCCESS');
  });

  it('tears the first panic-time NV write when power is lost, and marks the power loss', () => {
    const { ctx } = firmwareContext({ profile: 'laptop', overrides: { faults: ['power-loss-during-panic-nv-write'] } });
    ctx.state.firmware!.atRuntime = true;
    ctx.state.panic = { cpu: 0, unixTime: 0, reason: 'test' };
    expect(services.setVariableNonBlocking(ctx, 'dump-type0-1-1', G, NV_BS_RT, bytes(512, 7)).status).toBe('EFI_DEVICE_ERROR');
    expect(ctx.state.firmware!.powerLost).toBe(true);
    const back = services.getVariable(ctx, 'dump-type0-1-1', G);
    expect(back.status).toBe('EFI_SUCCESS');
    expect(back.data!.at(-1)).toBe(0xff);
  });

  it('is timed on the run clock by the profile', () => {
    const { ctx } = firmwareContext({ profile: 'server' });
    ctx.state.firmware!.atRuntime = true;
    const t = ctx.clock.nowUs;
    const r = services.setVariableNonBlocking(ctx, 'dump', G, NV_BS_RT, bytes(1024));
    expect(r.status).toBe('EFI_SUCCESS');
    expect(ctx.clock.nowUs - t).toBe(Math.round(r.costUs));
    expect(r.costUs).toBeGreaterThan(1000);
  });
});

describe('EFI_STATUS values (UEFI 2.10 Appendix D)', () => {
  it("are the error bit plus the spec's codes", () => {
    expect(EFI_STATUS.EFI_SECURITY_VIOLATION).toBe((1n << 63n) | 26n);
    expect(EFI_STATUS.EFI_NOT_READY).toBe((1n << 63n) | 6n);
    expect(EFI_STATUS.EFI_SUCCESS).toBe(0n);
  });
});
