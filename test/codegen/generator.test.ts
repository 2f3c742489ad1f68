import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { generateAll, loadModel } from '../../schema/codegen/generate';
import { SchemaError } from '../../schema/codegen/parse';
import { repoPath } from '../support/repo';

const root = repoPath();
const schemaText = fs.readFileSync(path.join(root, 'schema/qga.json'), 'utf8');
const fixtures = path.join(root, 'test/fixtures/schema');

// reference Appendix B, reversed: the upstream registration order on a full Linux build
const UPSTREAM_LINUX_ORDER = `guest-network-get-route guest-get-load guest-get-cpustats guest-get-diskstats
guest-ssh-remove-authorized-keys guest-ssh-add-authorized-keys guest-ssh-get-authorized-keys guest-get-osinfo
guest-get-timezone guest-get-users guest-get-host-name guest-exec guest-exec-status guest-get-memory-block-info
guest-set-memory-blocks guest-get-memory-blocks guest-set-user-password guest-get-fsinfo guest-get-disks
guest-set-vcpus guest-get-vcpus guest-network-get-interfaces guest-suspend-hybrid guest-suspend-ram
guest-suspend-disk guest-fstrim guest-fsfreeze-thaw guest-fsfreeze-freeze-list guest-fsfreeze-freeze
guest-fsfreeze-status guest-file-flush guest-file-seek guest-file-write guest-file-read guest-file-close
guest-file-open guest-shutdown guest-info guest-set-time guest-get-time guest-ping guest-sync
guest-sync-delimited`.split(/\s+/).reverse();

test('the schema registers the 43 upstream Linux commands in upstream order, then the extensions', () => {
  const model = loadModel(schemaText, 'schema/qga.json');
  const names = model.commands.map((c) => c.name);
  assert.deepEqual(names, [...UPSTREAM_LINUX_ORDER, 'guest-get-statvfs', 'guest-get-memory-stats']);
  const noSuccess = model.commands.filter((c) => !c.successResponse).map((c) => c.name);
  assert.deepEqual(noSuccess, ['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-ram', 'guest-suspend-hybrid']);
  assert.ok(!model.typesByName.has('GuestDeviceInfo'), 'Windows-only types are dropped by their if condition');
});

test('guest-get-statvfs returns eleven uint64 fields in our schema', () => {
  const model = loadModel(schemaText, 'schema/qga.json');
  const cmd = model.commands.find((c) => c.name === 'guest-get-statvfs')!;
  assert.deepEqual(cmd.args.map((a) => [a.name, a.optional, a.type]), [['path', false, { kind: 'builtin', name: 'str' }]]);
  const ret = model.typesByName.get('GuestFileSystemStatistics');
  assert.equal(ret?.meta, 'struct');
  const fields = ret.meta === 'struct' ? ret.members : [];
  assert.deepEqual(
    fields.map((m) => m.name),
    ['f_bsize', 'f_frsize', 'f_blocks', 'f_bfree', 'f_bavail', 'f_files', 'f_ffree', 'f_favail', 'f_fsid', 'f_flag', 'f_namemax'],
  );
  assert.ok(fields.every((m) => m.type.kind === 'builtin' && m.type.name === 'uint64' && !m.optional));
});

test("the seed article's statvfs schema hunk generates unchanged, alone and pasted into our schema", () => {
  const hunk = fs.readFileSync(path.join(fixtures, 'seed-statvfs.json'), 'utf8');
  const alone = loadModel(hunk, 'seed-statvfs.json');
  assert.deepEqual(alone.commands.map((c) => c.name), ['guest-get-statvfs']);
  const legacy = alone.typesByName.get('GuestFileSystemStatistics');
  assert.equal(legacy?.meta, 'struct', "the legacy 'type' keyword means struct");
  assert.equal(generateAll(hunk, 'seed-statvfs.json').length, 5);

  // Paste the hunk in place of our own statvfs definitions: the result must still generate.
  const withoutOurs = schemaText.slice(0, schemaText.indexOf('##\n# @GuestFileSystemStatistics:'));
  const pasted = `${withoutOurs}\n${hunk}`;
  const model = loadModel(pasted, 'pasted.json');
  assert.equal(model.commands.at(-1)?.name, 'guest-get-statvfs');
  const files = generateAll(pasted, 'pasted.json');
  const types = files.find((f) => f.path.endsWith('qga-types.ts'))!.content;
  assert.match(types, /export interface GuestFileSystemStatistics \{[^}]*'f_namemax': QgaInt;/s);
});

test('bad schemas are rejected with file:line messages', () => {
  const dir = path.join(fixtures, 'bad');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 10);
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const expected = /^# expect: (.*)$/m.exec(text)![1];
    assert.throws(() => loadModel(text, f), (e: unknown) => {
      assert.ok(e instanceof SchemaError, `${f}: ${String(e)}`);
      assert.equal(e.message, expected, f);
      return true;
    });
  }
});

test('the committed generated files match the schema (what gen:check enforces)', () => {
  for (const f of generateAll(schemaText, 'schema/qga.json')) {
    assert.equal(fs.readFileSync(path.join(root, f.path), 'utf8'), f.content, `${f.path} is stale: run npm run gen`);
  }
});
