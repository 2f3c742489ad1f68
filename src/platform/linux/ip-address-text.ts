/**
 * Text forms of IP addresses exactly as glibc's inet_ntop(3) writes them, which is what qemu-ga
 * puts on the wire. Node has no inet_ntop, and its URL/`net` helpers normalise differently.
 */

/** Dotted quad of four bytes in network order. */
export function ipv4ToText(bytes: Uint8Array): string {
  if (bytes.length !== 4) throw new RangeError('an IPv4 address has 4 bytes');
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * RFC 5952 style as glibc implements it: lower-case hex without leading zeros; the longest run of
 * two or more zero groups (the first one on a tie) becomes `::`; a single zero group stays `0`.
 * glibc's embedded-IPv4 rule: when the `::` run starts at group 0 and is exactly 6 groups
 * (`::a.b.c.d`), or exactly 5 groups followed by `ffff` (`::ffff:a.b.c.d`), the last 32 bits are
 * written as a dotted quad. Unlike BIND's version there is no exception for a 7-group run, so
 * `::2` stays `::2`, and `::1` is never `::0.0.0.1`.
 */
export function ipv6ToText(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError('an IPv6 address has 16 bytes');
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number));

  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  if (bestLength < 2) bestStart = -1;

  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestStart >= 0 && i >= bestStart && i < bestStart + bestLength) {
      if (i === bestStart) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && bestStart === 0 && (bestLength === 6 || (bestLength === 5 && groups[5] === 0xffff))) {
      return text + ipv4ToText(bytes.subarray(12, 16));
    }
    text += (groups[i] as number).toString(16);
  }
  if (bestStart >= 0 && bestStart + bestLength === 8) text += ':';
  return text;
}
