import fc from 'fast-check';
import { decodeBootSecret, encodeBootSecret, NONCE_HISTORY, type BootSecret } from './boot-secret';

const nonce = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => n.toString(16).padStart(16, '0'));
const secret: fc.Arbitrary<BootSecret> = fc.record({
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nonce,
  issuedAtBoot: fc.integer({ min: 0, max: 0xffffffff }),
  captureBoots: fc.integer({ min: 0, max: 0xffffffff }),
  earlierNonces: fc.array(nonce, { maxLength: NONCE_HISTORY }),
});

describe('EfikdumpBootSecret codec', () => {
  test('decode(encode(x)) == x', () => {
    fc.assert(
      fc.property(secret, (s) => expect(decodeBootSecret(encodeBootSecret(s))).toEqual(s)),
      { numRuns: 300 },
    );
  });

  test('keeps at most the last 16 nonces', () => {
    const s: BootSecret = {
      key: new Uint8Array(32),
      nonce: '1'.repeat(16),
      issuedAtBoot: 3,
      captureBoots: 0,
      earlierNonces: Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(16, '0')),
    };
    expect(decodeBootSecret(encodeBootSecret(s))!.earlierNonces).toEqual(s.earlierNonces.slice(0, NONCE_HISTORY));
  });

  test('anything else is not a secret (undefined, never a throw)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const d = decodeBootSecret(b);
        if (d) expect(encodeBootSecret(d)).toEqual(b);
      }),
      { numRuns: 500 },
    );
    const good = encodeBootSecret({
      key: new Uint8Array(32),
      nonce: 'a'.repeat(16),
      issuedAtBoot: 1,
      captureBoots: 0,
      earlierNonces: ['b'.repeat(16)],
    });
    expect(decodeBootSecret(good.subarray(0, good.length - 1))).toBeUndefined();
    const badVersion = good.slice();
    badVersion[4] = 2;
    expect(decodeBootSecret(badVersion)).toBeUndefined();
  });
});
