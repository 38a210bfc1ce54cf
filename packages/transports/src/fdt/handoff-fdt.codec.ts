import { FormatError, hex, decodeHandoffRecord, type HandoffRecord } from '@efikdump/core';
import {
  decodeFdt,
  encodeFdt,
  node,
  readStringProp,
  readU32Cells,
  readU64Cells,
  stringProp,
  u32Cells,
  u64Cells,
  type FdtNode,
} from './fdt.codec';

/**
 * The handoff record as a flattened device tree, Kexec-HandOver style (Linux
 * Documentation/core-api/kho/concepts.rst: a libfdt blob describing what is preserved). The
 * readable properties are for people and `dtc`; `record` carries the encoded record itself, whose
 * CRC and MAC are what the stub trusts. The decoder checks that both agree.
 *
 * / {
 *     compatible = "efikdump,handoff-v2";
 *     #address-cells = <2>; #size-cells = <2>;
 *     boot-nonce = /bits/ 64 <…>; crash-time = /bits/ 64 <…>; cpus = <…>; flags = <…>;
 *     reason = "…";
 *     record = [ … ];
 *     crashkernel@… { reg = <start size …>; };
 *     elfcorehdr@… { reg = <addr size>; sha256 = [ … ]; };
 * };
 */
export const HANDOFF_FDT_COMPATIBLE = 'efikdump,handoff-v2';

export function encodeHandoffFdt(record: HandoffRecord, encodedRecord: Uint8Array): Uint8Array {
  const { info } = record;
  const root: FdtNode = node(
    '',
    [
      ['compatible', stringProp(HANDOFF_FDT_COMPATIBLE)],
      ['#address-cells', u32Cells(2)],
      ['#size-cells', u32Cells(2)],
      ['boot-nonce', u64Cells(BigInt('0x' + info.bootNonce))],
      ['crash-time', u64Cells(info.crashTimeUnix)],
      ['cpus', u32Cells(info.cpus)],
      ['flags', u32Cells(record.flags)],
      ['reason', stringProp(record.reason)],
      ['record', encodedRecord],
    ],
    [
      node(`crashkernel@${info.crashkernel[0].start.toString(16)}`, [
        ['reg', u64Cells(...info.crashkernel.flatMap((r) => [r.start, r.end - r.start]))],
      ]),
      node(`elfcorehdr@${info.elfcorehdr.paddr.toString(16)}`, [
        ['reg', u64Cells(info.elfcorehdr.paddr, info.elfcorehdr.size)],
        ['sha256', new Uint8Array(Buffer.from(info.elfcorehdr.sha256, 'hex'))],
      ]),
    ],
  );
  return encodeFdt({
    root,
    reservations: info.crashkernel.map((r) => ({ address: BigInt(r.start), size: BigInt(r.end - r.start) })),
    bootCpuidPhys: 0,
  });
}

/** Decodes the blob and the record it carries, and checks that the readable properties match the record. */
export function decodeHandoffFdt(blob: Uint8Array, source: string, base = 0): { record: HandoffRecord; encoded: Uint8Array } {
  const fdt = decodeFdt(blob, source, base);
  const prop = (n: FdtNode, name: string): Uint8Array => {
    const v = n.props.get(name);
    if (!v) throw new FormatError(`handoff device tree ${n.name || '/'}`, `a "${name}" property`, 'none', { file: source, offset: base });
    return v;
  };
  const compatible = readStringProp(prop(fdt.root, 'compatible'));
  if (compatible !== HANDOFF_FDT_COMPATIBLE)
    throw new FormatError('handoff device tree compatible', `"${HANDOFF_FDT_COMPATIBLE}"`, JSON.stringify(compatible), {
      file: source,
      offset: base,
    });
  const encoded = prop(fdt.root, 'record');
  const record = decodeHandoffRecord(encoded, `${source} record property`, base);
  const mismatch = (what: string, a: unknown, b: unknown): never => {
    throw new FormatError(`handoff device tree ${what}`, `the record's ${String(a)}`, String(b), { file: source, offset: base });
  };
  const nonce = readU64Cells(prop(fdt.root, 'boot-nonce'))[0]?.toString(16).padStart(16, '0');
  if (nonce !== record.info.bootNonce) mismatch('boot-nonce', record.info.bootNonce, nonce);
  const cpus = readU32Cells(prop(fdt.root, 'cpus'))[0];
  if (cpus !== record.info.cpus) mismatch('cpus', record.info.cpus, cpus);
  const elf = fdt.root.children.find((c) => c.name.startsWith('elfcorehdr@'));
  const reg = elf ? readU64Cells(prop(elf, 'reg')) : [];
  if (reg.length !== 2 || Number(reg[0]) !== record.info.elfcorehdr.paddr || Number(reg[1]) !== record.info.elfcorehdr.size) {
    mismatch('elfcorehdr reg', `${hex(record.info.elfcorehdr.paddr)}+${record.info.elfcorehdr.size}`, reg.map((x) => hex(x)).join(' '));
  }
  return { record, encoded };
}
