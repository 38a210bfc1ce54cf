import { FormatError, type ErrorPlace } from '@efikdump/core';

// ITU-T X.690 DER: the few constructs CMS EnvelopedData and an X.509 certificate need.
export const DER = {
  integer: 0x02,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  sequence: 0x30,
  set: 0x31,
} as const;

function encodeLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return Buffer.concat([Uint8Array.of(tag), encodeLength(body.length), body]);
}

export const seq = (...c: Uint8Array[]): Uint8Array => tlv(DER.sequence, ...c);
export const setOf = (...c: Uint8Array[]): Uint8Array => tlv(DER.set, ...c);
export const octets = (b: Uint8Array): Uint8Array => tlv(DER.octetString, b);
export const smallInt = (n: number): Uint8Array => tlv(DER.integer, Uint8Array.of(n));
/** [n] EXPLICIT (constructed context tag). */
export const explicit = (n: number, ...c: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...c);

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [arcs[0] * 40 + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    let x = arc;
    do {
      groups.unshift(x & 0x7f);
      x = Math.floor(x / 128);
    } while (x > 0);
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return tlv(DER.oid, Uint8Array.from(out));
}

export interface DerNode {
  tag: number;
  /** Offset of the tag byte inside the buffer. */
  start: number;
  /** Offset of the content. */
  contentStart: number;
  end: number;
  /** The whole TLV. */
  raw: Uint8Array;
  content: Uint8Array;
}

/** Reads the TLV at `off`, checking its length against the buffer. */
export function readTlv(buf: Uint8Array, off: number, place: ErrorPlace = {}): DerNode {
  const where = { ...place, offset: (place.offset ?? 0) + off };
  if (off + 2 > buf.length) throw new FormatError('DER element', 'a tag and a length', `${Math.max(0, buf.length - off)} bytes`, where);
  const tag = buf[off];
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new FormatError('DER length', '1 to 4 length bytes', `${n}`, where);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new FormatError('DER element', `${len} bytes of content`, `${buf.length - p} bytes`, where);
  return { tag, start: off, contentStart: p, end: p + len, raw: buf.subarray(off, p + len), content: buf.subarray(p, p + len) };
}

/** The children of a constructed node. */
export function children(node: DerNode, place: ErrorPlace = {}): DerNode[] {
  const out: DerNode[] = [];
  let off = 0;
  while (off < node.content.length) {
    const c = readTlv(node.content, off, { ...place, offset: (place.offset ?? 0) + node.contentStart });
    out.push(c);
    off = c.end;
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string, place: ErrorPlace = {}): DerNode {
  if (!node || node.tag !== tag)
    throw new FormatError(what, `DER tag 0x${tag.toString(16)}`, node ? `0x${node.tag.toString(16)}` : 'nothing', place);
  return node;
}
