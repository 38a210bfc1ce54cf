import type { DependencyContainer } from 'tsyringe';
import { registerPlugin } from '@efikdump/core';
import { ReservedMemoryTransport } from './reserved-memory/reserved-memory.transport';

export { ReservedMemoryTransport } from './reserved-memory/reserved-memory.transport';
export * from './reserved-memory/handoff-record.codec';

/** Binds this package's plug-ins: transport `reserved-memory`. */
export function register(container: DependencyContainer): void {
  registerPlugin(container, 'transport', 'reserved-memory', ReservedMemoryTransport, 'versioned, checksummed record in the first page of the crashkernel reservation');
}
