import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { unavailable } from '../../../src/dispatch/handler-table';
import { QGA_COMMANDS } from '../../../src/generated/qga-commands';
import { createInjector } from '../../support/inject';

const err = (cls: string, desc: string, id?: string) =>
  id === undefined ? `{"error": {"class": "${cls}", "desc": "${desc}"}}\n` : `{"id": ${id}, "error": {"class": "${cls}", "desc": "${desc}"}}\n`;
const generic = (desc: string, id?: string) => err('GenericError', desc, id);

describe('request envelope (reference §1.2, §6.1)', () => {
  const cases: [string, string][] = [
    ['[1,2,3]', generic('QMP input must be a JSON object')],
    ['"hello"', generic('QMP input must be a JSON object')],
    ['42 ', generic('QMP input must be a JSON object')],
    ['{"execute":1}', generic("QMP input member 'execute' must be a string")],
    ['{"arguments":{}}', generic("QMP input lacks member 'execute'")],
    ['{"execute":"guest-ping","foo":1}', generic("QMP input member 'foo' is unexpected")],
    ['{"exec-oob":"guest-ping"}', generic("QMP input member 'exec-oob' is unexpected")],
    ['{"execute":"guest-sync","arguments":[1]}', generic("QMP input member 'arguments' must be an object")],
    ['{"execute":"guest-sync","arguments":null}', generic("QMP input member 'arguments' must be an object")],
    ['{"execute":"guest-nope"}', err('CommandNotFound', 'The command guest-nope has not been found')],
    ['{"execute":"guest-nope","id":7}', err('CommandNotFound', 'The command guest-nope has not been found', '7')],
  ];
  for (const [req, reply] of cases) {
    test(req, async () => assert.equal(await createInjector().text(req), reply));
  }

  test('members are checked in qemu QDict order: "foo" is reported before a non-string execute', async () => {
    // Bucket order decides which problem is reported first, not the textual order.
    const a = await createInjector().text('{"execute":1,"foo":1}');
    const b = await createInjector().text('{"foo":1,"execute":1}');
    assert.equal(a, b);
  });
});

