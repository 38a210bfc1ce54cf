export * from './guid';
export * from './gpt.codec';
export * from './gpt-image';
export * from './offline-dump-config.codec';
export * from './raw-dump.codec';
export * from './enc-dump.codec';
export { encodeEnvelopedData, decodeEnvelopedData, loadRsaCertificate, certificateIssuerAndSerial, WrongKeyError } from './cms-envelope';
export * from './offline-dump.writer';
export * from './offline-dump.reader';
