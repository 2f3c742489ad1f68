// The transport floor for the round-trip benchmark: the agent's own VirtioSerialChannel (from the
// payload's dist/) with a trivial responder in place of the protocol core. Compared with qga-ts
// and qemu-ga, it tells how much of qga-ts's round trip is the port mechanism and how much the
// lexer/dispatcher/encoder.  Usage: node transport-echo.js /dev/virtio-ports/NAME
'use strict';
const src = '/opt/payload/qga-ts/dist/src';
const { VirtioSerialChannel } = require(`${src}/transport/virtio-serial.js`);
const { loadNativeHelper, defaultNativeCandidates } = require(`${src}/native/native-helper.js`);
const { createAgentLogger } = require(`${src}/logging/agent-logger.js`);

const native = loadNativeHelper({ candidates: defaultNativeCandidates(`${src}/native`) });
if (!native.available) throw new Error(native.reason);
const { logger } = createAgentLogger({ verbose: false });
const channel = new VirtioSerialChannel({ path: process.argv[2], logger, native, edgeWake: true });
let pending = '';
channel
  .open({
    onConnect() {},
    onData(chunk) {
      // Requests are {"execute":...,"arguments":{"id":N}}: each ends with "}}".
      pending += chunk.toString('latin1');
      let end;
      while ((end = pending.indexOf('}}')) >= 0) {
        const text = pending.slice(0, end + 2);
        pending = pending.slice(end + 2);
        const id = /"id":\s*(-?\d+)/.exec(text);
        const delimit = text.includes('\xff') && text.includes('sync-delimited');
        // a latin1 string, as the agent's session writes its replies
        channel.write(`${delimit ? '\xff' : ''}{"return": ${id ? id[1] : 0}}\n`);
      }
    },
    onInputEnd(done) {
      done();
    },
    onDisconnect() {},
  })
  .then(() => console.log('qga-agent: transport echo ready'));
