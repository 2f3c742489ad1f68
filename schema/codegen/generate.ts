/** The whole pipeline, parse → check → model → emit, as a pure function of the schema text. */
import { checkSchema } from './check';
import { emitCommands, emitTypes, emitValidators, type GeneratedFile } from './emit-typescript';
import { emitClient } from './emit-client';
import { emitMarkdown } from './emit-markdown';
import { parseSchemaText } from './parse';
import type { SchemaModel } from './model';

export function loadModel(text: string, file: string): SchemaModel {
  return checkSchema(parseSchemaText(text, file));
}

export function generateAll(text: string, schemaPath: string): GeneratedFile[] {
  const model = loadModel(text, schemaPath);
  return [
    { path: 'src/generated/qga-types.ts', content: emitTypes(model, schemaPath) },
    { path: 'src/generated/qga-validators.ts', content: emitValidators(model, schemaPath) },
    { path: 'src/generated/qga-commands.ts', content: emitCommands(model, schemaPath) },
    { path: 'docs/commands.md', content: emitMarkdown(model, schemaPath) },
    { path: 'src/generated/qga-client.ts', content: emitClient(model, schemaPath) },
  ];
}
