import { FormatError, toSafeNumber, PAGE_SIZE, type MemoryDescriptor } from '@efikdump/core';

// EFI_MEMORY_DESCRIPTOR (UEFI 2.10 §7.2 GetMemoryMap; domain reference §5.7): Type u32 @0, pad,
// PhysicalStart u64 @8, VirtualStart u64 @16, NumberOfPages u64 @24, Attribute u64 @32 = 40 bytes;
// firmware steps by DescriptorSize (edk2: 48, the descriptor rounded up plus a u64 for growth).
export const EFI_MEMORY_DESCRIPTOR_VERSION = 1;
export const EFI_MEMORY_DESCRIPTOR_BYTES = 40;
export const DESCRIPTOR_SIZE = 48;

export function encodeMemoryMap(map: readonly MemoryDescriptor[], descriptorSize = DESCRIPTOR_SIZE): Uint8Array {
  if (descriptorSize < EFI_MEMORY_DESCRIPTOR_BYTES || descriptorSize % 8)
    throw new FormatError('DescriptorSize', 'a multiple of 8 of at least 40', String(descriptorSize));
  const out = new Uint8Array(map.length * descriptorSize);
  const v = new DataView(out.buffer);
  map.forEach((d, i) => {
    const o = i * descriptorSize;
    v.setUint32(o, d.type, true);
    v.setBigUint64(o + 8, BigInt(d.start), true);
    v.setBigUint64(o + 16, d.virtualStart ?? 0n, true);
    v.setBigUint64(o + 24, BigInt(d.pages), true);
    v.setBigUint64(o + 32, d.attribute, true);
  });
  return out;
}

/** Decodes a GetMemoryMap buffer: whole descriptors only, page-aligned starts, ranges below 2^53. */
export function decodeMemoryMap(buf: Uint8Array, descriptorSize = DESCRIPTOR_SIZE, file?: string): MemoryDescriptor[] {
  if (descriptorSize < EFI_MEMORY_DESCRIPTOR_BYTES || descriptorSize % 8)
    throw new FormatError('DescriptorSize', 'a multiple of 8 of at least 40', String(descriptorSize), { file });
  if (buf.length % descriptorSize)
    throw new FormatError('memory map', `a multiple of ${descriptorSize} bytes`, `${buf.length} bytes`, { file });
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: MemoryDescriptor[] = [];
  for (let o = 0; o < buf.length; o += descriptorSize) {
    const start = toSafeNumber(v.getBigUint64(o + 8, true), 'PhysicalStart', { file, offset: o + 8 });
    const pages = toSafeNumber(v.getBigUint64(o + 24, true), 'NumberOfPages', { file, offset: o + 24 });
    if (start % PAGE_SIZE)
      throw new FormatError('PhysicalStart', 'a 4 KiB-aligned address', `0x${start.toString(16)}`, { file, offset: o + 8 });
    if (!Number.isSafeInteger(start + pages * PAGE_SIZE))
      throw new FormatError('NumberOfPages', 'a range ending below 2^53', String(pages), { file, offset: o + 24 });
    const d: MemoryDescriptor = { type: v.getUint32(o, true), start, pages, attribute: v.getBigUint64(o + 32, true) };
    const virt = v.getBigUint64(o + 16, true);
    if (virt !== 0n) d.virtualStart = virt;
    out.push(d);
  }
  return out;
}

/** GetMemoryMap's contract: with a buffer too small, EFI_BUFFER_TOO_SMALL and the size needed. */
export function getMemoryMap(
  map: readonly MemoryDescriptor[],
  bufferBytes: number,
  mapKey: number,
):
  | { status: 'EFI_SUCCESS'; buffer: Uint8Array; mapSize: number; mapKey: number; descriptorSize: number; descriptorVersion: number }
  | { status: 'EFI_BUFFER_TOO_SMALL'; mapSize: number } {
  const mapSize = map.length * DESCRIPTOR_SIZE;
  if (bufferBytes < mapSize) return { status: 'EFI_BUFFER_TOO_SMALL', mapSize };
  return {
    status: 'EFI_SUCCESS',
    buffer: encodeMemoryMap(map),
    mapSize,
    mapKey,
    descriptorSize: DESCRIPTOR_SIZE,
    descriptorVersion: EFI_MEMORY_DESCRIPTOR_VERSION,
  };
}
