import { ConfigError } from '@efikdump/core';
import { parseElfcorehdrParam, splitKernelCmdline } from './elfcorehdr-param';

describe('parseElfcorehdrParam', () => {
  it.each([
    ['elfcorehdr=0x4000@0x2800000', { paddr: 0x2800000, sizeBytes: 0x4000 }],
    ['elfcorehdr=16K@40960K', { paddr: 0x2800000, sizeBytes: 0x4000 }],
    ['elfcorehdr=40960K', { paddr: 0x2800000 }],
    ['elfcorehdr=0x2800000', { paddr: 0x2800000 }],
    ['elfcorehdr=41943040', { paddr: 0x2800000 }],
    ['elfcorehdr=40m', { paddr: 0x2800000 }],
    ['elfcorehdr=1G', { paddr: 1 << 30 }],
    ['elfcorehdr=010', { paddr: 8 }],
    ['elfcorehdr=0', { paddr: 0 }],
  ])('%s', (arg, want) => {
    expect(parseElfcorehdrParam(`ro console=ttyS0 ${arg} irqpoll maxcpus=1`)).toEqual(want);
  });

  it('is undefined without the parameter, the last one wins, and init arguments do not count', () => {
    expect(parseElfcorehdrParam('root=/dev/vda1 ro')).toBeUndefined();
    expect(parseElfcorehdrParam('')).toBeUndefined();
    expect(parseElfcorehdrParam('elfcorehdr=4K elfcorehdr=8K')).toEqual({ paddr: 8192 });
    expect(parseElfcorehdrParam('ro -- elfcorehdr=4K')).toBeUndefined();
    expect(parseElfcorehdrParam('xelfcorehdr=4K')).toBeUndefined();
    expect(parseElfcorehdrParam('"elfcorehdr=0x1000@0x2000"')).toEqual({ paddr: 0x2000, sizeBytes: 0x1000 });
  });

  it.each([
    'elfcorehdr=',
    'elfcorehdr=zz',
    'elfcorehdr=0x',
    'elfcorehdr=12@',
    'elfcorehdr=0x10z',
    'elfcorehdr=16K@0x1000@5',
    'elfcorehdr=09',
    'elfcorehdr=1E',
  ])('rejects %s with a ConfigError', (arg) => {
    expect(() => parseElfcorehdrParam(arg)).toThrow(ConfigError);
  });
});

describe('splitKernelCmdline', () => {
  it('splits on whitespace and groups double quotes', () => {
    expect(splitKernelCmdline('  a=1  b="x y"  "c d" ""  ')).toEqual(['a=1', 'b=x y', 'c d', '']);
  });
});
