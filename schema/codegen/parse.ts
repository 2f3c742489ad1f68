/**
 * Stage 1 of the generator: QAPI schema text → raw expressions with their doc comments and
 * source positions. The syntax is QEMU's: single-quoted strings, `#` comments, dicts, lists,
 * true/false; `##` blocks are doc comments attached to the next expression.
 */
export class SchemaError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly why: string,
  ) {
    super(`${file}:${line}: ${why}`);
    this.name = 'SchemaError';
  }
}

export type RawValue = string | boolean | RawValue[] | RawDict;
export interface RawDict {
  /** insertion order is the source order */
  entries: Map<string, RawValue>;
  line: number;
}

export interface DocSection {
  /** `@member` name, or a tag like `Returns`, `Since`, `Errors`, or '' for the free description */
  tag: string;
  text: string;
  line: number;
}

export interface DocBlock {
  /** the `@name:` the block documents, or null for a free-form (e.g. `= Title`) block */
  symbol: string | null;
  body: string;
  members: DocSection[];
  sections: DocSection[];
  line: number;
}

export interface RawExpr {
  dict: RawDict;
  doc: DocBlock | null;
  file: string;
  line: number;
}

export function isRawDict(v: RawValue | undefined): v is RawDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseSchemaText(text: string, file: string): RawExpr[] {
  return new SchemaParser(text, file).parseAll();
}

class SchemaParser {
  private pos = 0;
  private line = 1;
  private pendingDoc: DocBlock | null = null;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  private fail(why: string, line = this.line): never {
    throw new SchemaError(this.file, line, why);
  }

  parseAll(): RawExpr[] {
    const out: RawExpr[] = [];
    for (;;) {
      this.skipSpaceAndComments(true);
      if (this.pos >= this.text.length) break;
      const ch = this.text[this.pos];
      if (ch !== '{') this.fail(`expected '{' at top level, found '${ch}'`);
      const line = this.line;
      const value = this.parseValue();
      if (!isRawDict(value)) this.fail('top-level expression must be a dict', line);
      out.push({ dict: value, doc: this.pendingDoc, file: this.file, line });
      this.pendingDoc = null;
    }
    if (this.pendingDoc && this.pendingDoc.symbol !== null) {
      this.fail(`documentation for '${this.pendingDoc.symbol}' is not followed by its definition`, this.pendingDoc.line);
    }
    return out;
  }

