/**
 * guest-get-memory-stats, a qga-ts extension: the guest's own view of its memory, which the host
 * cannot see (without a balloon driver every page the guest ever touched looks used from outside).
 * One read of /proc/meminfo, parsed by the pure parser; the figures are already in bytes.
 */
import * as fsp from 'node:fs/promises';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestMemoryStats } from '../generated/qga-types';
import { parseMeminfo } from '../platform/linux/meminfo';
import { Errors } from '../protocol/errors';

export const PROC_MEMINFO = '/proc/meminfo';

export interface MemoryStatsDeps {
  /** the whole text of a /proc file */
  readTextFile(path: string): Promise<string>;
  meminfoPath: string;
}

export function defaultMemoryStatsDeps(): MemoryStatsDeps {
  return { readTextFile: (path) => fsp.readFile(path, 'latin1'), meminfoPath: PROC_MEMINFO };
}

export type MemoryStatsHandlers = Pick<QgaCommandHandlers, 'guest-get-memory-stats'>;

export function createMemoryStatsHandlers(deps: MemoryStatsDeps): MemoryStatsHandlers {
  return {
    'guest-get-memory-stats': async () => {
      let text: string;
      try {
        text = await deps.readTextFile(deps.meminfoPath);
      } catch (e) {
        throw Errors.openCallFailed(deps.meminfoPath, e);
      }
      const info = parseMeminfo(text);
      const total = info['MemTotal'];
      const free = info['MemFree'];
      if (total === undefined || free === undefined) {
        // No qemu-ga text exists for this (the command is ours); say which file and what is missing.
        throw Errors.generic(`${deps.meminfoPath} does not report ${total === undefined ? 'MemTotal' : 'MemFree'}`);
      }
      // Built in schema member order; absent optional members stay undefined and are not written.
      const stats: GuestMemoryStats = {
        total,
        free,
        available: info['MemAvailable'],
        buffers: info['Buffers'],
        cached: info['Cached'],
        'swap-total': info['SwapTotal'],
        'swap-free': info['SwapFree'],
      };
      return stats;
    },
  } satisfies MemoryStatsHandlers;
}
