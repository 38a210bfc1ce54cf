import { RESET_DATA_PREFIX } from '@efikdump/core';

/**
 * The boot nonce a ResetData string names when it is efikdump's crash notice
 * (`"efikdump: crash <nonce>"`, `RESET_DATA_PREFIX` and the nonce, as the persist report passes it
 * to ResetSystem); undefined for any other reason. Read for matching against a record, never for
 * deciding.
 */
export function crashNonceOf(resetData: string): string | undefined {
  return resetData.startsWith(RESET_DATA_PREFIX) ? resetData.slice(RESET_DATA_PREFIX.length) : undefined;
}
