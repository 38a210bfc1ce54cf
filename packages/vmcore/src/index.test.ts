import { container as globalContainer } from 'tsyringe';
import { bindSlot, CAPTURE, catalogOf, RUN_CONTAINER, RUN_CONTEXT, WRITER, ConfigError, PhysicalMemory } from '@efikdump/core';
import { ElfDumpWriter, KdumpCompressedDumpWriter, LinuxCaptureKernel, register } from './index';
import { makeTestContext } from './testing/run-context';

describe('register', () => {
  it('names the capture kernel and the writer in the catalog', () => {
    const root = globalContainer.createChildContainer();
    register(root);
    const catalog = catalogOf(root);
    expect(catalog.list().map((e) => `${e.slot}:${e.name}`)).toEqual(['capture:linux-vmcore', 'writer:elf', 'writer:kdump-compressed']);
    expect(catalog.get('writer', 'elf').implementation).toBe(ElfDumpWriter);
    expect(catalog.get('writer', 'kdump-compressed').implementation).toBe(KdumpCompressedDumpWriter);
    expect(() => catalog.get('writer', 'kdump')).toThrow(
      new ConfigError('Unknown writer: kdump (known: elf, kdump-compressed)', { field: 'components.writer' }),
    );
  });

  it("resolves both by constructor injection of the run context in a run's child container", () => {
    const root = globalContainer.createChildContainer();
    register(root);
    const run = root.createChildContainer();
    const { ctx } = makeTestContext(new PhysicalMemory({ seed: 1, ram: [{ start: 0, end: 1 << 20 }] }));
    run.registerInstance(RUN_CONTEXT, ctx);
    run.registerInstance(RUN_CONTAINER, run);
    bindSlot(run, catalogOf(root), 'capture', ['linux-vmcore']);
    bindSlot(run, catalogOf(root), 'writer', ['elf']);
    const capture = run.resolve(CAPTURE);
    const writer = run.resolve(WRITER);
    expect(capture).toBeInstanceOf(LinuxCaptureKernel);
    expect((capture as LinuxCaptureKernel).ctx).toBe(ctx);
    expect(writer).toBeInstanceOf(ElfDumpWriter);
    expect(writer.name).toBe('elf');
    expect((writer as ElfDumpWriter).ctx).toBe(ctx);
    expect(run.resolve(WRITER)).toBe(writer);
    const other = root.createChildContainer();
    other.registerInstance(RUN_CONTEXT, ctx);
    bindSlot(other, catalogOf(root), 'writer', ['kdump-compressed']);
    expect(other.resolve(WRITER)).toBeInstanceOf(KdumpCompressedDumpWriter);
    expect((other.resolve(WRITER) as KdumpCompressedDumpWriter).ctx).toBe(ctx);
  });
});
