/**
 * An in-memory file tree with open(2)-like semantics for the cpu/memory command tests: directories
 * list their entries in insertion order (standing in for readdir order), files can be given errno
 * codes for open, read or write, and every write is recorded.
 */
import { constants } from 'node:fs';
import type { DirectoryEntry, SysfsFileHandle } from '../../../src/commands/cpu-memory';

export interface FakeFileSpec {
  content?: string;
  openError?: string;
  readError?: string;
  writeError?: string;
}

type Node = { kind: 'dir'; children: string[] } | ({ kind: 'file'; data: Buffer } & FakeFileSpec);

const errno = (code: string, path: string) => Object.assign(new Error(`${code}: ${path}`), { code });

export class FakeSysfs {
  private readonly nodes = new Map<string, Node>([['/', { kind: 'dir', children: [] }]]);
  readonly writes: Array<{ path: string; data: string }> = [];
  readonly opens: Array<{ path: string; flags: number }> = [];
  listError: Record<string, string> = {};

  constructor(spec: Record<string, string | FakeFileSpec | null> = {}) {
    for (const [path, value] of Object.entries(spec)) {
      if (value === null) this.dir(path);
      else this.file(path, typeof value === 'string' ? { content: value } : value);
    }
  }

  private static normal(path: string): string {
    const p = path.replace(/\/+/g, '/');
    return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
  }

  /** mkdir -p */
  dir(path: string): void {
    const p = FakeSysfs.normal(path);
    if (this.nodes.has(p)) return;
    const parent = p.slice(0, p.lastIndexOf('/')) || '/';
    this.dir(parent);
    (this.nodes.get(parent) as { children: string[] }).children.push(p.slice(p.lastIndexOf('/') + 1));
    this.nodes.set(p, { kind: 'dir', children: [] });
  }

  file(path: string, spec: FakeFileSpec): void {
    const p = FakeSysfs.normal(path);
    const parent = p.slice(0, p.lastIndexOf('/')) || '/';
    this.dir(parent);
    if (!this.nodes.has(p)) (this.nodes.get(parent) as { children: string[] }).children.push(p.slice(p.lastIndexOf('/') + 1));
    this.nodes.set(p, { kind: 'file', data: Buffer.from(spec.content ?? ''), ...spec });
  }

  content(path: string): string | undefined {
    const node = this.nodes.get(FakeSysfs.normal(path));
    return node?.kind === 'file' ? node.data.toString() : undefined;
  }

  async open(path: string, flags: number): Promise<SysfsFileHandle> {
    this.opens.push({ path, flags });
    const p = FakeSysfs.normal(path);
    const node = this.nodes.get(p);
    if (node === undefined) throw errno('ENOENT', path);
    if (node.kind === 'file' && node.openError) throw errno(node.openError, path);
    const wantsDir = (flags & constants.O_DIRECTORY) !== 0;
    const writes = (flags & (constants.O_WRONLY | constants.O_RDWR)) !== 0;
    if (wantsDir && node.kind !== 'dir') throw errno('ENOTDIR', path);
    if (node.kind === 'dir' && writes) throw errno('EISDIR', path);
    return {
      read: async (buffer, offset, length, position) => {
        if (node.kind === 'dir') throw errno('EISDIR', path);
        if (node.readError) throw errno(node.readError, path);
        const bytesRead = node.data.copy(buffer, offset, position, Math.min(node.data.length, position + length));
        return { bytesRead };
      },
      write: async (buffer, offset, length, position) => {
        if (node.kind === 'dir') throw errno('EISDIR', path);
        if (node.writeError) throw errno(node.writeError, path);
        const data = buffer.subarray(offset, offset + length);
        const grown = Buffer.alloc(Math.max(node.data.length, position + length));
        node.data.copy(grown);
        data.copy(grown, position);
        node.data = grown;
        this.writes.push({ path: p, data: data.toString() });
        return { bytesWritten: length };
      },
      close: async () => undefined,
    };
  }

  async listDirectory(path: string): Promise<DirectoryEntry[]> {
    const p = FakeSysfs.normal(path);
    if (this.listError[p]) throw errno(this.listError[p]!, path);
    const node = this.nodes.get(p);
    if (node === undefined) throw errno('ENOENT', path);
    if (node.kind !== 'dir') throw errno('ENOTDIR', path);
    return node.children.map((name) => ({ name, isDirectory: this.nodes.get(`${p === '/' ? '' : p}/${name}`)?.kind === 'dir' }));
  }
}
