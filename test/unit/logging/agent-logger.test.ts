import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAgentLogger } from '../../../src/logging/agent-logger';

const pinoLoaded = (): boolean => Object.keys(require.cache).some((f) => /[\\/]node_modules[\\/]pino[\\/]pino\.js$/.test(f));

// First in the file (each test file runs in its own process): nothing below the level loads pino.
test('records below the level cost nothing: pino is loaded by the first record that passes', () => {
  const lines: string[] = [];
  const { logger } = createAgentLogger({ verbose: false, sink: { write: (l) => void lines.push(l) } });
  logger.debug('not shown');
  logger.info({ cmd: 'guest-sync' }, 'not shown either');
  logger.child({ cmd: 'guest-ping' }).info('nor this');
  assert.equal(pinoLoaded(), false);
  assert.deepEqual(lines, []);
  logger.warn({ path: '/x' }, 'shown');
  assert.equal(pinoLoaded(), true);
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!);
  assert.equal(rec.level, 40);
  assert.equal(rec.msg, 'shown');
  assert.equal(rec.path, '/x');
  assert.equal(rec.name, 'qga-ts');
});

test('levels: verbose enables debug; otherwise warn and error only', () => {
  const quiet = createAgentLogger({ verbose: false, sink: { write: () => undefined } }).logger;
  assert.deepEqual(['debug', 'info', 'warn', 'error'].map((l) => quiet.isLevelEnabled(l as 'debug')), [false, false, true, true]);
  const verbose = createAgentLogger({ verbose: true, sink: { write: () => undefined } }).logger;
  assert.deepEqual(['debug', 'info', 'warn', 'error'].map((l) => verbose.isLevelEnabled(l as 'debug')), [true, true, true, true]);
});

test('child bindings are carried into the records of the child and its children', () => {
  const lines: string[] = [];
  const { logger } = createAgentLogger({ verbose: true, sink: { write: (l) => void lines.push(l) } });
  const child = logger.child({ cmd: 'guest-info', id: '7' });
  child.child({ step: 2 }).debug('inner');
  child.error({ code: 5 }, 'outer');
  logger.info('root');
  const recs = lines.map((l) => JSON.parse(l));
  assert.deepEqual(recs.map((r) => [r.msg, r.cmd, r.id, r.step, r.code]), [
    ['inner', 'guest-info', '7', 2, undefined],
    ['outer', 'guest-info', '7', undefined, 5],
    ['root', undefined, undefined, undefined, undefined],
  ]);
});

test('payload fields are redacted and suspend() drops lines until resumed', () => {
  const lines: string[] = [];
  const control = createAgentLogger({ verbose: false, sink: { write: (l) => void lines.push(l) } });
  control.logger.warn({ args: { 'buf-b64': 'c2VjcmV0', password: 'p', handle: 3 } }, 'write');
  assert.deepEqual(JSON.parse(lines[0]!).args, { 'buf-b64': '[redacted]', password: '[redacted]', handle: 3 });
  control.suspend(true);
  control.logger.error('while frozen');
  assert.equal(lines.length, 1);
  control.suspend(false);
  control.logger.error('after thaw');
  assert.equal(JSON.parse(lines[1]!).msg, 'after thaw');
});
