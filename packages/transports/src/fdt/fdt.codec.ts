import { FormatError, hex } from '@efikdump/core';

// Flattened devicetree blob (Devicetree Specification v0.4 §5; libfdt's fdt.h). Big-endian.
export const FDT_MAGIC = 0xd00dfeed;
export const FDT_HEADER_BYTES = 40;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;
/** Deepest nesting and largest blob we accept: bounds for untrusted input. */
export const FDT_MAX_DEPTH = 32;
export const FDT_MAX_BYTES = 1 << 20;

export interface FdtNode {
  name: string;
  props: Map<string, Uint8Array>;
  children: FdtNode[];
}

export interface Fdt {
  root: FdtNode;
  /** /memreserve/ entries. */
  reservations: { address: bigint; size: bigint }[];
  bootCpuidPhys: number;
}

export const node = (name: string, props: [string, Uint8Array][] = [], children: FdtNode[] = []): FdtNode => ({
  name,
  props: new Map(props),
  children,
});

// Property value helpers, in devicetree's big-endian cell encoding.
export function u32Cells(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint32(i * 4, x >>> 0, false));
  return out;
}
export function u64Cells(...values: (number | bigint)[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setBigUint64(i * 8, BigInt(x), false));
  return out;
}
export function stringProp(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s + '\0', 'utf8'));
}
export function readU32Cells(value: Uint8Array): number[] {
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return Array.from({ length: Math.floor(value.length / 4) }, (_, i) => v.getUint32(i * 4, false));
}
export function readU64Cells(value: Uint8Array): bigint[] {
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return Array.from({ length: Math.floor(value.length / 8) }, (_, i) => v.getBigUint64(i * 8, false));
}
export function readStringProp(value: Uint8Array): string {
  const end = value.indexOf(0);
  return Buffer.from(value.subarray(0, end < 0 ? value.length : end)).toString('utf8');
}

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

export function encodeFdt(fdt: Fdt): Uint8Array {
  const strings: string[] = [];
  const stringOffsets = new Map<string, number>();
  let stringsSize = 0;
  const nameOffset = (name: string): number => {
    let off = stringOffsets.get(name);
    if (off === undefined) {
      off = stringsSize;
      stringOffsets.set(name, off);
      strings.push(name);
      stringsSize += Buffer.byteLength(name) + 1;
    }
    return off;
  };
  const struct: Uint8Array[] = [];
  const token = (t: number) => struct.push(u32Cells(t));
  const walk = (n: FdtNode) => {
    token(FDT_BEGIN_NODE);
    const nameBytes = Buffer.from(n.name + '\0', 'utf8');
    const padded = new Uint8Array(pad4(nameBytes.length));
    padded.set(nameBytes);
    struct.push(padded);
    for (const [name, value] of n.props) {
      token(FDT_PROP);
      struct.push(u32Cells(value.length, nameOffset(name)));
      const v = new Uint8Array(pad4(value.length));
      v.set(value);
      struct.push(v);
    }
    n.children.forEach(walk);
    token(FDT_END_NODE);
  };
  walk(fdt.root);
  token(FDT_END);
  const structBytes = struct.reduce((s, b) => s + b.length, 0);
  const rsvBytes = (fdt.reservations.length + 1) * 16;
  const offRsv = FDT_HEADER_BYTES;
  const offStruct = offRsv + rsvBytes;
  const offStrings = offStruct + structBytes;
  const total = offStrings + stringsSize;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  [
    FDT_MAGIC,
    total,
    offStruct,
    offStrings,
    offRsv,
    FDT_VERSION,
    FDT_LAST_COMP_VERSION,
    fdt.bootCpuidPhys,
    stringsSize,
    structBytes,
  ].forEach((x, i) => v.setUint32(i * 4, x >>> 0, false));
  fdt.reservations.forEach((r, i) => {
    v.setBigUint64(offRsv + i * 16, r.address, false);
    v.setBigUint64(offRsv + i * 16 + 8, r.size, false);
  });
  let pos = offStruct;
  for (const b of struct) {
    out.set(b, pos);
    pos += b.length;
  }
  pos = offStrings;
  for (const s of strings) {
    out.set(Buffer.from(s + '\0', 'utf8'), pos);
    pos += Buffer.byteLength(s) + 1;
  }
  return out;
}

