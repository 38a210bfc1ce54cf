import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FormatError } from '@efikdump/core';
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
  type Fdt,
  type FdtNode,
} from './fdt.codec';

const sample = (): Fdt => ({
  bootCpuidPhys: 0,
  reservations: [{ address: 0x9000000n, size: 0x1000n }],
  root: node(
    '',
    [
      ['compatible', stringProp('efikdump,test')],
      ['#address-cells', u32Cells(2)],
      ['#size-cells', u32Cells(2)],
    ],
    [
      node('chosen', [['bootargs', stringProp('ro quiet')]]),
      node('memory@0', [
        ['device_type', stringProp('memory')],
        ['reg', u64Cells(0, 0x40000000)],
      ]),
    ],
  ),
});

function same(a: FdtNode, b: FdtNode): void {
  expect(b.name).toBe(a.name);
  expect([...b.props.keys()]).toEqual([...a.props.keys()]);
  for (const [k, v] of a.props) expect(Buffer.from(b.props.get(k)!)).toEqual(Buffer.from(v));
  expect(b.children).toHaveLength(a.children.length);
  a.children.forEach((c, i) => same(c, b.children[i]));
}

describe('Devicetree Specification v0.4 §5 flattened blob', () => {
  test('encode then decode gives the same tree, reservations and values', () => {
    const fdt = sample();
    const back = decodeFdt(encodeFdt(fdt));
    same(fdt.root, back.root);
    expect(back.reservations).toEqual(fdt.reservations);
    expect(readStringProp(back.root.children[0].props.get('bootargs')!)).toBe('ro quiet');
    expect(readU64Cells(back.root.children[1].props.get('reg')!)).toEqual([0n, 0x40000000n]);
    expect(readU32Cells(back.root.props.get('#size-cells')!)).toEqual([2]);
  });

  test('round trip of arbitrary trees', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9,._+-]{0,20}(@[0-9a-f]{1,8})?$/);
    const props = fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z#][a-z0-9,._+#-]{0,16}$/), fc.uint8Array({ maxLength: 40 })), {
      selector: (p) => p[0],
      maxLength: 5,
    });
    const leaf = fc.record({ name, props }).map((n) => node(n.name, n.props));
    const mid = fc.record({ name, props, children: fc.array(leaf, { maxLength: 3 }) }).map((n) => node(n.name, n.props, n.children));
    const tree = fc.record({ name, props, children: fc.array(mid, { maxLength: 3 }) }).map((n) => node(n.name, n.props, n.children));
    fc.assert(
      fc.property(tree, (child) => {
        const fdt: Fdt = { bootCpuidPhys: 3, reservations: [], root: node('', [], [child]) };
        same(fdt.root, decodeFdt(encodeFdt(fdt)).root);
      }),
      { numRuns: 200 },
    );
  });

  test('random and mutated blobs end in FormatError only', () => {
    const valid = encodeFdt(sample());
    const check = (bytes: Uint8Array) => {
      try {
        decodeFdt(bytes);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => check(b)),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const m = valid.slice();
        m[pos] ^= x;
        check(m);
      }),
      { numRuns: 2000 },
    );
  });

  test('a header claiming a huge size or a bad token names the offset', () => {
    const bad = encodeFdt(sample());
    new DataView(bad.buffer).setUint32(4, 0xffffffff, false);
    expect(() => decodeFdt(bad, 'x.dtb')).toThrow(/x\.dtb.*FDT totalsize|FDT totalsize/);
    try {
      decodeFdt(bad, 'x.dtb');
    } catch (e) {
      expect((e as FormatError).offset).toBe(4);
    }
  });

  const dtc = spawnSync('dtc', ['--version'], { encoding: 'utf8' }).status === 0;
  if (!dtc && process.env.EFIKDUMP_REQUIRE_INTEROP === '1') throw new Error('dtc (device-tree-compiler) is required but missing');
  (dtc ? test : test.skip)('dtc -I dtb -O dts reads our blob and prints every property', () => {
    const dir = mkdtempSync(join(tmpdir(), 'efikdump-fdt-'));
    try {
      const file = join(dir, 'x.dtb');
      writeFileSync(file, encodeFdt(sample()));
      const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/\/memreserve\/\s+0x0*9000000 0x0*1000;/);
      expect(r.stdout).toContain('compatible = "efikdump,test";');
      expect(r.stdout).toContain('bootargs = "ro quiet";');
      expect(r.stdout).toMatch(/memory@0 \{[\s\S]*reg = <0x00 0x00 0x00 0x40000000>;/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
