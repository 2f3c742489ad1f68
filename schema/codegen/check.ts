/**
 * Stage 2 of the generator: raw expressions → a checked SchemaModel. Every rejection names the
 * file and line of the offending definition. `if` conditions are evaluated here against the
 * Linux build configuration, so emitters only ever see what the agent really registers.
 */
import { BUILTIN_TYPES, type BuiltinName, type CommandDef, type Member, type SchemaModel, type TypeDef, type TypeRef } from './model';
import { isRawDict, SchemaError, type RawDict, type RawExpr, type RawValue } from './parse';

/** Conditions that hold for qga-ts: a Linux build with every optional feature. */
export const LINUX_CONDITIONS: ReadonlySet<string> = new Set([
  'CONFIG_LINUX', 'CONFIG_POSIX', 'CONFIG_FSFREEZE', 'CONFIG_FSTRIM', 'HAVE_GETIFADDRS',
  'HAVE_UTMPX', 'CONFIG_LIBUDEV', 'CONFIG_GETLOADAVG',
]);
export const KNOWN_FALSE_CONDITIONS: ReadonlySet<string> = new Set(['CONFIG_WIN32', 'CONFIG_BSD']);

const META_KEYS: Record<string, readonly string[]> = {
  command: ['command', 'data', 'returns', 'success-response', 'if', 'features', 'gen', 'boxed', 'allow-oob'],
  struct: ['struct', 'data', 'base', 'if', 'features'],
  type: ['type', 'data', 'base', 'if', 'features'],
  enum: ['enum', 'data', 'if', 'prefix', 'features'],
  alternate: ['alternate', 'data', 'if', 'features'],
  union: ['union', 'base', 'discriminator', 'data', 'if', 'features'],
};

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]*$/;

interface Pending {
  meta: string;
  name: string;
  expr: RawExpr;
}

