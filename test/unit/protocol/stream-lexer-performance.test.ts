/**
 * Coarse guards against the lexer losing its shape (per-byte strings, quadratic buffering, slow
 * objects). Bounds are CPU time with a wide margin, so a loaded CI machine does not flake; the
 * numbers measured on the development VM are in the comments.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeJson } from '../../../src/protocol/json-writer';
import { StreamLexer, type StreamItem } from '../../../src/protocol/stream-lexer';

function cpuMs(run: () => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const before = process.cpuUsage();
    run();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

describe('StreamLexer performance', () => {
  it('lexes a guest-file-write carrying 48 MiB of base64 well under a second', () => {
    const data = Buffer.alloc(36 << 20, 0x5a).toString('base64');
    const request = Buffer.from(`{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"${data}"}}`);
    let item: StreamItem | undefined;
    const ms = cpuMs(() => {
      const lexer = new StreamLexer((i) => (item = i));
      for (let at = 0; at < request.length; at += 65536) lexer.feed(request.subarray(at, at + 65536));
    });
    assert.ok(item?.kind === 'value');
    const args = (item.value as { arguments: { 'buf-b64': string } }).arguments;
    assert.equal(args['buf-b64'].length, data.length);
    assert.ok(ms < 1500, `48 MiB took ${ms.toFixed(0)} ms of CPU (about 150 ms expected)`);
  });

  it('handles 100k pipelined pings at a few microseconds each', () => {
    const pings = Buffer.from('{"execute":"guest-ping"}'.repeat(100_000));
    let values = 0;
    const ms = cpuMs(() => {
      values = 0;
      const lexer = new StreamLexer((i) => (values += i.kind === 'value' ? 1 : 0));
      for (let at = 0; at < pings.length; at += 4096) lexer.feed(pings.subarray(at, at + 4096));
    });
    assert.equal(values, 100_000);
    assert.ok(ms < 1000, `100k pings took ${ms.toFixed(0)} ms of CPU (about 70 ms expected)`);
  });

  it('encodes a 48 MiB guest-file-read reply quickly', () => {
    const data = Buffer.alloc(36 << 20, 0x5a).toString('base64');
    let out = '';
    const ms = cpuMs(() => {
      out = encodeJson({ return: { count: 36n << 20n, 'buf-b64': data, eof: true } });
    });
    assert.equal(out, `{"return": {"count": 37748736, "buf-b64": "${data}", "eof": true}}`);
    assert.ok(ms < 1000, `encoding took ${ms.toFixed(0)} ms of CPU (about 50 ms expected)`);
  });
});
