import {
  constants,
  createCipheriv,
  createDecipheriv,
  publicEncrypt,
  privateDecrypt,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { FormatError, type ErrorPlace } from '@efikdump/core';
import { children, DER, explicit, expectTag, octets, oid, readTlv, seq, setOf, smallInt, tlv, type DerNode } from './der';

// RFC 5652 §6 EnvelopedData with one KeyTransRecipientInfo (rid issuerAndSerialNumber), the
// content-encryption key transported with RSAES-OAEP (RFC 8017 §7.1; parameters RFC 4055 §4.1:
// SHA-256 and MGF1-SHA-256), the content (the 16-byte dump key) encrypted with AES-128-CBC.
export const OID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
export const OID_DATA = '1.2.840.113549.1.7.1';
export const OID_RSAES_OAEP = '1.2.840.113549.1.1.7';
export const OID_MGF1 = '1.2.840.113549.1.1.8';
export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
export const OID_AES128_CBC = '2.16.840.1.101.3.4.1.2';

const oaepParams = (): Uint8Array => seq(explicit(0, seq(oid(OID_SHA256))), explicit(1, seq(oid(OID_MGF1), seq(oid(OID_SHA256)))));

/** The issuer Name and serialNumber INTEGER (whole TLVs) of a DER certificate (RFC 5280 §4.1). */
export function certificateIssuerAndSerial(der: Uint8Array, place: ErrorPlace = {}): { issuer: Uint8Array; serial: Uint8Array } {
  const cert = expectTag(readTlv(der, 0, place), DER.sequence, 'Certificate', place);
  const tbs = expectTag(children(cert, place)[0], DER.sequence, 'TBSCertificate', place);
  const fields = children(tbs, place);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0;
  const serial = expectTag(fields[i++], DER.integer, 'Certificate serialNumber', place);
  expectTag(fields[i++], DER.sequence, 'Certificate signature', place);
  const issuer = expectTag(fields[i], DER.sequence, 'Certificate issuer', place);
  return { issuer: Uint8Array.from(issuer.raw), serial: Uint8Array.from(serial.raw) };
}

/** Parses a DER or PEM X.509 certificate and checks it carries an RSA key; throws FormatError otherwise. */
export function loadRsaCertificate(certificate: Uint8Array, place: ErrorPlace = {}): { cert: X509Certificate; der: Uint8Array } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(certificate));
  } catch (e) {
    throw new FormatError('X.509 certificate', 'a DER or PEM certificate', (e as Error).message, place);
  }
  if (cert.publicKey.asymmetricKeyType !== 'rsa')
    throw new FormatError('certificate public key', 'RSA', `${cert.publicKey.asymmetricKeyType}`, place);
  return { cert, der: new Uint8Array(cert.raw) };
}

/** Wraps `content` (the dump key) for the holder of `certificate`'s private key. */
export function encodeEnvelopedData(
  content: Uint8Array,
  certificate: Uint8Array,
  random: (n: number) => Uint8Array = (n) => randomBytes(n),
): Uint8Array {
  const { cert, der } = loadRsaCertificate(certificate);
  const { issuer, serial } = certificateIssuerAndSerial(der);
  const cek = random(16);
  const iv = random(16);
  const cipher = createCipheriv('aes-128-cbc', cek, iv);
  const encryptedContent = Buffer.concat([cipher.update(content), cipher.final()]);
  const encryptedKey = publicEncrypt({ key: cert.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  const ktri = seq(smallInt(0), seq(issuer, serial), seq(oid(OID_RSAES_OAEP), oaepParams()), octets(encryptedKey));
  const envelopedData = seq(
    smallInt(0),
    setOf(ktri),
    seq(oid(OID_DATA), seq(oid(OID_AES128_CBC), octets(iv)), tlv(0x80, encryptedContent)),
  );
  return seq(oid(OID_ENVELOPED_DATA), explicit(0, envelopedData));
}

const oidOf = (node: DerNode | undefined, what: string, place: ErrorPlace): string => {
  const n = expectTag(node, DER.oid, what, place).content;
  const arcs = [Math.floor(n[0] / 40), n[0] % 40];
  let x = 0;
  for (let i = 1; i < n.length; i++) {
    x = x * 128 + (n[i] & 0x7f);
    if (!(n[i] & 0x80)) {
      arcs.push(x);
      x = 0;
    }
  }
  return arcs.join('.');
};

/** A private key that cannot open the envelope; the CLI prints it as one line. */
export class WrongKeyError extends FormatError {}

/** Opens an EnvelopedData written by encodeEnvelopedData with the certificate's private key. */
export function decodeEnvelopedData(der: Uint8Array, privateKey: KeyObject, place: ErrorPlace = {}): Uint8Array {
  const ci = children(expectTag(readTlv(der, 0, place), DER.sequence, 'CMS ContentInfo', place), place);
  const type = oidOf(ci[0], 'CMS contentType', place);
  if (type !== OID_ENVELOPED_DATA) throw new FormatError('CMS contentType', `envelopedData (${OID_ENVELOPED_DATA})`, type, place);
  const env = children(expectTag(children(expectTag(ci[1], 0xa0, 'CMS [0] content', place))[0], DER.sequence, 'EnvelopedData', place));
  const recipients = children(expectTag(env[1], DER.set, 'EnvelopedData recipientInfos', place));
  const ktri = children(expectTag(recipients[0], DER.sequence, 'KeyTransRecipientInfo', place));
  const keyAlg = oidOf(children(expectTag(ktri[2], DER.sequence, 'keyEncryptionAlgorithm', place))[0], 'keyEncryptionAlgorithm', place);
  if (keyAlg !== OID_RSAES_OAEP) throw new FormatError('keyEncryptionAlgorithm', `id-RSAES-OAEP (${OID_RSAES_OAEP})`, keyAlg, place);
  const encryptedKey = expectTag(ktri[3], DER.octetString, 'encryptedKey', place).content;
  const eci = children(expectTag(env[2], DER.sequence, 'EncryptedContentInfo', place));
  const contentAlg = children(expectTag(eci[1], DER.sequence, 'contentEncryptionAlgorithm', place));
  const calg = oidOf(contentAlg[0], 'contentEncryptionAlgorithm', place);
  if (calg !== OID_AES128_CBC) throw new FormatError('contentEncryptionAlgorithm', `aes128-CBC (${OID_AES128_CBC})`, calg, place);
  const iv = expectTag(contentAlg[1], DER.octetString, 'AES-CBC IV', place).content;
  const encryptedContent = expectTag(eci[2], 0x80, 'encryptedContent', place).content;
  let cek: Buffer;
  try {
    cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
  } catch {
    throw new WrongKeyError(
      'dump key envelope',
      'the private key of the certificate the dump was encrypted to',
      'a key that cannot decrypt it (wrong key)',
      place,
    );
  }
  try {
    const d = createDecipheriv('aes-128-cbc', cek, iv);
    return new Uint8Array(Buffer.concat([d.update(encryptedContent), d.final()]));
  } catch {
    throw new WrongKeyError(
      'dump key envelope content',
      'AES-128-CBC content that decrypts with the transported key',
      'bad padding',
      place,
    );
  }
}
