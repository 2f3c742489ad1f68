/**
 * Which address family a socket fd belongs to, without getsockname: for systemd socket
 * activation, where qemu-ga serves unix sockets with unix-listen and vsock sockets with
 * vsock-listen and refuses anything else.
 *
 * Node has no getsockopt(SO_DOMAIN). What it can read is the socket's inode
 * (/proc/self/fd/N → `socket:[INODE]`) and the kernel's per-family socket tables in /proc/net,
 * each with an inode column. AF_VSOCK has no such table, so a socket found in none of them is
 * taken to be vsock: systemd's socket units make unix, inet, netlink, packet and vsock sockets,
 * and the first four all have tables.
 */

export type SocketFamily = 'unix' | 'vsock' | 'other';

/** /proc/net tables and the whitespace-separated field holding the inode in their data lines. */
export const SOCKET_TABLES: readonly { file: string; family: 'unix' | 'other'; inodeField: number }[] = [
  { file: '/proc/net/unix', family: 'unix', inodeField: 6 },
  { file: '/proc/net/tcp', family: 'other', inodeField: 9 },
  { file: '/proc/net/tcp6', family: 'other', inodeField: 9 },
  { file: '/proc/net/udp', family: 'other', inodeField: 9 },
  { file: '/proc/net/udp6', family: 'other', inodeField: 9 },
  { file: '/proc/net/raw', family: 'other', inodeField: 9 },
  { file: '/proc/net/raw6', family: 'other', inodeField: 9 },
  { file: '/proc/net/netlink', family: 'other', inodeField: 9 },
  { file: '/proc/net/packet', family: 'other', inodeField: 8 },
];

/** `socket:[123]` → '123'; anything else (a file, a pipe) → undefined. */
export function socketInode(fdLink: string): string | undefined {
  return /^socket:\[(\d+)\]$/.exec(fdLink)?.[1];
}

/** Whether a /proc/net table lists the inode (the header line never matches: it has no digits there). */
export function tableListsInode(table: string, inodeField: number, inode: string): boolean {
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[inodeField] === inode) return true;
  }
  return false;
}

export interface SocketFamilyIo {
  readlink(path: string): string;
  /** undefined when the table does not exist (IPv6 disabled, no such protocol) */
  readTable(path: string): string | undefined;
}

export function probeSocketFamily(fd: number, io: SocketFamilyIo): SocketFamily {
  let inode: string | undefined;
  try {
    inode = socketInode(io.readlink(`/proc/self/fd/${fd}`));
  } catch {
    return 'other';
  }
  if (inode === undefined) return 'other';
  for (const table of SOCKET_TABLES) {
    const text = io.readTable(table.file);
    if (text !== undefined && tableListsInode(text, table.inodeField, inode)) return table.family;
  }
  return 'vsock';
}