export function checkSchema(exprs: RawExpr[], conditions: ReadonlySet<string> = LINUX_CONDITIONS): SchemaModel {
  const pending: Pending[] = [];
  const seen = new Map<string, RawExpr>();
  for (const expr of exprs) {
    const fail = (why: string, line = expr.line): never => {
      throw new SchemaError(expr.file, line, why);
    };
    const metas = Object.keys(META_KEYS).filter((m) => expr.dict.entries.has(m));
    if (metas.length !== 1) fail(`expression must have exactly one of ${Object.keys(META_KEYS).map((m) => `'${m}'`).join(', ')}`);
    const meta = metas[0]!;
    for (const key of expr.dict.entries.keys()) {
      if (!META_KEYS[meta]!.includes(key)) fail(`'${meta}' definition has unknown key '${key}'`);
    }
    const name = expr.dict.entries.get(meta);
    if (typeof name !== 'string' || !NAME_RE.test(name)) fail(`'${meta}' name must be a string made of letters, digits, '-' and '_'`);
    const nm = name as string;
    if ((BUILTIN_TYPES as readonly string[]).includes(nm)) fail(`'${nm}' is a built-in type name`);
    if (seen.has(nm)) fail(`'${nm}' is already defined at line ${seen.get(nm)!.line}`);
    seen.set(nm, expr);
    checkDoc(expr, nm, fail);
    const cond = expr.dict.entries.get('if');
    if (cond !== undefined && !evalCondition(cond, conditions, fail)) continue;
    pending.push({ meta: meta === 'type' ? 'struct' : meta, name: nm, expr });
  }

  const byName = new Map(pending.map((p) => [p.name, p]));
  const droppedNames = new Set([...seen.keys()].filter((n) => !byName.has(n)));
  const types: TypeDef[] = [];
  const typesByName = new Map<string, TypeDef>();
  const commands: CommandDef[] = [];
  const structMembers = new Map<string, Member[]>();

  const resolveRef = (v: RawValue | undefined, ctx: Pending, what: string): TypeRef => {
    const fail = (why: string): never => {
      throw new SchemaError(ctx.expr.file, ctx.expr.line, why);
    };
    if (Array.isArray(v)) {
      if (v.length !== 1) fail(`${what}: a list type must name exactly one element type`);
      return { kind: 'list', of: resolveRef(v[0], ctx, what) };
    }
    if (typeof v !== 'string') return fail(`${what}: type must be a name or [name]`);
    if ((BUILTIN_TYPES as readonly string[]).includes(v)) return { kind: 'builtin', name: v as BuiltinName };
    if (byName.has(v)) {
      if (byName.get(v)!.meta === 'command') fail(`${what}: '${v}' is a command, not a type`);
      return { kind: 'named', name: v };
    }
    if (droppedNames.has(v)) fail(`${what}: type '${v}' is excluded by its 'if' condition`);
    return fail(`${what}: unknown type '${v}'`);
  };

  const membersOf = (data: RawValue | undefined, ctx: Pending, what: string): Member[] => {
    const fail = (why: string): never => {
      throw new SchemaError(ctx.expr.file, ctx.expr.line, why);
    };
    if (!isRawDict(data)) return fail(`${what}: 'data' must be a dict of members`);
    const out: Member[] = [];
    for (const [rawName, rawType] of data.entries) {
      const optional = rawName.startsWith('*');
      const name = optional ? rawName.slice(1) : rawName;
      if (!NAME_RE.test(name)) fail(`${what}: invalid member name '${rawName}'`);
      if (out.some((m) => m.name === name)) fail(`${what}: duplicate member '${name}'`);
      let typeValue: RawValue | undefined = rawType;
      if (isRawDict(rawType)) {
        for (const k of rawType.entries.keys()) if (k !== 'type' && k !== 'if' && k !== 'features') fail(`${what}: member '${name}' has unknown key '${k}'`);
        const c = rawType.entries.get('if');
        if (c !== undefined && !evalCondition(c, conditions, fail)) continue;
        typeValue = rawType.entries.get('type');
      }
      // Undocumented members are allowed: extension hunks written for qemu (like the seed's
      // guest-get-statvfs) must paste in unchanged, and some of them leave arguments undocumented.
      const doc = ctx.expr.doc?.members.find((m) => m.tag === name)?.text;
      out.push({ name, optional, type: resolveRef(typeValue, ctx, `${what} member '${name}'`), doc: doc ?? '' });
    }
    return out;
  };

  // Structs first (in order, resolving bases recursively), so unions and commands can use them.
  const structInProgress = new Set<string>();
  const structMembersFor = (name: string): Member[] => {
    const done = structMembers.get(name);
    if (done) return done;
    const p = byName.get(name)!;
    const fail = (why: string): never => {
      throw new SchemaError(p.expr.file, p.expr.line, why);
    };
    if (structInProgress.has(name)) fail(`struct '${name}' includes itself through 'base'`);
    structInProgress.add(name);
    let base: Member[] = [];
    const rawBase = p.expr.dict.entries.get('base');
    if (rawBase !== undefined) {
      if (typeof rawBase === 'string') {
        const b = byName.get(rawBase);
        if (!b || b.meta !== 'struct') fail(`struct '${name}': base '${rawBase}' must be a struct`);
        base = structMembersFor(rawBase);
      } else base = membersOf(rawBase, p, `struct '${name}' base`);
    }
    const own = membersOf(p.expr.dict.entries.get('data'), p, `struct '${name}'`);
    for (const m of own) if (base.some((b) => b.name === m.name)) fail(`struct '${name}': member '${m.name}' collides with its base`);
    const all = [...base, ...own];
    structMembers.set(name, all);
    structInProgress.delete(name);
    return all;
  };

  for (const p of pending) {
    const { expr, name } = p;
    const e = expr.dict.entries;
    const fail = (why: string): never => {
      throw new SchemaError(expr.file, expr.line, why);
    };
    const common = { name, doc: expr.doc, file: expr.file, line: expr.line };
    switch (p.meta) {
      case 'struct': {
        const def: TypeDef = { ...common, meta: 'struct', members: structMembersFor(name) };
        types.push(def);
        typesByName.set(name, def);
        break;
      }
      case 'enum': {
        const data = e.get('data');
        if (!Array.isArray(data)) fail(`enum '${name}': 'data' must be a list of values`);
        const values: string[] = [];
        for (const v of data as RawValue[]) {
          let value: RawValue | undefined = v;
          if (isRawDict(v)) {
            const c = v.entries.get('if');
            if (c !== undefined && !evalCondition(c, conditions, fail)) continue;
            value = v.entries.get('name');
          }
          if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value)) fail(`enum '${name}': invalid value ${JSON.stringify(value)}`);
          if (values.includes(value as string)) fail(`enum '${name}': duplicate value '${value}'`);
          values.push(value as string);
        }
        if (values.length === 0) fail(`enum '${name}' has no values`);
        const def: TypeDef = { ...common, meta: 'enum', values };
        types.push(def);
        typesByName.set(name, def);
        break;
      }
      case 'alternate': {
        const branches = membersOf(e.get('data'), p, `alternate '${name}'`);
        if (branches.length === 0) fail(`alternate '${name}' has no branches`);
        if (branches.some((b) => b.optional)) fail(`alternate '${name}': branches cannot be optional`);
        const def: TypeDef = { ...common, meta: 'alternate', branches };
        types.push(def);
        typesByName.set(name, def);
        break;
      }
      case 'union': {
        const rawBase = e.get('base');
        let baseMembers: Member[];
        if (typeof rawBase === 'string') {
          const b = byName.get(rawBase);
          if (!b || b.meta !== 'struct') fail(`union '${name}': base '${rawBase}' must be a struct`);
          baseMembers = structMembersFor(rawBase);
        } else baseMembers = membersOf(rawBase, p, `union '${name}' base`);
        const discriminator = e.get('discriminator');
        if (typeof discriminator !== 'string') return fail(`union '${name}' needs a 'discriminator'`);
        const disc = baseMembers.find((m) => m.name === discriminator);
        if (!disc || disc.optional || disc.type.kind !== 'named' || byName.get(disc.type.name)?.meta !== 'enum') {
          fail(`union '${name}': discriminator '${discriminator}' must be a required enum member of the base`);
        }
        const discEnum = (disc!.type as { name: string }).name;
        const data = e.get('data');
        if (!isRawDict(data)) return fail(`union '${name}': 'data' must be a dict of branches`);
        const branches = new Map<string, string>();
        for (const [value, branch] of data.entries) {
          const target = isRawDict(branch) ? branch.entries.get('type') : branch;
          if (typeof target !== 'string' || byName.get(target)?.meta !== 'struct') fail(`union '${name}': branch '${value}' must name a struct`);
          branches.set(value, target as string);
        }
        const def: TypeDef = { ...common, meta: 'union', baseMembers, discriminator, discriminatorEnum: discEnum, branches };
        types.push(def);
        typesByName.set(name, def);
        break;
      }
      case 'command': {
        const data = e.get('data');
        let args: Member[] = [];
        if (typeof data === 'string') {
          if (byName.get(data)?.meta !== 'struct') fail(`command '${name}': 'data' names '${data}', which is not a struct`);
          args = structMembersFor(data);
        } else if (data !== undefined) args = membersOf(data, p, `command '${name}'`);
        const returns = e.has('returns') ? resolveRef(e.get('returns'), p, `command '${name}' returns`) : null;
        const sr = e.get('success-response');
        if (sr !== undefined && typeof sr !== 'boolean') fail(`command '${name}': 'success-response' must be true or false`);
        if (sr === false && returns) fail(`command '${name}': a command without a success response cannot declare 'returns'`);
        commands.push({ ...common, args, returns, successResponse: sr !== false });
        break;
      }
    }
  }

  // Enum checks that need every type: union branches must be enum values.
  for (const t of types) {
    if (t.meta !== 'union') continue;
    const en = typesByName.get(t.discriminatorEnum);
    for (const value of t.branches.keys()) {
      if (en?.meta !== 'enum' || !en.values.includes(value)) {
        throw new SchemaError(t.file, t.line, `union '${t.name}': branch '${value}' is not a value of enum '${t.discriminatorEnum}'`);
      }
    }
  }
  // Alternates: branches must be distinguishable by JSON type.
  for (const t of types) {
    if (t.meta !== 'alternate') continue;
    const seenKinds = new Map<string, string>();
    for (const b of t.branches) {
      const kind = jsonKindOf(b.type, typesByName);
      if (seenKinds.has(kind)) {
        throw new SchemaError(t.file, t.line, `alternate '${t.name}': branches '${seenKinds.get(kind)}' and '${b.name}' are both JSON ${kind}s`);
      }
      seenKinds.set(kind, b.name);
    }
  }
  if (commands.length === 0 && types.length === 0) throw new SchemaError(exprs[0]?.file ?? '<schema>', 1, 'schema defines nothing');
  const model = { types, typesByName, commands };
  checkDocumentedMembers(model);
  return model;
}

