'use strict';
// Stand-in for the agent inside the test VM: echoes every line received on each virtio-serial
// port back on the same port, prefixed with the port name ("<port>: <line>").
// Two control lines: "!exit" ends this process (/init restarts it), "!poweroff" stops the VM.
//
// I/O follows test/vm/PORT-BEHAVIOUR.md: a blocking fd read in the threadpool waits for data
// while a host is connected and returns 0 at once while none is; on 0 we back off 100 ms and
// read the same fd again (never close it: closing discards data the kernel already holds).
const fs = require('node:fs');

const PORTS = ['com.163.spice.0', 'org.qemu.guest_agent.0'];
const NO_HOST_BACKOFF_MS = 100;

function servePort(name) {
  const fd = fs.openSync(`/dev/virtio-ports/${name}`, 'r+');
  const buffer = Buffer.alloc(65536);
  let pending = '';
  // Writes on the blocking fd wait for a host instead of failing while none is connected, so
  // they run in the threadpool (fs.write), chained to keep their order. One write(2) takes at
  // most 32 KiB, hence the loop.
  let writeChain = Promise.resolve();
  const writeAll = (data) =>
    new Promise((resolve) => {
      fs.write(fd, data, 0, data.length, null, (error, written) => {
        if (error) {
          process.stdout.write(`standin: ${name}: write failed: ${error.code}\n`);
          resolve();
        } else if (written < data.length) {
          resolve(writeAll(data.subarray(written)));
        } else {
          resolve();
        }
      });
    });
  const write = (text) => {
    writeChain = writeChain.then(() => writeAll(Buffer.from(text)));
  };
  const readNext = () => {
    fs.read(fd, buffer, 0, buffer.length, null, (error, bytesRead) => {
      if (error) {
        process.stdout.write(`standin: ${name}: read failed: ${error.code}\n`);
        process.exit(1);
      }
      if (bytesRead === 0) {
        // No host connected (or it just left): the read did not block; poll again later.
        setTimeout(readNext, NO_HOST_BACKOFF_MS);
        return;
      }
      pending += buffer.subarray(0, bytesRead).toString('utf8');
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line === '!exit') process.exit(0);
        if (line === '!poweroff') fs.writeFileSync('/tmp/poweroff', 'poweroff');
        write(`${name}: ${line}\n`);
      }
      readNext();
    });
  };
  readNext();
}

for (const name of PORTS) servePort(name);
process.stdout.write(`standin: echoing on ${PORTS.join(', ')}\n`);
