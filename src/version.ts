/** Our own version (kept equal to package.json by a unit test) and the qemu-ga level we implement. */
export const QGA_TS_VERSION = '0.1.0';
export const QEMU_GA_COMPAT_VERSION = '10.2.0';
