import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTzif } from '../../../../src/platform/linux/tzif';
import { readFixtureBytes } from './fixture';
import { buildTzif } from './tzif-builder';

describe('parseTzif', () => {
  it('reads a real version 2 file: 64-bit transitions, types and the footer', () => {
    // tzdata 2025b's Europe/Berlin, "fat" (transitions up to 2037), as Debian ships it.
    const data = parseTzif(readFixtureBytes('tzif-Europe-Berlin.bin'));
    assert.ok(data);
    assert.equal(data.version, 2);
    assert.equal(data.transitions.length, 143);
    assert.equal(data.footer, 'CET-1CEST,M3.5.0,M10.5.0/3');
    assert.deepEqual(
      [...new Set(data.types.map((t) => `${t.abbreviation} ${t.utOffset} ${t.isDst}`))].sort(),
      ['CEMT 10800 true', 'CEST 7200 true', 'CET 3600 false', 'LMT 3208 false'],
    );
    // 2026-03-29T01:00:00Z: to CEST; 2026-10-25T01:00:00Z: back to CET.
    const spring = data.transitions.indexOf(Date.UTC(2026, 2, 29, 1) / 1000);
    const autumn = data.transitions.indexOf(Date.UTC(2026, 9, 25, 1) / 1000);
    assert.equal(data.types[data.transitionTypes[spring]!]!.abbreviation, 'CEST');
    assert.equal(data.types[data.transitionTypes[autumn]!]!.abbreviation, 'CET');
    assert.ok(data.transitions.every((t, i) => i === 0 || t > data.transitions[i - 1]!));
  });

  it('reads a file without transitions', () => {
    assert.deepEqual(parseTzif(readFixtureBytes('tzif-Etc-UTC.bin')), {
      version: 2,
      transitions: [],
      transitionTypes: [],
      types: [{ utOffset: 0, isDst: false, abbreviation: 'UTC' }],
      footer: 'UTC0',
    });
  });

  it('reads version 1 files (32-bit times, no footer)', () => {
    const bytes = buildTzif({
      version: '\0',
      transitions: [-100, 2000000000],
      transitionTypes: [1, 0],
      types: [
        { utOffset: -18000, isDst: false, abbreviation: 'EST' },
        { utOffset: -14400, isDst: true, abbreviation: 'EDT' },
      ],
    });
    assert.deepEqual(parseTzif(bytes), {
      version: 1,
      transitions: [-100, 2000000000],
      transitionTypes: [1, 0],
      types: [
        { utOffset: -18000, isDst: false, abbreviation: 'EST' },
        { utOffset: -14400, isDst: true, abbreviation: 'EDT' },
      ],
      footer: null,
    });
  });

  it('skips leap-second records (right/ zones) and keeps an empty footer', () => {
    const bytes = buildTzif({
      transitions: [0, 5000000000],
      transitionTypes: [0, 1],
      types: [
        { utOffset: 3600, isDst: false, abbreviation: 'CET' },
        { utOffset: 7200, isDst: true, abbreviation: 'CEST' },
      ],
      leapSeconds: 3,
      footer: '',
    });
    const data = parseTzif(bytes);
    assert.deepEqual(data?.transitions, [0, 5000000000]);
    assert.equal(data?.footer, '');
  });

  it('rejects what is not TZif', () => {
    assert.equal(parseTzif(Buffer.from('hello world')), null);
    assert.equal(parseTzif(Buffer.alloc(60)), null);
    const good = buildTzif({ transitions: [1], transitionTypes: [0], types: [{ utOffset: 0, isDst: false, abbreviation: 'UTC' }] });
    assert.equal(parseTzif(good.subarray(0, good.length - 20)), null, 'truncated');
    const badIndex = buildTzif({ version: '\0', transitions: [1], transitionTypes: [3], types: [{ utOffset: 0, isDst: false, abbreviation: 'UTC' }] });
    assert.equal(parseTzif(badIndex), null, 'type index out of range');
    const noTypes = buildTzif({ version: '\0', types: [] });
    assert.equal(parseTzif(noTypes), null, 'no types');
  });
});
