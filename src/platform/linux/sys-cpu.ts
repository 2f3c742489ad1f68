/** Far beyond the kernel's NR_CPUS limit (8192); a larger number means the file is not a CPU list. */
export const MAX_CPU_NUMBER = 65535;

/**
 * The kernel's CPU list format (/sys/devices/system/cpu/{online,possible,present,offline}):
 * comma-separated decimal numbers and inclusive `a-b` ranges, e.g. `0-3,5`, newline-terminated.
 * An empty list (an `offline` file with nothing offline is just "\n") gives []. Returns null when
 * the text is not in that format, so the caller decides what a malformed file means.
 * The result is sorted and free of duplicates.
 */
export function parseCpuList(text: string): number[] | null {
  const body = text.trim();
  if (body === '') return [];
  const cpus = new Set<number>();
  for (const part of body.split(',')) {
    const match = /^([0-9]+)(?:-([0-9]+))?$/.exec(part);
    if (match === null) return null;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first || last > MAX_CPU_NUMBER) return null;
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}
