import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CapturedOutput, GUEST_EXEC_MAX_OUTPUT, ProcessTable } from '../../../src/state/process-table';

function recordingLogger() {
  const lines: { obj: object; msg: string }[] = [];
  return { lines, logger: { warn: (obj: object, msg: string) => void lines.push({ obj, msg }) } };
}

describe('CapturedOutput', () => {
  test('keeps up to the limit, then reads and discards, setting truncated', () => {
    const c = new CapturedOutput(10);
    c.append(Buffer.from('12345'));
    c.append(Buffer.from('6789'));
    assert.equal(c.truncated, false);
    c.append(Buffer.from('abc'));
    assert.equal(c.length, 10);
    assert.equal(c.truncated, true);
    c.append(Buffer.from('more'));
    assert.equal(c.data().toString(), '123456789a');
  });

  test('output of exactly the limit counts as truncated at EOF (qemu-ga watch quirk)', () => {
    const c = new CapturedOutput(4);
    c.append(Buffer.from('abcd'));
    assert.equal(c.truncated, false);
    c.close();
    assert.equal(c.truncated, true);
    const d = new CapturedOutput(4);
    d.append(Buffer.from('abc'));
    d.close();
    assert.equal(d.truncated, false);
  });

  test('the default limit is qemu-ga GUEST_EXEC_MAX_OUTPUT', () => {
    assert.equal(GUEST_EXEC_MAX_OUTPUT, 16777216);
  });
});

describe('ProcessTable', () => {
  test('unknown pid → null; running → {exited:false}; the first exited status removes the entry', () => {
    const t = new ProcessTable();
    assert.equal(t.status(42n), null);
    const p = t.register(42, { out: true, err: true });
    assert.deepEqual(t.status(42n), { exited: false });
    p.appendOut(Buffer.from('hi\n'));
    p.setExited({ code: 0, signal: null });
    assert.deepEqual(t.status(42n), { exited: false }, 'pipes still open');
    p.closeOut();
    assert.deepEqual(t.status(42), { exited: false }, 'stderr still open');
    p.closeErr();
    assert.deepEqual(t.status(42n), { exited: true, exitcode: 0, 'out-data': 'aGkK', 'out-truncated': false });
    assert.equal(t.status(42n), null);
    assert.equal(t.size, 0);
  });

  test('pipes at EOF but not reaped is still running', () => {
    const t = new ProcessTable();
    const p = t.register(7, { out: true, err: false });
    p.closeOut();
    assert.deepEqual(t.status(7), { exited: false });
    p.setExited({ code: null, signal: 9 });
    assert.deepEqual(t.status(7), { exited: true, signal: 9 });
  });

  test('no capture: exited as soon as reaped; no data members', () => {
    const t = new ProcessTable();
    const p = t.register(8, { out: false, err: false });
    p.setExited({ code: 3, signal: null });
    assert.deepEqual(t.status(8), { exited: true, exitcode: 3 });
  });

  test('data members only for streams with bytes, each with its own truncated flag', () => {
    const t = new ProcessTable({ outputLimit: 4 });
    const p = t.register(9, { out: true, err: true });
    p.appendErr(Buffer.from('too long'));
    p.closeOut();
    p.closeErr();
    p.setExited({ code: 1, signal: null });
    assert.deepEqual(t.status(9), { exited: true, exitcode: 1, 'err-data': 'dG9vIA==', 'err-truncated': true });
  });

  test('huge pids and negative pids are simply unknown', () => {
    const t = new ProcessTable();
    assert.equal(t.status(2n ** 63n - 1n), null);
    assert.equal(t.status(-1n), null);
  });

  test('a reused pid: the older entry answers first', () => {
    const t = new ProcessTable();
    const a = t.register(5, { out: false, err: false });
    a.setExited({ code: 1, signal: null });
    const b = t.register(5, { out: false, err: false });
    b.setExited({ code: 2, signal: null });
    assert.deepEqual(t.status(5), { exited: true, exitcode: 1 });
    assert.deepEqual(t.status(5), { exited: true, exitcode: 2 });
    assert.equal(t.status(5), null);
  });

  test('finished-but-uncollected entries are bounded by count; oldest dropped with a warning', () => {
    const { lines, logger } = recordingLogger();
    const t = new ProcessTable({ maxFinished: 3, logger });
    const running = t.register(1000, { out: false, err: false });
    for (let pid = 1; pid <= 5; pid++) t.register(pid, { out: false, err: false }).setExited({ code: 0, signal: null });
    assert.equal(t.finishedCount, 3);
    assert.equal(t.size, 4, 'three finished + the running one');
    assert.equal(t.status(1), null);
    assert.equal(t.status(2), null);
    assert.deepEqual(t.status(3), { exited: true, exitcode: 0 });
    assert.equal(lines.length, 2);
    assert.deepEqual(lines.map((l) => (l.obj as { pid: number }).pid), [1, 2]);
    assert.match(lines[0]!.msg, /never collected/);
    // running processes are never dropped, however many finish after them
    for (let pid = 10; pid < 20; pid++) t.register(pid, { out: false, err: false }).setExited({ code: 0, signal: null });
    assert.deepEqual(t.status(1000), { exited: false });
    running.setExited({ code: 0, signal: null });
    assert.deepEqual(t.status(1000), { exited: true, exitcode: 0 });
  });

  test('collecting a finished entry frees its place in the bound', () => {
    const t = new ProcessTable({ maxFinished: 2 });
    t.register(1, { out: false, err: false }).setExited({ code: 0, signal: null });
    t.register(2, { out: false, err: false }).setExited({ code: 0, signal: null });
    assert.ok(t.status(1));
    t.register(3, { out: false, err: false }).setExited({ code: 0, signal: null });
    assert.ok(t.status(2), 'pid 2 was not evicted');
    assert.ok(t.status(3));
  });

  test('the byte bound drops the oldest finished output but never the newest entry', () => {
    const { lines, logger } = recordingLogger();
    const t = new ProcessTable({ maxFinishedBytes: 10, logger });
    const finish = (pid: number, bytes: number) => {
      const p = t.register(pid, { out: true, err: false });
      p.appendOut(Buffer.alloc(bytes, 0x61));
      p.closeOut();
      p.setExited({ code: 0, signal: null });
    };
    finish(1, 6);
    finish(2, 6); // 12 > 10: pid 1 goes
    assert.equal(t.status(1), null);
    finish(3, 50); // alone over the budget: pid 2 goes, pid 3 stays
    assert.equal(t.status(2), null);
    assert.equal((t.status(3) as { 'out-data': string })['out-data'].length, 68);
    assert.equal(lines.length, 2);
  });
});
