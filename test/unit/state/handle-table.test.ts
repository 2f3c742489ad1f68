import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HandleTable, type HandleNumberSource } from '../../../src/state/handle-table';

class Counter implements HandleNumberSource {
  constructor(public next = 1000n, public failNext = false) {}
  async allocateFileHandle(): Promise<bigint> {
    const n = this.next++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('commit failed');
    }
    return n;
  }
}

class Resource {
  closed = 0;
  constructor(private readonly failClose = false) {}
  async close(): Promise<void> {
    this.closed++;
    if (this.failClose) throw new Error('flush failed');
  }
}

test('numbers come from the source and are never reused', async () => {
  const table = new HandleTable<Resource>(new Counter());
  const a = new Resource();
  assert.equal(await table.add(a), 1000n);
  assert.equal(await table.add(new Resource()), 1001n);
  assert.equal(table.take(1000n), a);
  assert.equal(await table.add(new Resource()), 1002n);
  assert.deepEqual(table.handles(), [1001n, 1002n]);
});

test('an unknown handle gives qemu-ga\'s error', () => {
  const table = new HandleTable<Resource>(new Counter());
  assert.throws(() => table.get(1000n), { errorClass: 'GenericError', desc: "handle '1000' has not been found" });
  assert.throws(() => table.take(-5n), { desc: "handle '-5' has not been found" });
});

test('a failed allocation leaves the table as it was', async () => {
  const counter = new Counter(1000n, true);
  const table = new HandleTable<Resource>(counter);
  await assert.rejects(table.add(new Resource()), /commit failed/);
  assert.equal(table.size, 0);
  assert.equal(await table.add(new Resource()), 1001n);
});

test('closeAll closes everything, empties the table and reports failures', async () => {
  const table = new HandleTable<Resource>(new Counter());
  const good = new Resource();
  const bad = new Resource(true);
  await table.add(good);
  await table.add(bad);
  const failures = await table.closeAll();
  assert.equal(good.closed, 1);
  assert.equal(bad.closed, 1);
  assert.equal(table.size, 0);
  assert.deepEqual(failures.map((f) => f.handle), [1001n]);
  assert.deepEqual(await table.closeAll(), []);
});
