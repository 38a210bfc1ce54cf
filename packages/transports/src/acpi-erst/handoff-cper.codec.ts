import {
  cperTimestamp,
  CperSeverity,
  CPER_FLAG_PREVERR,
  CPER_GUIDS,
  CPER_RECORD_REVISION,
  CPER_SECTION_FLAG_PRIMARY,
  CPER_SECTION_REVISION,
  CPER_VALID_TIMESTAMP,
  decodeCperRecord,
  encodeCperRecord,
  NULL_GUID,
  EFIKDUMP_CPER_SECTION_GUID,
  EFIKDUMP_VENDOR_GUID,
  type CperRecord,
} from '@efikdump/core';

/** FRU text of the section: shows in Linux's BERT log lines and in `iasl`-decoded regions. */
export const HANDOFF_FRU_TEXT = 'efikdump handoff';

/**
 * The handoff record as a CPER record (UEFI Appendix N; domain reference §6.4): a 128-byte header
 * and one 72-byte section descriptor (200 bytes, as pstore-erst's records), then the encoded
 * record as the section body, under efikdump's section type.
 *
 * Severity is fatal, for the record and the section: the previous boot did end in a kernel
 * panic, and it is what Linux's pstore-erst writes for its panic records (domain reference
 * §6.2). Flags carry PREVERR (it is read on the next boot), ValidationBits the timestamp (UEFI's
 * BCD layout of the crash time). RecordID is the boot nonce: one record per boot, a rewrite in the
 * same boot replaces it.
 */
export function encodeHandoffCper(record: Uint8Array, nonce: string, crashTimeUnix: number): Uint8Array {
  const cper: CperRecord = {
    revision: CPER_RECORD_REVISION,
    severity: CperSeverity.Fatal,
    validationBits: CPER_VALID_TIMESTAMP,
    timestamp: cperTimestamp(new Date(crashTimeUnix * 1000)),
    platformId: NULL_GUID,
    partitionId: NULL_GUID,
    creatorId: EFIKDUMP_VENDOR_GUID,
    notificationType: CPER_GUIDS.notifyBoot,
    recordId: BigInt('0x' + nonce) || 1n,
    flags: CPER_FLAG_PREVERR,
    persistenceInfo: 0n,
    sections: [
      {
        revision: CPER_SECTION_REVISION,
        validationBits: 0,
        flags: CPER_SECTION_FLAG_PRIMARY,
        sectionType: EFIKDUMP_CPER_SECTION_GUID,
        fruId: NULL_GUID,
        severity: CperSeverity.Fatal,
        fruText: HANDOFF_FRU_TEXT,
        body: record,
      },
    ],
  };
  return encodeCperRecord(cper);
}

/** The handoff section body of a CPER record, or undefined when the record has none (FormatError when it is no CPER record). */
export function handoffSectionOf(cper: Uint8Array, source: string): Uint8Array | undefined {
  const rec = decodeCperRecord(cper, { file: source });
  return rec.sections.find((s) => s.sectionType === EFIKDUMP_CPER_SECTION_GUID)?.body;
}
