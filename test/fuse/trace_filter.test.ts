// Trace filters as the server checks them, paths below a prefix, and the ISO times of events.

import t from 'tap';
import { iso_ms, iso_us, path_under, trace_filter_parse, FILTER_NONE } from '../../src/fuse/trace.js';

t.test('filters: what is accepted and what is refused', async (t) => {
  t.same(trace_filter_parse(undefined), FILTER_NONE, 'no filter: everything');
  t.same(trace_filter_parse({ pids: [1, 2], comms: ['dd'], paths: ['/a'], ops: ['write', 'durable'], slowerUs: 50, durability: true }),
    { pids: [1, 2], comms: ['dd'], paths: ['/a'], ops: ['write', 'durable'], slowerUs: 50, durability: true }, 'every field');
  t.same(trace_filter_parse({ pids: null, ops: null }), FILTER_NONE, 'null is absent');
  const bad: [unknown, RegExp][] = [
    [{ ops: ['write', 'utimens'] }, /unknown operation 'utimens'/],
    [{ pids: [-1] }, /"pids" must be a non-empty list/],
    [{ pids: [] }, /"pids" must be a non-empty list/],
    [{ paths: ['rel'] }, /"paths" must be a non-empty list/],
    [{ slowerUs: -5 }, /"slowerUs" must be a number/],
    [{ slowerUs: 'soon' }, /"slowerUs" must be a number/],
    [{ durability: 1 }, /"durability" must be true or false/],
    [{ colour: 'red' }, /unknown trace filter "colour"/],
  ];
  for (const [f, re] of bad) t.throws(() => trace_filter_parse(f), re, JSON.stringify(f));
  t.throws(() => trace_filter_parse({ ops: ['x'] }), { code: 'EINVAL' }, 'refusals are EINVAL');
});

t.test('paths below a prefix', async (t) => {
  t.ok(path_under('/a', '/a'), 'the prefix itself');
  t.ok(path_under('/a/b/c', '/a'), 'below it');
  t.notOk(path_under('/ab', '/a'), 'not a sibling that starts the same');
  t.ok(path_under('/a/b', '/a/'), 'a trailing slash is the same');
  t.ok(path_under('/anything', '/'), '/ holds everything');
  t.ok(path_under('', '/'), 'even a file whose name is gone');
  t.notOk(path_under('', '/a'), 'which no other prefix holds');
});

t.test('times: ISO 8601 with microseconds, and back', async (t) => {
  t.equal(iso_us(0), '1970-01-01T00:00:00.000000Z');
  t.equal(iso_us(1733450000123.456), '2024-12-06T01:53:20.123456Z');
  t.equal(iso_us(1733450001000), '2024-12-06T01:53:21.000000Z', 'the next second, after the cached one');
  t.equal(iso_us(1733450000999.5), '2024-12-06T01:53:20.999500Z', 'and back within it');
  for (const ms of [1.25, 1733450000123.456, 1733450059999.999]) t.ok(Math.abs(iso_ms(iso_us(ms)) - ms) < 0.002, `${ms} round-trips to the microsecond`);
  t.ok(Number.isNaN(iso_ms('yesterday')), 'anything else is NaN');
});