describe('argument validation texts (reference §1.2)', () => {
  const cases: [string, string][] = [
    ['{"execute":"guest-sync"}', generic("Parameter 'id' is missing")],
    ['{"execute":"guest-sync","arguments":{"id":1,"extra":2}}', generic("Parameter 'extra' is unexpected")],
    ['{"execute":"guest-sync","arguments":{"extra":2}}', generic("Parameter 'id' is missing")],
    ['{"execute":"guest-ping","arguments":{"foo":42}}', generic("Parameter 'foo' is unexpected")],
    ['{"execute":"guest-sync","arguments":{"id":"abc"}}', generic("Invalid parameter type for 'id', expected: integer")],
    ['{"execute":"guest-sync","arguments":{"id":1.5}}', generic("Invalid parameter type for 'id', expected: integer")],
    ['{"execute":"guest-sync","arguments":{"id":1e3}}', generic("Invalid parameter type for 'id', expected: integer")],
    ['{"execute":"guest-sync","arguments":{"id":9223372036854775808}}', generic("Invalid parameter type for 'id', expected: integer")],
    ['{"execute":"guest-sync","arguments":{"id":null}}', generic("Invalid parameter type for 'id', expected: integer")],
  ];
  for (const [req, reply] of cases) {
    test(req, async () => assert.equal(await createInjector().text(req), reply));
  }

  test('int64 extremes are exact', async () => {
    const inj = createInjector();
    assert.equal(await inj.text('{"execute":"guest-sync","arguments":{"id":-9223372036854775808}}'), '{"return": -9223372036854775808}\n');
    assert.equal(await inj.text('{"execute":"guest-sync","arguments":{"id":9223372036854775807}}'), '{"return": 9223372036854775807}\n');
  });

  test('arguments of every kind, checked through handlers that echo what they received', async () => {
    const seen: unknown[] = [];
    const inj = createInjector({
      handlers: {
        'guest-file-seek': (args) => {
          seen.push(args);
          return { position: 0, eof: false };
        },
        'guest-set-vcpus': (args) => {
          seen.push(args);
          return args.vcpus.length;
        },
        'guest-set-memory-blocks': (args) => {
          seen.push(args);
          return [];
        },
        'guest-exec': (args) => {
          seen.push(args);
          return { pid: 1 };
        },
      },
    });
    const q = (cmd: string, args: string) => inj.text(`{"execute":"${cmd}","arguments":${args}}`);
    assert.equal(await q('guest-file-seek', '{"handle":1,"offset":0,"whence":"bogus"}'), generic("Parameter 'whence' does not accept value 'bogus'"));
    assert.equal(await q('guest-file-seek', '{"handle":1,"offset":0,"whence":true}'), generic("Invalid parameter type for 'whence', expected: GuestFileWhence"));
    assert.equal(await q('guest-file-seek', '{"handle":1,"offset":0,"whence":1.5}'), generic("Invalid parameter type for 'whence', expected: integer"));
    assert.equal(await q('guest-file-seek', '{"handle":1,"offset":0}'), generic("Parameter 'whence' is missing"));
    assert.equal(await q('guest-file-seek', '{"handle":1,"offset":-5,"whence":"end"}'), '{"return": {"eof": false, "position": 0}}\n');
    assert.deepEqual(seen.pop(), { handle: 1n, offset: -5n, whence: 'end' });
    assert.equal(await q('guest-file-seek', '{"handle":1,"offset":0,"whence":2}'), '{"return": {"eof": false, "position": 0}}\n');
    assert.deepEqual(seen.pop(), { handle: 1n, offset: 0n, whence: 2n });

    assert.equal(await q('guest-set-vcpus', '{"vcpus":[{"logical-id":1}]}'), generic("Parameter 'vcpus[0].online' is missing"));
    assert.equal(await q('guest-set-vcpus', '{"vcpus":[{"logical-id":1,"online":true,"foo":1}]}'), generic("Parameter 'vcpus[0].foo' is unexpected"));
    assert.equal(await q('guest-set-vcpus', '{"vcpus":[{"logical-id":1,"online":true},{"online":1}]}'), generic("Parameter 'vcpus[1].logical-id' is missing"));
    assert.equal(await q('guest-set-vcpus', '{"vcpus":{}}'), generic("Invalid parameter type for 'vcpus', expected: array"));
    assert.equal(await q('guest-set-vcpus', '{"vcpus":[1]}'), generic("Invalid parameter type for 'vcpus[0]', expected: object"));
    assert.equal(await q('guest-set-vcpus', '{"vcpus":[{"logical-id":1,"online":"yes"}]}'), generic("Invalid parameter type for 'vcpus[0].online', expected: boolean"));
    assert.equal(await q('guest-set-vcpus', '{"vcpus":[{"logical-id":1,"online":true,"can-offline":false}]}'), '{"return": 1}\n');

    assert.equal(await q('guest-set-memory-blocks', '{"mem-blks":[{"phys-index":"x","online":true}]}'), generic("Parameter 'mem-blks[0].phys-index' expects uint64"));
    assert.equal(await q('guest-set-memory-blocks', '{"mem-blks":[{"phys-index":1.5,"online":true}]}'), generic("Parameter 'mem-blks[0].phys-index' expects uint64"));
    assert.equal(await q('guest-set-memory-blocks', '{"mem-blks":[{"phys-index":-1,"online":true}]}'), '{"return": []}\n');
    assert.deepEqual(seen.pop(), { 'mem-blks': [{ 'phys-index': 2n ** 64n - 1n, online: true }] }, 'negative uint64 wraps as in qemu');
    assert.equal(await q('guest-set-memory-blocks', '{"mem-blks":[{"phys-index":18446744073709551615,"online":true}]}'), '{"return": []}\n');

    assert.equal(await q('guest-exec', '{"path":"x","capture-output":"bogus"}'), generic("Parameter 'capture-output' does not accept value 'bogus'"));
    assert.equal(await q('guest-exec', '{"path":"x","capture-output":1}'), generic("Invalid parameter type for 'capture-output', expected: GuestExecCaptureOutput"));
    assert.equal(await q('guest-exec', '{"path":"x","arg":["a",1]}'), generic("Invalid parameter type for 'arg[1]', expected: string"));
    assert.equal(await q('guest-exec', '{"path":"x","capture-output":"merged"}'), '{"return": {"pid": 1}}\n');
    assert.equal(await q('guest-exec', '{"path":"x","capture-output":true}'), '{"return": {"pid": 1}}\n');
  });
});

