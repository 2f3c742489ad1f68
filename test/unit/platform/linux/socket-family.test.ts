import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { probeSocketFamily, socketInode, tableListsInode, type SocketFamilyIo } from '../../../../src/platform/linux/socket-family';

const UNIX_TABLE = `Num       RefCount Protocol Flags    Type St Inode Path
00000000d247e933: 00000003 00000000 00000000 0001 03 931671
000000002394f744: 00000002 00000000 00010000 0001 01 932249 /run/qga.sock
`;
const TCP_TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 590 1 0000000080162a8d 100 0 0 10 0
`;

function io(link: string, tables: Record<string, string>): SocketFamilyIo {
  return { readlink: () => link, readTable: (p) => tables[p] };
}

const realIo: SocketFamilyIo = {
  readlink: (p) => fs.readlinkSync(p),
  readTable: (p) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
};

describe('socket family of an inherited fd', () => {
  test('parsers', () => {
    assert.equal(socketInode('socket:[932249]'), '932249');
    assert.equal(socketInode('pipe:[1]'), undefined);
    assert.equal(socketInode('/dev/null'), undefined);
    assert.equal(tableListsInode(UNIX_TABLE, 6, '932249'), true);
    assert.equal(tableListsInode(UNIX_TABLE, 6, '00000003'), false);
    assert.equal(tableListsInode(TCP_TABLE, 9, '590'), true);
    assert.equal(tableListsInode(TCP_TABLE, 9, '0'), false, 'the uid column is not the inode');
  });

  test('unix, inet, and a socket in no table (vsock)', () => {
    const tables = { '/proc/net/unix': UNIX_TABLE, '/proc/net/tcp': TCP_TABLE };
    assert.equal(probeSocketFamily(3, io('socket:[932249]', tables)), 'unix');
    assert.equal(probeSocketFamily(3, io('socket:[590]', tables)), 'other');
    assert.equal(probeSocketFamily(3, io('socket:[777]', tables)), 'vsock');
    assert.equal(probeSocketFamily(3, io('/dev/null', tables)), 'other');
    assert.equal(probeSocketFamily(3, { readlink: () => { throw new Error('EBADF'); }, readTable: () => undefined }), 'other');
  });

  test('a real listening unix socket and a real TCP socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-sf-'));
    const unixServer = net.createServer();
    const tcpServer = net.createServer();
    try {
      await new Promise<void>((r) => unixServer.listen(path.join(dir, 's'), r));
      await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', r));
      const fdOf = (s: net.Server) => (s as unknown as { _handle: { fd: number } })._handle.fd;
      assert.equal(probeSocketFamily(fdOf(unixServer), realIo), 'unix');
      assert.equal(probeSocketFamily(fdOf(tcpServer), realIo), 'other');
    } finally {
      unixServer.close();
      tcpServer.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
