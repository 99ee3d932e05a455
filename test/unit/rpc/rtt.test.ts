import test from 'ava';
import { RttEstimator } from '../../../src/rpc/index.js';

const init = { rtoInitialMs: 250, rtoMinMs: 30, rtoMaxMs: 2_000 };

test('before any sample the timeout is the initial one, doubling per retry up to the cap', (t) => {
  const r = new RttEstimator(init);
  t.deepEqual([0, 1, 2, 3, 4].map((a) => r.rto(a)), [250, 500, 1000, 2000, 2000]);
});

test('the timeout follows measured RTT and never drops below the floor', (t) => {
  const r = new RttEstimator(init);
  for (let i = 0; i < 20; i++) r.sample(1);
  t.is(r.rto(), 30);
  const slow = new RttEstimator(init);
  for (let i = 0; i < 50; i++) slow.sample(100);
  t.true(Math.abs(slow.srtt! - 100) < 1);
  t.true(slow.rto() >= 100 && slow.rto() < 120, `rto ${slow.rto()}`);
});

test('variance widens the timeout', (t) => {
  const r = new RttEstimator(init);
  for (let i = 0; i < 50; i++) r.sample(i % 2 === 0 ? 50 : 150);
  t.true(r.rto() > 250, `rto ${r.rto()}`);
});
