import type { DependencyContainer } from 'tsyringe';
import { registerPlugin } from '@efikdump/core';
import { ReservedMemoryTransport } from './reserved-memory/reserved-memory.transport';
import { EfiVariableTransport } from './efi-variable/efi-variable.transport';
import { AcpiErstTransport } from './acpi-erst/acpi-erst.transport';
import { FdtTransport } from './fdt/fdt.transport';
import { CMDLINE_TRANSPORT_OPTIONS, CmdlineTransport, NoTransport } from './cmdline/cmdline.transport';

export { ReservedMemoryTransport } from './reserved-memory/reserved-memory.transport';
export { EfiVariableTransport, HANDOFF_VARIABLE_ATTRIBUTES, MAX_HANDOFF_VARIABLES } from './efi-variable/efi-variable.transport';
export { AcpiErstTransport } from './acpi-erst/acpi-erst.transport';
export { FdtTransport, FDT_MAX_BLOB_BYTES, buildHandoffBlob } from './fdt/fdt.transport';
export {
  CmdlineTransport,
  NoTransport,
  CMDLINE_LOCATION,
  CMDLINE_TRANSPORT_OPTIONS,
  type CmdlineTransportOptions,
} from './cmdline/cmdline.transport';
export * from './reserved-memory/persistent-zone.codec';
export * from './fdt/fdt.codec';
export * from './fdt/handoff-fdt.codec';
export * from './acpi-erst/handoff-cper.codec';
// The handoff conventions (the record codec, efikdump's names, building the record, the handoff
// slot, the persist report) are shared by every transport and the stub: core holds them; their
// names stay exported here.
export {
  RECORD_MAGIC,
  RECORD_VERSION,
  RECORD_HEADER_BYTES,
  RECORD_MAX_RANGES,
  RECORD_MAX_REASON_BYTES,
  RECORD_MAX_LOG_BYTES,
  RECORD_MAX_BYTES,
  RECORD_MAC_OFFSET,
  RECORD_MAC_BYTES,
  FLAG_ARMED,
  FLAG_CRASHED,
  type HandoffRecord,
  truncateUtf8,
  recordMac,
  encodeHandoffRecord,
  decodeHandoffRecord,
  verifyRecordMac,
  EFIKDUMP_VENDOR_GUID,
  EFIKDUMP_CPER_SECTION_GUID,
  HANDOFF_VARIABLE_PREFIX,
  RESET_DATA_PREFIX,
  handoffVariableName,
  buildHandoffRecord,
  currentHandoffInfo,
  panicLogTail,
  NO_NONCE,
  locateHandoffSlot,
  readHandoffSlot,
  clearHandoffSlot,
  PERSIST_METRICS,
  startPersist,
  reportPersisted,
  reportPersistFailure,
  warnUnsigned,
  type PersistCost,
  type PersistMetric,
} from '@efikdump/core';

/** Binds this package's plug-ins: transports `reserved-memory`, `efi-variable`, `acpi-erst`, `fdt`, `cmdline`, `none`. */
export function register(container: DependencyContainer): void {
  registerPlugin(
    container,
    'transport',
    'reserved-memory',
    ReservedMemoryTransport,
    'the record in a Reed-Solomon protected persistent zone in the first page of the crashkernel reservation',
  );
  registerPlugin(
    container,
    'transport',
    'efi-variable',
    EfiVariableTransport,
    'the record split across NV|BS|RT EFI variables, written on the non-blocking panic path',
  );
  registerPlugin(
    container,
    'transport',
    'acpi-erst',
    AcpiErstTransport,
    'the record as a CPER record written through ERST, found in BERT (or the ERST store) on the next boot',
  );
  registerPlugin(
    container,
    'transport',
    'cmdline',
    CmdlineTransport,
    'classic kexec: elfcorehdr= and memmap= on the command line loaded with the capture kernel (no reset survives it)',
    { options: CMDLINE_TRANSPORT_OPTIONS },
  );
  registerPlugin(container, 'transport', 'none', NoTransport, 'nothing stored: the platform keeps the dump registration (fadump)');
  registerPlugin(
    container,
    'transport',
    'fdt',
    FdtTransport,
    'the record as a Kexec-HandOver style device tree blob in the first page of the reservation',
  );
}
