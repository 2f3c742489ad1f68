import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFstrimHandlers, trimFailureText } from '../../../src/commands/fstrim';
import { createInjector } from '../../support/inject';
import { errnoError, fakeMountTable, FakeFilesystems, STANDARD_MOUNTINFO } from './fake-filesystems';

function setup(mountinfo: string | Error = STANDARD_MOUNTINFO) {
  const fsx = new FakeFilesystems();
  const inj = createInjector({ handlers: createFstrimHandlers({ native: fsx, mountTable: fakeMountTable(mountinfo) }) });
  return { fsx, inj };
}

describe('guest-fstrim', () => {
  it('trims in mount order and lists the newest mount first', async () => {
    const { fsx, inj } = setup();
    fsx.behaviour.set('/home', { trimmed: 123456789n });
    assert.equal(
      await inj.text('{"execute":"guest-fstrim"}'),
      '{"return": {"paths": [' +
        '{"minimum": 0, "path": "/home", "trimmed": 123456789}, ' +
        '{"minimum": 0, "path": "/boot", "trimmed": 4096}, ' +
        '{"minimum": 0, "path": "/", "trimmed": 4096}]}}\n',
    );
    assert.deepEqual(fsx.calls, ['trim / 0', 'trim /boot 0', 'trim /home 0']);
  });

  it('passes minimum, wrapping negative values to uint64 as qemu-ga does', async () => {
    const { fsx, inj } = setup();
    await inj.text('{"execute":"guest-fstrim","arguments":{"minimum":65536}}');
    await inj.text('{"execute":"guest-fstrim","arguments":{"minimum":-1}}');
    assert.deepEqual(fsx.calls.slice(0, 1), ['trim / 65536']);
    assert.deepEqual(fsx.calls.slice(3, 4), ['trim / 18446744073709551615']);
  });

  it('reports per-path failures with qemu-ga texts and keeps going', async () => {
    const { fsx, inj } = setup();
    fsx.behaviour.set('/', { trimError: { code: 'EOPNOTSUPP' } });
    fsx.behaviour.set('/boot', { trimError: { code: 'EACCES', syscall: 'open' } });
    fsx.behaviour.set('/home', { trimError: { code: 'EIO' } });
    assert.equal(
      await inj.text('{"execute":"guest-fstrim"}'),
      '{"return": {"paths": [' +
        '{"path": "/home", "error": "failed to trim: Input/output error"}, ' +
        '{"path": "/boot", "error": "failed to open: Permission denied"}, ' +
        '{"path": "/", "error": "trim not supported"}]}}\n',
    );
  });

  it('trimFailureText: ENOTTY (e.g. CD-ROMs) is "trim not supported" too', () => {
    assert.equal(trimFailureText(errnoError('ENOTTY', 'FITRIM', '/mnt')), 'trim not supported');
    assert.equal(trimFailureText(errnoError('EROFS', 'FITRIM', '/mnt')), 'failed to trim: Read-only file system');
    assert.equal(trimFailureText(errnoError('ENOENT', 'open', '/mnt')), 'failed to open: No such file or directory');
  });

  it('no mount table: the mtab error', async () => {
    const { inj } = setup(new Error('EACCES'));
    assert.equal(
      await inj.text('{"execute":"guest-fstrim"}'),
      `{"error": {"class": "GenericError", "desc": "failed to open mtab file: '/proc/self/mounts'"}}\n`,
    );
  });

  it('no mounts: an empty list', async () => {
    const { inj } = setup('');
    assert.equal(await inj.text('{"execute":"guest-fstrim"}'), '{"return": {"paths": []}}\n');
  });
});
