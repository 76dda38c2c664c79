-- reservation.lua: commit or release one reservation, atomically.
--
-- KEYS[1]  stream of the ClickHouse writer             KEYS[2] its backlog counter
-- ARGV[1]  key prefix "meter:{pool}:"                  ARGV[2] op: 'commit' | 'release'
-- ARGV[3]  reservation id                             ARGV[4] committed amount (commit)
-- ARGV[5]  counter key of the metric's current period ('' for stocks: their snapshots count);
--          a commit to it appends its usage fact to the stream, as decide.lua's, with the ref
--          'reservation-<id>' (the writer builds the history row)
-- ARGV[6]  counter ttl, seconds
-- ARGV[7]  now, unix ms (an expired reservation is released, not committed)
-- Returns {metric, signatory, reserved amount, dataset}, or the error NOT_FOUND (unknown, settled,
-- or a release of an expired one), EXPIRED (a commit of an expired one: it released itself) or
-- TOO_MUCH (a commit above the reserved amount; nothing changed).
local prefix, op, rid = ARGV[1], ARGV[2], ARGV[3]
local key = prefix .. 'resv:' .. rid
local r = redis.call('HMGET', key, 'metric', 'sig', 'amount', 'dataset', 'expires')
local gone = prefix .. 'resv_expired:' .. rid
if not r[1] then
  if op == 'commit' and redis.call('EXISTS', gone) == 1 then
    return redis.error_reply('EXPIRED')
  end
  return redis.error_reply('NOT_FOUND')
end
local expired = tonumber(r[5] or '0') <= tonumber(ARGV[7])
local amount = tonumber(ARGV[4]) or 0
if op == 'commit' and not expired and amount > tonumber(r[3]) then
  return redis.error_reply('TOO_MUCH')
end

local held = prefix .. 'held:' .. r[1]
redis.call('HINCRBY', held, r[2], -tonumber(r[3]))
redis.call('HINCRBY', held, '*', -tonumber(r[3]))
if r[4] ~= '' then
  redis.call('HINCRBY', held, 'ds:' .. r[4], -tonumber(r[3]))
end
redis.call('DEL', key)
redis.call('ZREM', prefix .. 'resv_expiry', rid)

if expired then -- released above, as the sweep would have, and remembered as the sweep does
  redis.call('SET', gone, 1, 'EX', 86400)
  return redis.error_reply(op == 'commit' and 'EXPIRED' or 'NOT_FOUND')
end
if op == 'commit' and ARGV[5] ~= '' and amount > 0 then
  redis.call('HINCRBY', ARGV[5], r[2], amount)
  redis.call('HINCRBY', ARGV[5], '*', amount)
  redis.call('EXPIRE', ARGV[5], tonumber(ARGV[6]))
  local fact = string.format('[["%s",%s,%s,%d,[]]]', r[1], cjson.encode(r[2]), cjson.encode(r[4]), amount)
  redis.call('XADD', KEYS[1], '*', 'n', 1, 't', ARGV[7], 'ref', 'reservation-' .. rid, 'usage', fact)
  redis.call('INCRBY', KEYS[2], 1)
end
return {r[1], r[2], r[3], r[4]}
