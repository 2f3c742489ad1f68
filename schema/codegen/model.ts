/** Stage 3 of the generator: the checked, resolved schema every emitter works from. */
import type { DocBlock } from './parse';

export const BUILTIN_TYPES = [
  'str', 'int', 'int8', 'int16', 'int32', 'int64',
  'uint8', 'uint16', 'uint32', 'uint64', 'size', 'number', 'bool', 'any', 'null',
] as const;
export type BuiltinName = (typeof BUILTIN_TYPES)[number];

export type TypeRef =
  | { kind: 'builtin'; name: BuiltinName }
  | { kind: 'named'; name: string }
  | { kind: 'list'; of: TypeRef };

export interface Member {
  name: string;
  optional: boolean;
  type: TypeRef;
  doc: string;
}

interface DefBase {
  name: string;
  doc: DocBlock | null;
  file: string;
  line: number;
}

export interface StructDef extends DefBase {
  meta: 'struct';
  /** base members first, then own members, in schema order */
  members: Member[];
}

export interface EnumDef extends DefBase {
  meta: 'enum';
  values: string[];
}

export interface AlternateDef extends DefBase {
  meta: 'alternate';
  branches: Member[];
}

export interface UnionDef extends DefBase {
  meta: 'union';
  baseMembers: Member[];
  discriminator: string;
  discriminatorEnum: string;
  /** enum value → branch struct name; values without a branch carry only the base */
  branches: Map<string, string>;
}

export type TypeDef = StructDef | EnumDef | AlternateDef | UnionDef;

export interface CommandDef extends DefBase {
  args: Member[];
  returns: TypeRef | null;
  successResponse: boolean;
}

export interface SchemaModel {
  /** in schema order */
  types: TypeDef[];
  typesByName: Map<string, TypeDef>;
  /** in registration (schema) order */
  commands: CommandDef[];
}

export function describeType(t: TypeRef): string {
  if (t.kind === 'list') return `[${describeType(t.of)}]`;
  return t.name;
}

/** Every named type reachable from `roots` (through members, branches, bases), each once. */
export function reachableTypeNames(model: SchemaModel, roots: readonly TypeRef[]): Set<string> {
  const out = new Set<string>();
  const visit = (t: TypeRef): void => {
    if (t.kind === 'list') return visit(t.of);
    if (t.kind !== 'named' || out.has(t.name)) return;
    out.add(t.name);
    const def = model.typesByName.get(t.name)!;
    if (def.meta === 'struct') def.members.forEach((m) => visit(m.type));
    if (def.meta === 'alternate') def.branches.forEach((m) => visit(m.type));
    if (def.meta === 'union') {
      def.baseMembers.forEach((m) => visit(m.type));
      visit({ kind: 'named', name: def.discriminatorEnum });
      for (const b of def.branches.values()) visit({ kind: 'named', name: b });
    }
  };
  roots.forEach(visit);
  return out;
}
