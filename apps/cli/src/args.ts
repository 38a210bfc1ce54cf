import { ConfigError } from '@efikdump/core/base';

export interface OptionSpec {
  name: string;
  value?: string;
  help: string;
  default?: string;
}

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  options: OptionSpec[];
  /** Number of positional arguments: [min, max]. */
  positionals: [number, number];
}

export interface ParsedArgs {
  options: Map<string, string | true>;
  positionals: string[];
}

/** Parses `--name value`, `--name=value` and `--flag`; unknown options are errors that list the known ones. */
export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      const opt = spec.options.find((o) => o.name === name);
      if (!opt) {
        throw new ConfigError(
          `unknown option --${name} for "efikdump ${spec.name}" (options: ${spec.options.map((o) => '--' + o.name).join(', ')})`,
          { field: `--${name}` },
        );
      }
      if (opt.value) {
        const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined || (eq < 0 && value.startsWith('--')))
          throw new ConfigError(`--${name} needs a value (${opt.value})`, { field: `--${name}` });
        options.set(name, value);
      } else {
        if (eq > 0) throw new ConfigError(`--${name} takes no value`, { field: `--${name}` });
        options.set(name, true);
      }
    } else if (arg.startsWith('-') && arg.length > 1) {
      if (arg === '-h') options.set('help', true);
      else if (arg === '-o' && spec.options.some((o) => o.name === 'out')) {
        const value = argv[++i];
        if (value === undefined) throw new ConfigError('-o needs a file name', { field: '-o' });
        options.set('out', value);
      } else throw new ConfigError(`unknown option ${arg} for "efikdump ${spec.name}"`, { field: arg });
    } else {
      positionals.push(arg);
    }
  }
  if (!options.has('help')) {
    const [min, max] = spec.positionals;
    if (positionals.length < min || positionals.length > max) {
      throw new ConfigError(
        `"efikdump ${spec.name}" takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}; usage: ${spec.usage}`,
      );
    }
  }
  return { options, positionals };
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}`, '', spec.summary, ''];
  if (spec.options.length) {
    lines.push('options:');
    for (const o of spec.options) {
      const left = `  --${o.name}${o.value ? ' ' + o.value : ''}`;
      lines.push(`${left.padEnd(28)}${o.help}${o.default ? ` (default: ${o.default})` : ''}`);
    }
  }
  return lines.join('\n');
}

/**
 * The value of an integer option (`--name N`, decimal digits only) from `min` to `max`, or
 * undefined when the option was not given; anything else is a ConfigError naming the option.
 */
export function integerOption(value: string | true | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new ConfigError(`--${name} expects an integer from ${min} to ${max}, found "${value}"`, { field: `--${name}` });
  return n;
}