/** The JSON type an alternate branch is selected by (qemu's QType of the input). */
export function jsonKindOf(t: TypeRef, typesByName: Map<string, TypeDef>): string {
  if (t.kind === 'list') return 'array';
  if (t.kind === 'builtin') {
    if (t.name === 'str') return 'string';
    if (t.name === 'bool') return 'boolean';
    if (t.name === 'null') return 'null';
    if (t.name === 'any') return 'any';
    return 'number';
  }
  const def = typesByName.get(t.name);
  if (def?.meta === 'enum') return 'string';
  return 'object';
}

function evalCondition(c: RawValue, conditions: ReadonlySet<string>, fail: (why: string) => never): boolean {
  if (typeof c === 'string') {
    if (!/^[A-Z][A-Z0-9_]*$/.test(c)) fail(`invalid 'if' condition '${c}'`);
    if (!conditions.has(c) && !KNOWN_FALSE_CONDITIONS.has(c)) fail(`unknown 'if' condition '${c}'`);
    return conditions.has(c);
  }
  if (!isRawDict(c) || c.entries.size !== 1) return fail("'if' must be a name or one of {'all': [...]}, {'any': [...]}, {'not': ...}");
  const [op, arg] = [...(c as RawDict).entries][0]!;
  if (op === 'not') return !evalCondition(arg, conditions, fail);
  if (!Array.isArray(arg) || arg.length === 0) return fail(`'if' '${op}' needs a non-empty list`);
  if (op === 'all') return arg.every((x) => evalCondition(x, conditions, fail));
  if (op === 'any') return arg.some((x) => evalCondition(x, conditions, fail));
  return fail(`unknown 'if' operator '${op}'`);
}

function checkDoc(expr: RawExpr, name: string, fail: (why: string, line?: number) => never): void {
  const doc = expr.doc;
  if (!doc) fail(`definition '${name}' has no doc comment`);
  if (doc!.symbol !== name) fail(`doc comment is for '${doc!.symbol}' but the definition is '${name}'`, doc!.line);
}

/** A doc comment may not describe a member the definition does not have (a renamed member). */
export function checkDocumentedMembers(model: SchemaModel): void {
  const check = (def: { name: string; doc: import('./parse').DocBlock | null; file: string; line: number }, members: Member[]) => {
    for (const d of def.doc?.members ?? []) {
      if (!members.some((m) => m.name === d.tag)) {
        throw new SchemaError(def.file, d.line, `'${def.name}' documents '@${d.tag}', which it does not have`);
      }
    }
  };
  for (const t of model.types) {
    if (t.meta === 'struct') check(t, t.members);
    else if (t.meta === 'alternate') check(t, t.branches);
    else if (t.meta === 'union') check(t, t.baseMembers);
  }
  for (const c of model.commands) check(c, c.args);
}
