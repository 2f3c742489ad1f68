/**
 * The real ReadConfigFile for main.ts. GLib opens the file and refuses anything that is not a
 * regular file (a directory, but also /dev/null or a fifo) with "Not a regular file"; Node would
 * happily read /dev/null, so the check is made here and reported as the code ENOTREG.
 */
import * as fs from 'node:fs';

import type { ReadConfigFile } from './config-file';

export const readConfigFileFromDisk: ReadConfigFile = (path) => {
  // O_NONBLOCK so that a fifo is refused below instead of hanging the start (GLib would wait).
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    if (!fs.fstatSync(fd).isFile()) {
      throw Object.assign(new Error(`not a regular file: ${path}`), { code: 'ENOTREG' });
    }
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
};