describe('enabled gate (reference §4.2, §4.4)', () => {
  test('block list: disabled before argument validation, shown in guest-info', async () => {
    const inj = createInjector({ blockRpcs: ['guest-ping', 'guest-get-time', 'no-such-command'] });
    const disabled = (n: string, id?: string) => err('CommandNotFound', `Command ${n} has been disabled: the command is not allowed`, id);
    assert.equal(await inj.text('{"execute":"guest-ping"}'), disabled('guest-ping'));
    assert.equal(await inj.text('{"execute":"guest-get-time","id":3}'), disabled('guest-get-time', '3'));
    assert.equal(await inj.text('{"execute":"guest-ping","arguments":{"bogus":1}}'), disabled('guest-ping'));
    const info = await inj.text('{"execute":"guest-info"}');
    assert.match(info, /\{"enabled": false, "name": "guest-ping", "success-response": true\}/);
    assert.match(info, /\{"enabled": true, "name": "guest-sync", "success-response": true\}/);
  });

  test('allow list: everything else disabled; block wins over allow', async () => {
    const inj = createInjector({ allowRpcs: ['guest-ping', 'guest-get-time', 'guest-info'], blockRpcs: ['guest-get-time'] });
    assert.equal(await inj.text('{"execute":"guest-ping"}'), '{"return": {}}\n');
    assert.match(await inj.text('{"execute":"guest-get-time"}'), /has been disabled/);
    assert.match(await inj.text('{"execute":"guest-sync","arguments":{"id":1}}'), /Command guest-sync has been disabled/);
  });

  test('frozen: only the six allow-listed commands run; freeze beats the allow list', async () => {
    const inj = createInjector({ frozen: true, allowRpcs: ['guest-get-time', 'guest-ping'] });
    assert.match(await inj.text('{"execute":"guest-get-time"}'), /Command guest-get-time has been disabled: the command is not allowed/);
    assert.equal(await inj.text('{"execute":"guest-ping"}'), '{"return": {}}\n');
    inj.state.setFrozen(false);
    assert.match(await inj.text('{"execute":"guest-get-time"}'), /^\{"return": \d+\}\n$/);
  });

  test('unavailable handlers are disabled, never run', async () => {
    const inj = createInjector({ handlers: { 'guest-get-time': unavailable('needs the native helper') } });
    assert.equal(await inj.text('{"execute":"guest-get-time"}'), err('CommandNotFound', 'Command guest-get-time has been disabled: the command is not allowed'));
    assert.match(await inj.text('{"execute":"guest-info"}'), /\{"enabled": false, "name": "guest-get-time"/);
  });
});

describe('commands of the core', () => {
  test('guest-info: version 10.2.0 and every command, most recently registered first', async () => {
    const reply = await createInjector().text('{"execute":"guest-info"}');
    const names = [...reply.matchAll(/"name": "([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(names, QGA_COMMANDS.map((c) => c.name).reverse());
    assert.ok(reply.startsWith('{"return": {"version": "10.2.0", "supported_commands": ['));
    assert.match(reply, /\{"enabled": (true|false), "name": "guest-shutdown", "success-response": false\}/);
  });

  test('guest-get-time returns the injected clock', async () => {
    const inj = createInjector({ nowNs: () => 1700000000123456000n });
    assert.equal(await inj.text('{"execute":"guest-get-time","id":"t"}'), '{"return": 1700000000123456000, "id": "t"}\n');
  });

  test('guest-sync-delimited: 0xFF before its reply only, and not when validation fails', async () => {
    const inj = createInjector();
    assert.deepEqual(await inj.send('{"execute":"guest-sync-delimited","arguments":{"id":42}}'), Buffer.from('\xff{"return": 42}\n', 'latin1'));
    assert.equal(await inj.text('{"execute":"guest-sync-delimited"}'), generic("Parameter 'id' is missing"));
    assert.equal(await inj.text('{"execute":"guest-ping"}'), '{"return": {}}\n');
    const r = await inj.send('\xff{"execute":"guest-sync-delimited","arguments":{"id":987654321}}');
    assert.equal(r.toString('latin1'), `${generic("JSON parse error, stray '\\uFFFD'")}\xff{"return": 987654321}\n`);
  });

  test('success-response false: nothing on success, an error with id on failure', async () => {
    let called = 0;
    const inj = createInjector({
      handlers: {
        'guest-shutdown': (args) => {
          called++;
          if (args.mode === 'bogus') throw new Error('mode is invalid (valid values are: halt|powerdown|reboot');
        },
      },
    });
    assert.equal(await inj.text('{"execute":"guest-shutdown","id":"x"}'), '');
    assert.equal(await inj.text('{"execute":"guest-shutdown","arguments":{"mode":"bogus"},"id":"x"}'), generic('mode is invalid (valid values are: halt|powerdown|reboot', '"x"'));
    assert.equal(called, 2);
  });

  test('a handler that throws anything becomes GenericError and the session keeps going', async () => {
    const inj = createInjector({
      handlers: {
        'guest-get-time': () => {
          throw new TypeError('boom');
        },
        'guest-get-host-name': async () => {
          throw 'a string';
        },
      },
    });
    assert.equal(await inj.text('{"execute":"guest-get-time","id":1}'), generic('boom', '1'));
    assert.equal(await inj.text('{"execute":"guest-get-host-name"}'), generic('a string'));
    assert.equal(await inj.text('{"execute":"guest-ping"}'), '{"return": {}}\n');
    assert.ok(inj.logLines.some((l) => l.includes('boom') && l.includes('stack')), 'the stack goes to the log');
  });

  test('replies keep request order when an async handler is followed by sync ones', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inj = createInjector({
      handlers: { 'guest-get-host-name': async () => (await gate, { 'host-name': 'slow' }) },
    });
    const out = await inj.send('{"execute":"guest-get-host-name"}{"execute":"guest-sync","arguments":{"id":2}}{"execute":"guest-ping","id":3}');
    assert.equal(out.toString(), '', 'nothing overtakes the unfinished first request');
    release();
    assert.equal(await inj.text(''), '{"return": {"host-name": "slow"}}\n{"return": 2}\n{"return": {}, "id": 3}\n');
  });

  test('id is echoed for every JSON type, exactly', async () => {
    const inj = createInjector();
    const ids = ['1', '"abc"', '{"x": [1, 2]}', 'true', 'null', '1500', '18446744073709551615', '-9223372036854775808', '"\\u00E9"', '[]', '{}'];
    for (const id of ids) {
      assert.equal(await inj.text(`{"execute":"guest-ping","id":${id}}`), `{"return": {}, "id": ${id}}\n`);
    }
    assert.equal(await inj.text('{"execute":"guest-ping","id":1.5e3}'), '{"return": {}, "id": 1500}\n');
    assert.equal(await inj.text('{"execute":"guest-ping","id":0.1}'), '{"return": {}, "id": 0.10000000000000001}\n');
    assert.equal(await inj.text('{"execute":"guest-ping","id":-0}'), '{"return": {}, "id": 0}\n');
    assert.equal(await inj.text('{"execute":"guest-ping","id":18446744073709551616}'), '{"return": {}, "id": 1.8446744073709552e+19}\n');
  });
});
