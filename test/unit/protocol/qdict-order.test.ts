import assert from 'node:assert/strict';
import { test } from 'node:test';
import { qdictOrder } from '../../../src/protocol/qdict-order';

// reference Appendix A: members inserted in schema order come out in these orders.
test('QDict iteration order matches qemu for the envelopes and several structs', () => {
  assert.deepEqual(qdictOrder(['return', 'id']), ['return', 'id']);
  assert.deepEqual(qdictOrder(['error', 'id']), ['id', 'error']);
  assert.deepEqual(qdictOrder(['class', 'desc']), ['class', 'desc']);
  assert.deepEqual(qdictOrder(['count', 'buf-b64', 'eof']), ['count', 'buf-b64', 'eof']);
  assert.deepEqual(qdictOrder(['position', 'eof']), ['eof', 'position']);
  assert.deepEqual(qdictOrder(['name', 'enabled', 'success-response']), ['enabled', 'name', 'success-response']);
  assert.deepEqual(
    qdictOrder(['exited', 'exitcode', 'signal', 'out-data', 'err-data', 'out-truncated', 'err-truncated']),
    ['exitcode', 'err-data', 'out-data', 'err-truncated', 'signal', 'out-truncated', 'exited'],
  );
  assert.deepEqual(
    qdictOrder(['kernel-release', 'kernel-version', 'machine', 'id', 'name', 'pretty-name', 'version', 'version-id', 'variant', 'variant-id']),
    ['name', 'kernel-release', 'version', 'variant', 'pretty-name', 'version-id', 'variant-id', 'kernel-version', 'machine', 'id'],
  );
});
