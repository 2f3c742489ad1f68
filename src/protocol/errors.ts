/**
 * The one error vocabulary of the agent. qemu-ga only ever answers with the classes GenericError
 * and CommandNotFound; every text below matches qemu-ga 10.2 byte for byte (reference §1.2, §1.4,
 * §2.4) unless a comment says why it deliberately differs. Nothing else in the code base builds an
 * error reply text by hand: add a helper here (and to test/unit/protocol/errors.test.ts).
 */
export type QgaErrorClass = 'GenericError' | 'CommandNotFound';

export class QgaError extends Error {
  readonly errorClass: QgaErrorClass;
  readonly desc: string;

  constructor(errorClass: QgaErrorClass, desc: string) {
    super(desc);
    this.name = 'QgaError';
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

const generic = (desc: string): QgaError => new QgaError('GenericError', desc);

/** Any thrown value becomes a QgaError; non-QgaErrors keep only their message (stack goes to the log). */
export function toQgaError(e: unknown): QgaError {
  if (e instanceof QgaError) return e;
  if (e instanceof Error) return generic(e.message);
  return generic(String(e));
}

/** strerror(3) texts for the errno codes Node reports, as glibc prints them. */
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  ENOEXEC: 'Exec format error',
  EBADF: 'Bad file descriptor',
  ECHILD: 'No child processes',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  ENOTBLK: 'Block device required',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  EPIPE: 'Broken pipe',
  EDOM: 'Numerical argument out of domain',
  ERANGE: 'Numerical result out of range',
  EDEADLK: 'Resource deadlock avoided',
  ENAMETOOLONG: 'File name too long',
  ENOLCK: 'No locks available',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  ENODATA: 'No data available',
  EOVERFLOW: 'Value too large for defined data type',
  ENOTSOCK: 'Socket operation on non-socket',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUP: 'Operation not supported',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENETDOWN: 'Network is down',
  ENETUNREACH: 'Network is unreachable',
  ECONNABORTED: 'Software caused connection abort',
  ECONNRESET: 'Connection reset by peer',
  ENOBUFS: 'No buffer space available',
  ENOTCONN: 'Transport endpoint is not connected',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
  EHOSTUNREACH: 'No route to host',
  EALREADY: 'Operation already in progress',
  EINPROGRESS: 'Operation now in progress',
  EDQUOT: 'Disk quota exceeded',
  ECANCELED: 'Operation canceled',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EPROTONOSUPPORT: 'Protocol not supported',
};

/** glibc's strerror text for an errno code name (e.g. 'ENOENT'), or a Node error carrying `.code`. */
export function strerror(codeOrError: string | unknown): string {
  const code =
    typeof codeOrError === 'string'
      ? codeOrError
      : ((codeOrError as { code?: unknown } | null)?.code as string | undefined);
  if (typeof code === 'string' && code in STRERROR) return STRERROR[code] as string;
  if (typeof code === 'string') return `Unknown error ${code}`;
  return codeOrError instanceof Error ? codeOrError.message : String(codeOrError);
}

export const Errors = {
  // --- stream lexer / parser (reference §1.4) ---
  jsonStray: (token: string) => generic(`JSON parse error, stray '${token}'`),
  jsonParse: (what: string) => generic(`JSON parse error, ${what}`),
  tokenSizeLimit: () => generic('JSON token size limit exceeded'),
  tokenCountLimit: () => generic('JSON token count limit exceeded'),
  nestingLimit: () => generic('JSON nesting depth limit exceeded'),

  // --- request envelope (reference §1.2) ---
  inputNotObject: () => generic('QMP input must be a JSON object'),
  executeNotString: () => generic("QMP input member 'execute' must be a string"),
  argumentsNotObject: () => generic("QMP input member 'arguments' must be an object"),
  memberUnexpected: (name: string) => generic(`QMP input member '${name}' is unexpected`),
  lacksExecute: () => generic("QMP input lacks member 'execute'"),

  // --- dispatcher (reference §1.2, §4.4) ---
  commandNotFound: (name: string) =>
    new QgaError('CommandNotFound', `The command ${name} has not been found`),
  commandDisabled: (name: string) =>
    new QgaError('CommandNotFound', `Command ${name} has been disabled: the command is not allowed`),

  // --- argument validation (reference §1.2) ---
  parameterMissing: (name: string) => generic(`Parameter '${name}' is missing`),
  parameterUnexpected: (name: string) => generic(`Parameter '${name}' is unexpected`),
  invalidParameterType: (name: string, expected: string) =>
    generic(`Invalid parameter type for '${name}', expected: ${expected}`),
  parameterExpects: (name: string, what: string) => generic(`Parameter '${name}' expects ${what}`),
  parameterValueRejected: (name: string, value: string) =>
    generic(`Parameter '${name}' does not accept value '${value}'`),

  // --- shared command-level texts ---
  generic,
  /** qemu's error_setg_errno: "<message>: <strerror>". */
  withErrno: (message: string, err: unknown) => generic(`${message}: ${strerror(err)}`),
  base64Invalid: () => generic('Base64 data contains invalid characters'),
  invalidArgumentValue: (value: bigint | number | string, arg: string) =>
    generic(`value '${value}' is invalid for argument ${arg}`),

  // --- guest-file-* (reference §2.4, §4.1; qga/commands-posix.c, commands.c, main.c) ---
  fileHandleNotFound: (handle: bigint | number) => generic(`handle '${handle}' has not been found`),
  fileOpenModeInvalid: (mode: string) => generic(`invalid file open mode '${mode}'`),
  fileOpenFailed: (path: string, mode: string, err: unknown) =>
    generic(`failed to open file '${path}' (mode: '${mode}'): ${strerror(err)}`),
  /** safe_open_or_create: the fchmod(0666) of a file it has just created failed. */
  fileSetPermissionFailed: (path: string, mode: string, err: unknown) =>
    generic(`failed to set permission 0666 on new file '${path}' (mode: '${mode}'): ${strerror(err)}`),
  fileReadFailed: (err: unknown) => generic(`failed to read file: ${strerror(err)}`),
  fileWriteFailed: (err: unknown) => generic(`failed to write to file: ${strerror(err)}`),
  fileSeekFailed: (err: unknown) => generic(`failed to seek file: ${strerror(err)}`),
  fileWhenceInvalid: (code: bigint | number) => generic(`invalid whence code ${code}`),
  fileFlushFailed: (err: unknown) => generic(`failed to flush file: ${strerror(err)}`),
  fileCloseFailed: (err: unknown) => generic(`failed to close handle: ${strerror(err)}`),
  persistentStateCommitFailed: () => generic('failed to commit persistent state to disk'),

  // --- ga_run_command: a helper program (fsfreeze hook, ...) that failed (reference §2.3) ---
  childProcessAbnormal: (output: string) =>
    generic(output.length > 0 ? `child process has terminated abnormally: ${output}` : 'child process has terminated abnormally'),
  childProcessFailed: (action: string, output: string) => generic(`child process has failed to ${action}: ${output}`),
  childProcessExitStatus: (action: string, status: number) =>
    generic(`child process has failed to ${action}: exit status ${status}`),
  childProcessCreateFailed: (err: unknown) => generic(`failed to create child process: ${strerror(err)}`),

  // --- mount list, freeze, disks (reference §2.3) ---
  mtabOpenFailed: (mtab: string) => generic(`failed to open mtab file: '${mtab}'`),
  fsfreezeOpenFailed: (dir: string, err: unknown) => generic(`failed to open ${dir}: ${strerror(err)}`),
  fsfreezeFailed: (dir: string, err: unknown) => generic(`failed to freeze ${dir}: ${strerror(err)}`),
  /** qga-ts only: a thaw (the host's or the auto-thaw watchdog's) overtook a freeze still running. */
  fsfreezeOvertakenByThaw: () => generic('the freeze was cancelled by a thaw before it completed; all filesystems were thawed'),
  cannotOpenDirectory: (dir: string, err: unknown) => generic(`Can't open directory "${dir}": ${strerror(err)}`),
  /** qemu's error_setg_errno(errp, errno, "open(\"%s\")", path) */
  openCallFailed: (file: string, err: unknown) => generic(`open("${file}"): ${strerror(err)}`),

  // --- ga_run_command, the parts not listed above (reference §2.3; qemu 9.1+ qga/commands-posix.c) ---
  cannotCreatePipe: () => generic('cannot create pipe FDs'),
  childStdinWriteFailed: (action: string, err: unknown) => generic(`${action}: cannot write to stdin pipe: ${strerror(err)}`),
  childOutputReadFailed: (action: string, err: unknown) =>
    generic(`${action}: cannot read from stdout/stderr pipe: ${strerror(err)}`),

  // --- guest-exec / guest-exec-status (reference §2.4, §4.3) ---
  /** GLib's g_spawn message, which qemu-ga >= 9.1 passes through unchanged (curly quotes included). */
  execChildFailed: (program: string, err: unknown) =>
    generic(`Failed to execute child process \u201C${program}\u201D (${strerror(err)})`),
  /** GLib's g_spawn message when the pipes for the child cannot be made. */
  execPipeFailed: (err: unknown) => generic(`Failed to create pipe for communicating with child process (${strerror(err)})`),
  /** GLib's g_spawn message when fork() itself fails. */
  execForkFailed: (err: unknown) => generic(`Failed to fork (${strerror(err)})`),
  /** Deliberate fix: upstream's format string lacks its '%' and prints the literal `PID ld does not exist`. */
  execPidNotFound: (pid: bigint | number) => generic(`PID ${pid} does not exist`),

  // --- guest-shutdown, guest-suspend-* (reference §2.3; qemu 10.2 qga/commands-posix.c, commands-linux.c) ---
  shutdownModeInvalid: () => generic('mode is invalid (valid values are: halt|powerdown|reboot'),
  suspendNotSupported: () => generic('the requested suspend mode is not supported by the guest'),
  suspendModeUnknown: () => generic('unknown guest suspend mode'),
  suspendHelperNotFound: (helper: string) => generic(`the helper program '${helper}' was not found`),
  suspendHelperExitStatus: (helper: string, status: number) =>
    generic(`the helper program '${helper}' returned an unexpected exit status code (${status})`),
  /** run_process_child: a g_spawn_sync failure other than "not found", with GLib's message inside. */
  suspendSpawnFailed: (glibMessage: string) => generic(`failed to create child process, error '${glibMessage}'`),
  suspendStateWriteFailed: (file: string, err: unknown) => generic(`suspend: cannot write to '${file}': ${strerror(err)}`),

  // --- guest-set-user-password (reference §2.3) ---
  passwordForbiddenCharacters: () => generic('forbidden characters in raw password'),
  usernameForbiddenCharacters: () => generic('forbidden characters in username'),

  // --- guest-ssh-*-authorized-keys (reference §2.3; qga/commands-posix-ssh.c) ---
  /** GLib's g_unix_get_passwd_entry message: g_strerror of getpwnam_r's result, "Success" for an unknown user. */
  sshUserLookupFailed: (user: string, message: string) => generic(`failed to lookup user '${user}': ${message}`),
  sshReadFailed: (file: string, glibMessage: string) => generic(`failed to read '${file}': ${glibMessage}`),
  sshWriteFailed: (file: string, glibMessage: string) => generic(`failed to write to '${file}': ${glibMessage}`),
  sshMkdirFailed: (dir: string, err: unknown) => generic(`failed to create directory '${dir}': ${strerror(err)}`),
  /** Used for the authorized_keys file too: upstream says "directory" there as well. */
  sshChownFailed: (path: string, err: unknown) => generic(`failed to set ownership of directory '${path}': ${strerror(err)}`),
  sshDirChmodFailed: (dir: string, err: unknown) => generic(`failed to set permissions of directory '${dir}': ${strerror(err)}`),
  sshFileChmodFailed: (file: string, err: unknown) => generic(`failed to set permissions of '${file}': ${strerror(err)}`),

  // --- vCPUs, memory blocks, cpustats, load, set-time (reference §2.3; qga/commands-linux.c, commands-posix.c) ---
  /** error_setg_errno(errp, errno, "<call>(\"%s\")", path): transfer_vcpu's open/pread/pwrite texts */
  syscallOnPathFailed: (call: string, path: string, err: unknown) => generic(`${call}("${path}"): ${strerror(err)}`),
  syscallOnPathEof: (call: string, path: string) => generic(`${call}("${path}"): unexpected EOF`),
  /** ga_read_sysfs_file / ga_write_sysfs_file name the file relative to its directory */
  sysfsFileFailed: (call: string, file: string, err: unknown) => generic(`${call} sysfs file "${file}": ${strerror(err)}`),
  sysfsFileEof: (file: string) => generic(`pread sysfs file "${file}": unexpected EOF`),
  vcpuCannotOffline: (id: bigint | number) => generic(`logical processor #${id} can't be offlined`),
  listEntriesFailed: (dir: string, err: unknown) => generic(`failed to list entries: ${dir}: ${strerror(err)}`),
  /** Upstream's text has no space before the quote. */
  memoryDirectoryFailed: (err: unknown) => generic(`Can't open directory"/sys/devices/system/memory/": ${strerror(err)}`),
  zeroMemoryBlocks: () => generic('guest reported zero memory blocks!'),
  loadAverageFailed: (err: unknown) => generic(`cannot query load average: ${strerror(err)}`),
  timeTooLarge: (ns: bigint | number) => generic(`Time ${ns} is too large`),
  /** error_setg_errno with the errno g_date_set_time_t left, which is 0 in practice: no suffix. */
  invalidTime: () => generic('Invalid time'),
  setTimeFailed: (err: unknown) => generic(`Failed to set time to guest: ${strerror(err)}`),
  /** qga-ts only: the RTC ioctl that replaces a missing /sbin/hwclock failed. */
  hardwareClockFailed: (action: string, syscall: string, device: string | undefined, err: unknown) =>
    generic(`cannot ${action}: ${syscall}(${device === undefined ? '' : `"${device}"`}): ${strerror(err)}`),
  /** qga-ts only: no /sbin/hwclock and /etc/adjtime says the RTC keeps local time, which the ioctl path cannot do. */
  hardwareClockLocalTime: (action: string) =>
    generic(`cannot ${action}: the RTC keeps local time (/etc/adjtime) and /sbin/hwclock is missing`),
} as const;

/**
 * GLib's own error messages (gfileutils.c), which qemu-ga embeds in some of its texts. GLib
 * quotes file names with U+201C/U+201D.
 */
export const GlibText = {
  openFailed: (file: string, err: unknown) => `Failed to open file \u201C${file}\u201D: ${strerror(err)}`,
  readFailed: (file: string, err: unknown) => `Error reading file \u201C${file}\u201D: ${strerror(err)}`,
  createFailed: (file: string, err: unknown) => `Failed to create file \u201C${file}\u201D: ${strerror(err)}`,
  writeFailed: (file: string, err: unknown) => `Failed to write file \u201C${file}\u201D: write() failed: ${strerror(err)}`,
  fsyncFailed: (file: string, err: unknown) => `Failed to write file \u201C${file}\u201D: fsync() failed: ${strerror(err)}`,
  renameFailed: (from: string, to: string, err: unknown) =>
    `Failed to rename file \u201C${from}\u201D to \u201C${to}\u201D: g_rename() failed: ${strerror(err)}`,
  /** g_strerror(0): what getpwnam_r reports for a user that does not exist. */
  success: 'Success',
} as const;
