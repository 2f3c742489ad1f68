import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Errors, GlibText, QgaError, strerror, toQgaError } from '../../../src/protocol/errors';

// Every helper with its exact qemu-ga text (reference §1.2, §1.4, §2.4). A helper added to
// errors.ts without a line here fails the completeness check below.
const EXPECTED: Record<keyof typeof Errors, [QgaError, string, string]> = {
  jsonStray: [Errors.jsonStray('-p'), 'GenericError', "JSON parse error, stray '-p'"],
  jsonParse: [Errors.jsonParse('expecting value'), 'GenericError', 'JSON parse error, expecting value'],
  tokenSizeLimit: [Errors.tokenSizeLimit(), 'GenericError', 'JSON token size limit exceeded'],
  tokenCountLimit: [Errors.tokenCountLimit(), 'GenericError', 'JSON token count limit exceeded'],
  nestingLimit: [Errors.nestingLimit(), 'GenericError', 'JSON nesting depth limit exceeded'],
  inputNotObject: [Errors.inputNotObject(), 'GenericError', 'QMP input must be a JSON object'],
  executeNotString: [Errors.executeNotString(), 'GenericError', "QMP input member 'execute' must be a string"],
  argumentsNotObject: [Errors.argumentsNotObject(), 'GenericError', "QMP input member 'arguments' must be an object"],
  memberUnexpected: [Errors.memberUnexpected('exec-oob'), 'GenericError', "QMP input member 'exec-oob' is unexpected"],
  lacksExecute: [Errors.lacksExecute(), 'GenericError', "QMP input lacks member 'execute'"],
  commandNotFound: [Errors.commandNotFound('guest-nope'), 'CommandNotFound', 'The command guest-nope has not been found'],
  commandDisabled: [Errors.commandDisabled('guest-ping'), 'CommandNotFound', 'Command guest-ping has been disabled: the command is not allowed'],
  parameterMissing: [Errors.parameterMissing('vcpus[0].online'), 'GenericError', "Parameter 'vcpus[0].online' is missing"],
  parameterUnexpected: [Errors.parameterUnexpected('foo'), 'GenericError', "Parameter 'foo' is unexpected"],
  invalidParameterType: [Errors.invalidParameterType('id', 'integer'), 'GenericError', "Invalid parameter type for 'id', expected: integer"],
  parameterExpects: [Errors.parameterExpects('phys-index', 'uint64'), 'GenericError', "Parameter 'phys-index' expects uint64"],
  parameterValueRejected: [Errors.parameterValueRejected('whence', 'bogus'), 'GenericError', "Parameter 'whence' does not accept value 'bogus'"],
  generic: [Errors.generic('anything'), 'GenericError', 'anything'],
  withErrno: [Errors.withErrno('Failed to get statvfs', { code: 'ENOENT' }), 'GenericError', 'Failed to get statvfs: No such file or directory'],
  base64Invalid: [Errors.base64Invalid(), 'GenericError', 'Base64 data contains invalid characters'],
  invalidArgumentValue: [Errors.invalidArgumentValue(-1n, 'count'), 'GenericError', "value '-1' is invalid for argument count"],
  fileHandleNotFound: [Errors.fileHandleNotFound(1000n), 'GenericError', "handle '1000' has not been found"],
  fileOpenModeInvalid: [Errors.fileOpenModeInvalid('rw'), 'GenericError', "invalid file open mode 'rw'"],
  fileOpenFailed: [
    Errors.fileOpenFailed('/tmp/x/nope', 'r', { code: 'ENOENT' }),
    'GenericError',
    "failed to open file '/tmp/x/nope' (mode: 'r'): No such file or directory",
  ],
  fileSetPermissionFailed: [
    Errors.fileSetPermissionFailed('foo', 'w', { code: 'EPERM' }),
    'GenericError',
    "failed to set permission 0666 on new file 'foo' (mode: 'w'): Operation not permitted",
  ],
  fileReadFailed: [Errors.fileReadFailed({ code: 'EISDIR' }), 'GenericError', 'failed to read file: Is a directory'],
  fileWriteFailed: [Errors.fileWriteFailed({ code: 'EBADF' }), 'GenericError', 'failed to write to file: Bad file descriptor'],
  fileSeekFailed: [Errors.fileSeekFailed({ code: 'EINVAL' }), 'GenericError', 'failed to seek file: Invalid argument'],
  fileWhenceInvalid: [Errors.fileWhenceInvalid(3n), 'GenericError', 'invalid whence code 3'],
  fileFlushFailed: [Errors.fileFlushFailed({ code: 'ENOSPC' }), 'GenericError', 'failed to flush file: No space left on device'],
  fileCloseFailed: [Errors.fileCloseFailed({ code: 'ENOSPC' }), 'GenericError', 'failed to close handle: No space left on device'],
  persistentStateCommitFailed: [Errors.persistentStateCommitFailed(), 'GenericError', 'failed to commit persistent state to disk'],
  childProcessAbnormal: [Errors.childProcessAbnormal('killed\n'), 'GenericError', 'child process has terminated abnormally: killed\n'],
  childProcessFailed: [
    Errors.childProcessFailed('execute fsfreeze hook', "failed to exec '/x': No such file or directory\n"),
    'GenericError',
    "child process has failed to execute fsfreeze hook: failed to exec '/x': No such file or directory\n",
  ],
  childProcessExitStatus: [
    Errors.childProcessExitStatus('execute fsfreeze hook', 3),
    'GenericError',
    'child process has failed to execute fsfreeze hook: exit status 3',
  ],
  childProcessCreateFailed: [Errors.childProcessCreateFailed({ code: 'EAGAIN' }), 'GenericError', 'failed to create child process: Resource temporarily unavailable'],
  mtabOpenFailed: [Errors.mtabOpenFailed('/proc/self/mounts'), 'GenericError', "failed to open mtab file: '/proc/self/mounts'"],
  fsfreezeOpenFailed: [Errors.fsfreezeOpenFailed('/mnt', { code: 'EACCES' }), 'GenericError', 'failed to open /mnt: Permission denied'],
  fsfreezeFailed: [Errors.fsfreezeFailed('/mnt', { code: 'EIO' }), 'GenericError', 'failed to freeze /mnt: Input/output error'],
  fsfreezeOvertakenByThaw: [
    Errors.fsfreezeOvertakenByThaw(),
    'GenericError',
    'the freeze was cancelled by a thaw before it completed; all filesystems were thawed',
  ],
  cannotOpenDirectory: [Errors.cannotOpenDirectory('/sys/block', { code: 'ENOENT' }), 'GenericError', 'Can\'t open directory "/sys/block": No such file or directory'],
  openCallFailed: [Errors.openCallFailed('/proc/diskstats', { code: 'ENOENT' }), 'GenericError', 'open("/proc/diskstats"): No such file or directory'],
  syscallOnPathFailed: [
    Errors.syscallOnPathFailed('open', '/sys/devices/system/cpu/cpu1//online', { code: 'EACCES' }),
    'GenericError',
    'open("/sys/devices/system/cpu/cpu1//online"): Permission denied',
  ],
  syscallOnPathEof: [Errors.syscallOnPathEof('pread', '/sys/devices/system/cpu/cpu1//online'), 'GenericError', 'pread("/sys/devices/system/cpu/cpu1//online"): unexpected EOF'],
  sysfsFileFailed: [Errors.sysfsFileFailed('pread', 'state', { code: 'EIO' }), 'GenericError', 'pread sysfs file "state": Input/output error'],
  sysfsFileEof: [Errors.sysfsFileEof('removable'), 'GenericError', 'pread sysfs file "removable": unexpected EOF'],
  vcpuCannotOffline: [Errors.vcpuCannotOffline(0n), 'GenericError', "logical processor #0 can't be offlined"],
  listEntriesFailed: [
    Errors.listEntriesFailed('/sys/devices/system/cpu', { code: 'ENOENT' }),
    'GenericError',
    'failed to list entries: /sys/devices/system/cpu: No such file or directory',
  ],
  memoryDirectoryFailed: [
    Errors.memoryDirectoryFailed({ code: 'EACCES' }),
    'GenericError',
    'Can\'t open directory"/sys/devices/system/memory/": Permission denied',
  ],
  zeroMemoryBlocks: [Errors.zeroMemoryBlocks(), 'GenericError', 'guest reported zero memory blocks!'],
  loadAverageFailed: [Errors.loadAverageFailed({ code: 'ENOENT' }), 'GenericError', 'cannot query load average: No such file or directory'],
  timeTooLarge: [Errors.timeTooLarge(9223372036854775807n), 'GenericError', 'Time 9223372036854775807 is too large'],
  invalidTime: [Errors.invalidTime(), 'GenericError', 'Invalid time'],
  setTimeFailed: [Errors.setTimeFailed({ code: 'EPERM' }), 'GenericError', 'Failed to set time to guest: Operation not permitted'],
  hardwareClockFailed: [
    Errors.hardwareClockFailed('set hardware clock to system time', 'open', '/dev/rtc0', { code: 'ENOENT' }),
    'GenericError',
    'cannot set hardware clock to system time: open("/dev/rtc0"): No such file or directory',
  ],
  hardwareClockLocalTime: [
    Errors.hardwareClockLocalTime('set hardware clock to system time'),
    'GenericError',
    'cannot set hardware clock to system time: the RTC keeps local time (/etc/adjtime) and /sbin/hwclock is missing',
  ],
  cannotCreatePipe: [Errors.cannotCreatePipe(), 'GenericError', 'cannot create pipe FDs'],
  childStdinWriteFailed: [Errors.childStdinWriteFailed('set user password', { code: 'EPIPE' }), 'GenericError', 'set user password: cannot write to stdin pipe: Broken pipe'],
  childOutputReadFailed: [Errors.childOutputReadFailed('shutdown', { code: 'EIO' }), 'GenericError', 'shutdown: cannot read from stdout/stderr pipe: Input/output error'],
  execChildFailed: [
    Errors.execChildFailed('/bin/invalid-cmd42', { code: 'ENOENT' }),
    'GenericError',
    'Failed to execute child process \u201C/bin/invalid-cmd42\u201D (No such file or directory)',
  ],
  execPipeFailed: [Errors.execPipeFailed({ code: 'EMFILE' }), 'GenericError', 'Failed to create pipe for communicating with child process (Too many open files)'],
  execForkFailed: [Errors.execForkFailed({ code: 'EAGAIN' }), 'GenericError', 'Failed to fork (Resource temporarily unavailable)'],
  execPidNotFound: [Errors.execPidNotFound(4242n), 'GenericError', 'PID 4242 does not exist'],
  shutdownModeInvalid: [Errors.shutdownModeInvalid(), 'GenericError', 'mode is invalid (valid values are: halt|powerdown|reboot'],
  suspendNotSupported: [Errors.suspendNotSupported(), 'GenericError', 'the requested suspend mode is not supported by the guest'],
  suspendModeUnknown: [Errors.suspendModeUnknown(), 'GenericError', 'unknown guest suspend mode'],
  suspendHelperNotFound: [Errors.suspendHelperNotFound('systemctl suspend'), 'GenericError', "the helper program 'systemctl suspend' was not found"],
  suspendHelperExitStatus: [
    Errors.suspendHelperExitStatus('pm-suspend', 5),
    'GenericError',
    "the helper program 'pm-suspend' returned an unexpected exit status code (5)",
  ],
  suspendSpawnFailed: [Errors.suspendSpawnFailed('boom'), 'GenericError', "failed to create child process, error 'boom'"],
  suspendStateWriteFailed: [
    Errors.suspendStateWriteFailed('/sys/power/state', { code: 'EBUSY' }),
    'GenericError',
    "suspend: cannot write to '/sys/power/state': Device or resource busy",
  ],
  passwordForbiddenCharacters: [Errors.passwordForbiddenCharacters(), 'GenericError', 'forbidden characters in raw password'],
  usernameForbiddenCharacters: [Errors.usernameForbiddenCharacters(), 'GenericError', 'forbidden characters in username'],
  sshUserLookupFailed: [Errors.sshUserLookupFailed('nosuchuser', 'Success'), 'GenericError', "failed to lookup user 'nosuchuser': Success"],
  sshReadFailed: [Errors.sshReadFailed('/k', 'msg'), 'GenericError', "failed to read '/k': msg"],
  sshWriteFailed: [Errors.sshWriteFailed('/k', 'msg'), 'GenericError', "failed to write to '/k': msg"],
  sshMkdirFailed: [Errors.sshMkdirFailed('/h/.ssh', { code: 'EEXIST' }), 'GenericError', "failed to create directory '/h/.ssh': File exists"],
  sshChownFailed: [Errors.sshChownFailed('/h/.ssh/authorized_keys', { code: 'EPERM' }), 'GenericError', "failed to set ownership of directory '/h/.ssh/authorized_keys': Operation not permitted"],
  sshDirChmodFailed: [Errors.sshDirChmodFailed('/h/.ssh', { code: 'EPERM' }), 'GenericError', "failed to set permissions of directory '/h/.ssh': Operation not permitted"],
  sshFileChmodFailed: [Errors.sshFileChmodFailed('/h/.ssh/authorized_keys', { code: 'EROFS' }), 'GenericError', "failed to set permissions of '/h/.ssh/authorized_keys': Read-only file system"],
};

