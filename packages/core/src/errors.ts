/**
 * The error hierarchy every efikdump package throws. Each error carries where it happened
 * (file, offset, field) and what was expected, so the CLI can print one precise line.
 */
export interface ErrorPlace {
  /** File (or logical source such as "old memory") that held the bad data. */
  file?: string;
  /** Byte offset inside that file or source. */
  offset?: number;
  /** Dotted field path inside a configuration document. */
  field?: string;
}

export abstract class EfikdumpError extends Error {
  /** Process exit code the CLI uses for this class of error. */
  abstract readonly exitCode: number;
  readonly file?: string;
  readonly offset?: number;
  readonly field?: string;

  constructor(message: string, place: ErrorPlace = {}) {
    super(message);
    this.name = new.target.name;
    this.file = place.file;
    this.offset = place.offset;
    this.field = place.field;
  }

  /** `file:offset: message` (or `file: field: message`), the line the CLI prints. */
  describe(): string {
    const where: string[] = [];
    if (this.file !== undefined) where.push(this.file);
    if (this.offset !== undefined) where.push(`0x${this.offset.toString(16)}`);
    if (this.field !== undefined) where.push(this.field);
    return where.length ? `${where.join(':')}: ${this.message}` : this.message;
  }
}

/** A binary structure did not have the shape its format requires. */
export class FormatError extends EfikdumpError {
  readonly exitCode = 3;
  readonly expected: string;
  readonly found: string;
  constructor(what: string, expected: string, found: string, place: ErrorPlace = {}) {
    super(`${what}: expected ${expected}, found ${found}`, place);
    this.expected = expected;
    this.found = found;
  }
}

/** A design, scenario, option or command-line value is invalid. */
export class ConfigError extends EfikdumpError {
  readonly exitCode = 2;
}

/** A handoff transport could not store or find its record. */
export class TransportError extends EfikdumpError {
  readonly exitCode = 4;
}

/** A dump does not match the truth manifest. */
export class VerifyError extends EfikdumpError {
  readonly exitCode = 5;
}

/** Reading or writing a file failed (wraps the system error with the path). */
export class IoError extends EfikdumpError {
  readonly exitCode = 6;
}

/** Something that should be impossible happened inside the simulator. */
export class SimulationError extends EfikdumpError {
  readonly exitCode = 7;
}

export function isEfikdumpError(e: unknown): e is EfikdumpError {
  return e instanceof EfikdumpError;
}