/** Decodes a blob, checking every offset and length against the blob before use. */
export function decodeFdt(buf: Uint8Array, source = 'device tree blob', base = 0): Fdt {
  const at = (off: number) => ({ file: source, offset: base + off });
  if (buf.length < FDT_HEADER_BYTES) throw new FormatError('FDT header', `${FDT_HEADER_BYTES} bytes`, `${buf.length} bytes`, at(0));
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const h = (i: number) => v.getUint32(i * 4, false);
  if (h(0) !== FDT_MAGIC) throw new FormatError('FDT magic', hex(FDT_MAGIC), hex(h(0)), at(0));
  const total = h(1);
  if (total < FDT_HEADER_BYTES || total > buf.length || total > FDT_MAX_BYTES) {
    throw new FormatError('FDT totalsize', `${FDT_HEADER_BYTES} to ${Math.min(buf.length, FDT_MAX_BYTES)}`, String(total), at(4));
  }
  if (h(6) > FDT_VERSION || h(5) < FDT_LAST_COMP_VERSION) {
    throw new FormatError('FDT version', `a version compatible with ${FDT_VERSION}`, `${h(5)} (last compatible ${h(6)})`, at(20));
  }
  const [offStruct, offStrings, offRsv, sizeStrings, sizeStruct] = [h(2), h(3), h(4), h(8), h(9)];
  const inside = (off: number, size: number) => off >= FDT_HEADER_BYTES && off + size <= total;
  if (!inside(offStruct, sizeStruct) || offStruct % 4)
    throw new FormatError('FDT structure block', `a 4-aligned block inside ${total} bytes`, `${sizeStruct} bytes at ${offStruct}`, at(8));
  if (!inside(offStrings, sizeStrings))
    throw new FormatError('FDT strings block', `a block inside ${total} bytes`, `${sizeStrings} bytes at ${offStrings}`, at(12));
  if (!inside(offRsv, 16) || offRsv % 8)
    throw new FormatError('FDT memory reservation map', `an 8-aligned map inside ${total} bytes`, `offset ${offRsv}`, at(16));

  const reservations: Fdt['reservations'] = [];
  for (let off = offRsv; ; off += 16) {
    if (off + 16 > total) throw new FormatError('FDT memory reservation map', 'a terminating zero entry', 'the end of the blob', at(off));
    const address = v.getBigUint64(off, false);
    const size = v.getBigUint64(off + 8, false);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }

  const cstring = (start: number, limit: number, what: string): string => {
    let end = start;
    while (end < limit && buf[end] !== 0) end++;
    if (end >= limit) throw new FormatError(what, 'a NUL-terminated string', 'no NUL before the end of its block', at(start));
    return Buffer.from(buf.subarray(start, end)).toString('utf8');
  };
  const structEnd = offStruct + sizeStruct;
  let pos = offStruct;
  const readToken = (): number => {
    if (pos + 4 > structEnd) throw new FormatError('FDT structure block', 'a token', 'the end of the block', at(pos));
    const t = v.getUint32(pos, false);
    pos += 4;
    return t;
  };
  const stack: FdtNode[] = [];
  let root: FdtNode | undefined;
  for (;;) {
    const tokenAt = pos;
    const t = readToken();
    if (t === FDT_NOP) continue;
    if (t === FDT_BEGIN_NODE) {
      if (root && stack.length === 0) throw new FormatError('FDT structure block', 'one root node', 'a second root', at(tokenAt));
      if (stack.length >= FDT_MAX_DEPTH)
        throw new FormatError('FDT structure block', `nesting up to ${FDT_MAX_DEPTH}`, 'deeper nodes', at(tokenAt));
      const name = cstring(pos, structEnd, 'FDT node name');
      pos += pad4(Buffer.byteLength(name) + 1);
      const n = node(name);
      if (stack.length) stack[stack.length - 1].children.push(n);
      else root = n;
      stack.push(n);
    } else if (t === FDT_END_NODE) {
      if (!stack.length)
        throw new FormatError('FDT structure block', 'FDT_END_NODE inside a node', 'an unmatched FDT_END_NODE', at(tokenAt));
      stack.pop();
    } else if (t === FDT_PROP) {
      if (!stack.length)
        throw new FormatError('FDT structure block', 'a property inside a node', 'a property outside any node', at(tokenAt));
      const len = readToken();
      const nameoff = readToken();
      if (len > structEnd - pos) throw new FormatError('FDT property length', `at most ${structEnd - pos}`, String(len), at(pos - 8));
      if (nameoff >= sizeStrings) throw new FormatError('FDT property name offset', `below ${sizeStrings}`, String(nameoff), at(pos - 4));
      const name = cstring(offStrings + nameoff, offStrings + sizeStrings, 'FDT property name');
      stack[stack.length - 1].props.set(name, buf.slice(pos, pos + len));
      pos += pad4(len);
    } else if (t === FDT_END) {
      if (stack.length || !root)
        throw new FormatError(
          'FDT structure block',
          'FDT_END after the root node closes',
          `FDT_END with ${stack.length} open nodes`,
          at(tokenAt),
        );
      break;
    } else {
      throw new FormatError('FDT structure token', 'BEGIN_NODE, END_NODE, PROP, NOP or END', hex(t), at(tokenAt));
    }
  }
  return { root: root!, reservations, bootCpuidPhys: h(7) };
}
