// Names and GUIDs efikdump owns (our vendor namespace; no standard exists, domain reference §5.5, §7).

/** Vendor GUID of every efikdump EFI variable (handoff chunks, the stub's boot secret). */
export const EFIKDUMP_VENDOR_GUID = '6f3d2a1c-8e4b-4c7a-9d2e-5b1a0c9f8e7d';
/** CPER section type of a handoff record (the section body is the encoded record). */
export const EFIKDUMP_CPER_SECTION_GUID = '0b9e5c7a-3f21-4d8e-a6c4-2e7f9d1b5a30';
/** Prefix of the handoff variables: EfikdumpHandoff0000, EfikdumpHandoff0001, ... */
export const HANDOFF_VARIABLE_PREFIX = 'EfikdumpHandoff';
/** The ResetData string the panic path passes to ResetSystem: this prefix, then the boot nonce. */
export const RESET_DATA_PREFIX = 'efikdump: crash ';

export const handoffVariableName = (index: number): string =>
  `${HANDOFF_VARIABLE_PREFIX}${index.toString(16).toUpperCase().padStart(4, '0')}`;
