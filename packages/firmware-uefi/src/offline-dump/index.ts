export * from './guid';
export * from './gpt.codec';
export * from './gpt-image';
export * from './offline-dump-config.codec';
export * from './raw-dump.codec';
export * from './enc-dump.codec';
export { encodeEnvelopedData, decodeEnvelopedData, loadRsaCertificate, certificateIssuerAndSerial, WrongKeyError } from './cms-envelope';
export * from './offline-dump.writer';
export * from './offline-dump.reader';
export * from './sealed-file';
export * from './firmware-dump-writer';
export {
  FirmwareWritesDumpExit,
  OffcdVariablesPlainTransport,
  OffcdVariablesEncryptedTransport,
  OFFLINE_DUMP_DEMO_CERTIFICATE,
  OFFLINE_DUMP_DEMO_KEY,
  OFFLINE_DUMP_RESET_REASON,
} from './firmware-writes-dump.exit';