  /** At top level, `##` starts a doc block; elsewhere `#` comments are plain comments. */
  private skipSpaceAndComments(topLevel: boolean): void {
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined) return;
      if (ch === '\n') {
        this.line++;
        this.pos++;
      } else if (ch === ' ' || ch === '\t' || ch === '\r') {
        this.pos++;
      } else if (ch === '#') {
        const atLineStart = this.pos === 0 || this.text[this.pos - 1] === '\n';
        if (topLevel && atLineStart && this.restOfLine().trimEnd() === '##') {
          const block = this.readDocBlock();
          if (block.symbol === null) {
            // A free-form section (a title): it documents nothing by itself.
            this.pendingDoc = null;
          } else {
            if (this.pendingDoc) {
              this.fail(`documentation for '${this.pendingDoc.symbol}' is not followed by its definition`, this.pendingDoc.line);
            }
            this.pendingDoc = block;
          }
        } else {
          this.skipLine();
        }
      } else {
        return;
      }
    }
  }

  private restOfLine(): string {
    const end = this.text.indexOf('\n', this.pos);
    return this.text.slice(this.pos, end === -1 ? this.text.length : end);
  }

  private skipLine(): void {
    const end = this.text.indexOf('\n', this.pos);
    this.pos = end === -1 ? this.text.length : end;
  }

  private readDocBlock(): DocBlock {
    const startLine = this.line;
    this.skipLine(); // the opening '##'
    const lines: { text: string; line: number }[] = [];
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated doc comment', startLine);
      this.pos++; // newline
      this.line++;
      const raw = this.restOfLine();
      if (raw.trimEnd() === '##') {
        this.skipLine();
        break;
      }
      if (!raw.startsWith('#')) this.fail("doc comment lines must start with '#'");
      if (raw.length > 1 && raw[1] !== ' ') this.fail("doc comment text must follow '# '");
      lines.push({ text: raw.slice(2), line: this.line });
      this.skipLine();
    }
    return buildDocBlock(lines, startLine, (why, line) => this.fail(why, line));
  }

  private parseValue(): RawValue {
    this.skipSpaceAndComments(false);
    const ch = this.text[this.pos];
    const line = this.line;
    if (ch === '{') {
      this.pos++;
      const entries = new Map<string, RawValue>();
      this.skipSpaceAndComments(false);
      if (this.text[this.pos] === '}') {
        this.pos++;
        return { entries, line };
      }
      for (;;) {
        this.skipSpaceAndComments(false);
        const keyLine = this.line;
        if (this.text[this.pos] === '"') this.fail('strings must use single quotes');
        if (this.text[this.pos] !== "'") this.fail('expected a single-quoted string as dict key');
        const key = this.parseString();
        if (entries.has(key)) this.fail(`duplicate key '${key}'`, keyLine);
        this.skipSpaceAndComments(false);
        if (this.text[this.pos] !== ':') this.fail("expected ':' after dict key");
        this.pos++;
        entries.set(key, this.parseValue());
        this.skipSpaceAndComments(false);
        const sep = this.text[this.pos];
        this.pos++;
        if (sep === '}') return { entries, line };
        if (sep !== ',') this.fail("expected ',' or '}' in dict");
      }
    }
    if (ch === '[') {
      this.pos++;
      const items: RawValue[] = [];
      this.skipSpaceAndComments(false);
      if (this.text[this.pos] === ']') {
        this.pos++;
        return items;
      }
      for (;;) {
        items.push(this.parseValue());
        this.skipSpaceAndComments(false);
        const sep = this.text[this.pos];
        this.pos++;
        if (sep === ']') return items;
        if (sep !== ',') this.fail("expected ',' or ']' in list");
      }
    }
    if (ch === "'") return this.parseString();
    if (this.text.startsWith('true', this.pos)) {
      this.pos += 4;
      return true;
    }
    if (this.text.startsWith('false', this.pos)) {
      this.pos += 5;
      return false;
    }
    if (ch === '"') this.fail('strings must use single quotes');
    this.fail(ch === undefined ? 'unexpected end of file' : `unexpected '${ch}'`);
  }

  private parseString(): string {
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined || ch === '\n') this.fail('unterminated string');
      this.pos++;
      if (ch === "'") return out;
      if (ch === '\\') this.fail('escapes are not allowed in schema strings');
      out += ch;
    }
  }
}

const TAG_RE = /^(Returns|Errors|Since|Notes?|Example|Examples|Features|TODO):\s*(.*)$/;

function buildDocBlock(
  lines: { text: string; line: number }[],
  startLine: number,
  fail: (why: string, line: number) => never,
): DocBlock {
  if (lines.length === 0) fail('empty doc comment', startLine);
  const first = lines[0]!;
  if (first.text.startsWith('= ') || first.text.startsWith('== ')) {
    return { symbol: null, body: lines.map((l) => l.text).join('\n'), members: [], sections: [], line: startLine };
  }
  const sym = /^@([A-Za-z0-9_.-]+):\s*$/.exec(first.text);
  if (!sym) fail("doc comment must start with '@name:' or '= Title'", first.line);
  const block: DocBlock = { symbol: sym[1]!, body: '', members: [], sections: [], line: startLine };
  let current: DocSection = { tag: '', text: '', line: first.line };
  const flush = () => {
    current.text = current.text.trim();
    if (current.tag === '') block.body = current.text;
    else if (current.tag.startsWith('@')) block.members.push({ ...current, tag: current.tag.slice(1) });
    else block.sections.push(current);
  };
  for (const l of lines.slice(1)) {
    const member = /^@([A-Za-z0-9_*.-]+):\s?(.*)$/.exec(l.text);
    const tag = TAG_RE.exec(l.text);
    if (member) {
      flush();
      if (block.members.some((m) => m.tag === member[1])) fail(`duplicate documentation of '@${member[1]}'`, l.line);
      current = { tag: `@${member[1]}`, text: member[2] ?? '', line: l.line };
    } else if (tag) {
      flush();
      current = { tag: tag[1]!, text: tag[2] ?? '', line: l.line };
    } else {
      current.text += `\n${l.text.replace(/^ {0,4}/, '')}`;
    }
  }
  flush();
  return block;
}
