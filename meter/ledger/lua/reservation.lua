-- reservation.lua: commit or release one reservation, atomically.
--
-- KEYS[1]  stream of the ClickHouse writer             KEYS[2] its backlog counter
-- ARGV[1]  key prefix "meter:{pool}:"                  ARGV[2] op: 'commit' | 'release'
-- ARGV[3]  reservation id                             ARGV[4] committed amount (commit)
-- ARGV[5]  counter key of the metric's current period ('' for stocks: their snapshots count);
--          a commit to it appends its usage fact to the stream, as decide.lua's, with the ref
--          'reservation-<id>' (facts.lua; the writer builds the history row)
-- ARGV[6]  counter ttl, seconds
-- ARGV[7]  now, unix ms (an expired reservation is released, not committed)
-- Returns {metric, signatory, reserved amount, dataset}, or the error NOT_FOUND (unknown, settled,
-- or a release of an expired one), EXPIRED (a commit of an expired one: it released itself) or
-- TOO_MUCH (a commit above the reserved amount; nothing changed).
local prefix, op, rid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[7]

--!include reservations
--!include facts

local r = redis.call('HMGET', prefix .. 'resv:' .. rid, 'metric', 'sig', 'amount', 'dataset', 'expires')
if not r[1] then
  if op == 'commit' and redis.call('EXISTS', prefix .. 'resv_expired:' .. rid) == 1 then
    return redis.error_reply('EXPIRED')
  end
  return redis.error_reply('NOT_FOUND')
end
local expired = tonumber(r[5] or '0') <= tonumber(now)
local amount = tonumber(ARGV[4]) or 0
if op == 'commit' and not expired and amount > tonumber(r[3]) then
  return redis.error_reply('TOO_MUCH')
end

local function hincrby(key, field, by)
  redis.call('HINCRBY', key, field, by)
end
-- an expired one is released as the sweep would have, and remembered as the sweep does
resv_release(hincrby, prefix, rid, r, expired)
if expired then
  return redis.error_reply(op == 'commit' and 'EXPIRED' or 'NOT_FOUND')
end
local counter = ARGV[5]
if op == 'commit' and counter ~= '' and amount > 0 then
  redis.call('HINCRBY', counter, r[2], amount)
  redis.call('HINCRBY', counter, '*', amount)
  redis.call('EXPIRE', counter, tonumber(ARGV[6]))
  append_usage({usage_fact(r[1], r[2], r[4], amount, {})}, now, 'reservation-' .. rid)
end
return {r[1], r[2], r[3], r[4]}