test('childProcessAbnormal without output has no colon', () => {
  assert.equal(Errors.childProcessAbnormal('').desc, 'child process has terminated abnormally');
});

test('every error helper has its exact qemu-ga class and text', () => {
  assert.deepEqual(Object.keys(EXPECTED).sort(), Object.keys(Errors).sort(), 'errors.ts and this table list the same helpers');
  for (const [name, [err, cls, desc]] of Object.entries(EXPECTED)) {
    assert.ok(err instanceof QgaError, name);
    assert.equal(err.errorClass, cls, name);
    assert.equal(err.desc, desc, name);
  }
});

test('strerror gives glibc texts and survives unknown codes', () => {
  assert.equal(strerror('EBADF'), 'Bad file descriptor');
  assert.equal(strerror(Object.assign(new Error('x'), { code: 'EISDIR' })), 'Is a directory');
  assert.equal(strerror('EWEIRD'), 'Unknown error EWEIRD');
});

test('any thrown value becomes a GenericError with its message', () => {
  assert.equal(toQgaError(new RangeError('r')).desc, 'r');
  assert.equal(toQgaError(42).desc, '42');
  const own = Errors.commandNotFound('x');
  assert.equal(toQgaError(own), own);
});

test('GLib file messages quote with U+201C/U+201D', () => {
  assert.equal(GlibText.openFailed('/root/.ssh/authorized_keys', { code: 'ENOENT' }), 'Failed to open file \u201C/root/.ssh/authorized_keys\u201D: No such file or directory');
  assert.equal(GlibText.readFailed('/d', { code: 'EISDIR' }), 'Error reading file \u201C/d\u201D: Is a directory');
  assert.equal(GlibText.createFailed('/k.x', { code: 'EACCES' }), 'Failed to create file \u201C/k.x\u201D: Permission denied');
  assert.equal(GlibText.writeFailed('/k.x', { code: 'ENOSPC' }), 'Failed to write file \u201C/k.x\u201D: write() failed: No space left on device');
  assert.equal(GlibText.fsyncFailed('/k.x', { code: 'EIO' }), 'Failed to write file \u201C/k.x\u201D: fsync() failed: Input/output error');
  assert.equal(GlibText.renameFailed('/k.x', '/k', { code: 'EISDIR' }), 'Failed to rename file \u201C/k.x\u201D to \u201C/k\u201D: g_rename() failed: Is a directory');
  assert.equal(GlibText.success, 'Success');
});
