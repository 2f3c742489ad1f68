/**
 * glibc's getopt_long, as a pure scan of argv. qemu-ga parses its command line with it, so the
 * accepted spellings and the error lines must be glibc's (checked against glibc 2.36 by feeding the
 * same argv vectors to getopt_long with qemu-ga's option table):
 *
 * - Options and operands may be mixed; operands are skipped (GNU permutation), unless
 *   POSIXLY_CORRECT is set, in which case the first operand ends option parsing. `--` always ends
 *   it; a lone `-` is an operand.
 * - Short options bundle (`-vd`). A required argument is the rest of the word (`-pPATH`) or else
 *   the next word, whatever it looks like (`-p -v` gives path `-v`). An optional argument must be
 *   attached (`-F/path`); `-F /path` leaves `/path` as an operand.
 * - Long options take `--name=value`, or the next word when the argument is required. Any
 *   unambiguous prefix of a long name works (`--dump` is `--dump-conf`); an exact name always wins.
 * - After an error the scan goes on, as getopt does; the caller decides when to stop (qemu-ga stops
 *   at the first error in its second pass, and ignores errors in its first).
 */
import { GetoptMessages } from './messages';

export type ArgumentMode = 'none' | 'required' | 'optional';

export interface OptionSpec {
  /** What the caller matches on. */
  readonly id: string;
  /** Single-character short name, if any. */
  readonly short?: string;
  /** Long name without the leading dashes, if any. */
  readonly long?: string;
  readonly argument: ArgumentMode;
  /**
   * Whether a prefix of the long name selects it (glibc: always). Our own extensions set this to
   * false so that they never make an abbreviation that works with qemu-ga ambiguous here.
   */
  readonly abbreviable?: boolean;
}

export type GetoptEvent =
  | {
      readonly kind: 'option';
      readonly id: string;
      /** undefined when the option takes none, or an optional one was not attached. */
      readonly argument: string | undefined;
    }
  | {
      readonly kind: 'error';
      /** getopt's stderr line, without the newline. */
      readonly message: string;
    };

export interface GetoptScan {
  /** Options and errors in the order getopt_long would return them. */
  readonly events: readonly GetoptEvent[];
  readonly operands: readonly string[];
}

export interface GetoptSettings {
  /** POSIXLY_CORRECT is set in the environment: stop at the first operand. */
  readonly posixlyCorrect: boolean;
}

/** Scans argv (argv[0] is the program name used in messages) like repeated getopt_long calls. */
export function scanOptions(
  argv: readonly string[],
  options: readonly OptionSpec[],
  settings: GetoptSettings,
): GetoptScan {
  const program = argv[0] ?? '';
  const events: GetoptEvent[] = [];
  const operands: string[] = [];
  const option = (id: string, argument: string | undefined): void => {
    events.push({ kind: 'option', id, argument });
  };
  const error = (message: string): void => {
    events.push({ kind: 'error', message });
  };

  let index = 1;
  while (index < argv.length) {
    const word = argv[index] as string;
    if (word === '--') {
      operands.push(...argv.slice(index + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      if (settings.posixlyCorrect) {
        operands.push(...argv.slice(index));
        break;
      }
      operands.push(word);
      index++;
      continue;
    }

    if (word.startsWith('--')) {
      index++;
      const body = word.slice(2);
      const equals = body.indexOf('=');
      const name = equals >= 0 ? body.slice(0, equals) : body;
      const attached = equals >= 0 ? body.slice(equals + 1) : undefined;

      const match = findLongOption(options, name);
      if (match.kind === 'none') {
        error(GetoptMessages.unrecognizedOption(program, body));
        continue;
      }
      if (match.kind === 'ambiguous') {
        error(GetoptMessages.ambiguousOption(program, body, match.candidates));
        continue;
      }
      const spec = match.spec;
      const longName = spec.long as string;
      if (attached !== undefined) {
        if (spec.argument === 'none') {
          error(GetoptMessages.argumentNotAllowed(program, longName));
        } else {
          option(spec.id, attached);
        }
      } else if (spec.argument === 'required') {
        if (index < argv.length) {
          option(spec.id, argv[index]);
          index++;
        } else {
          error(GetoptMessages.longArgumentRequired(program, longName));
        }
      } else {
        option(spec.id, undefined);
      }
      continue;
    }

    // A bundle of short options: each letter in turn until one takes the rest as its argument.
    index++;
    const letters = Array.from(word.slice(1));
    for (let k = 0; k < letters.length; k++) {
      const letter = letters[k] as string;
      const spec = options.find((candidate) => candidate.short === letter);
      if (spec === undefined) {
        error(GetoptMessages.invalidShortOption(program, letter));
        continue;
      }
      const rest = letters.slice(k + 1).join('');
      if (spec.argument === 'none') {
        option(spec.id, undefined);
        continue;
      }
      if (rest !== '') {
        option(spec.id, rest);
      } else if (spec.argument === 'optional') {
        option(spec.id, undefined);
      } else if (index < argv.length) {
        option(spec.id, argv[index]);
        index++;
      } else {
        error(GetoptMessages.shortArgumentRequired(program, letter));
      }
      break;
    }
  }
  return { events, operands };
}

type LongMatch =
  | { readonly kind: 'found'; readonly spec: OptionSpec }
  | { readonly kind: 'ambiguous'; readonly candidates: readonly string[] }
  | { readonly kind: 'none' };

function findLongOption(options: readonly OptionSpec[], name: string): LongMatch {
  const exact = options.find((spec) => spec.long === name);
  if (exact !== undefined) return { kind: 'found', spec: exact };

  const prefixed = options.filter(
    (spec) => spec.long !== undefined && spec.abbreviable !== false && spec.long.startsWith(name),
  );
  const first = prefixed[0];
  if (first === undefined) return { kind: 'none' };
  // glibc only complains when the candidates would behave differently.
  const distinct = prefixed.some(
    (spec) => spec.id !== first.id || spec.argument !== first.argument,
  );
  if (!distinct) return { kind: 'found', spec: first };
  return { kind: 'ambiguous', candidates: prefixed.map((spec) => spec.long as string) };
}
