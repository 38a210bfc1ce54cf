// The one implementation lives in core; kept here so this package's public API does not change.
export { writeDirectoryAtomic } from '@efikdump/core';
