-- reservations.lua: what a reservation holds, and its release, written once for decide.lua
-- (which holds, and sweeps the expired) and reservation.lua (which commits or releases one).
-- A reservation is the hash resv:<id> {metric, sig, amount, dataset, expires} and its place in
-- the sorted set resv_expiry; what it holds is counted in held:<metric>, under its signatory,
-- '*' and 'ds:<dataset>'. `add(key, field, by)` moves a hash field: the including script passes
-- its own (decide.lua's cached counters, or a plain HINCRBY).

local function resv_count(add, held, sig, dataset, by)
  add(held, sig, by)
  add(held, '*', by)
  if dataset and dataset ~= '' then
    add(held, 'ds:' .. dataset, by)
  end
end

local function resv_hold(add, prefix, rid, metric, sig, dataset, amount, expires)
  local at = string.format('%d', expires)
  redis.call('HSET', prefix .. 'resv:' .. rid, 'metric', metric, 'sig', sig, 'amount', string.format('%d', amount),
    'dataset', dataset, 'expires', at)
  redis.call('ZADD', prefix .. 'resv_expiry', at, rid)
  resv_count(add, prefix .. 'held:' .. metric, sig, dataset, amount)
end

-- r: the reservation as read, {metric, sig, amount, dataset} (r[1] false: already gone).
-- An expired one is remembered a day: committing it later is a conflict (409), not an unknown id (404).
local function resv_release(add, prefix, rid, r, expired)
  if r[1] then
    resv_count(add, prefix .. 'held:' .. r[1], r[2], r[4], -tonumber(r[3]))
  end
  redis.call('DEL', prefix .. 'resv:' .. rid)
  redis.call('ZREM', prefix .. 'resv_expiry', rid)
  if expired then
    redis.call('SET', prefix .. 'resv_expired:' .. rid, 1, 'EX', 86400)
  end
end

-- up to 100 reservations expired at `now` (unix ms) release themselves
local function resv_sweep(add, prefix, now)
  for _, rid in ipairs(redis.call('ZRANGEBYSCORE', prefix .. 'resv_expiry', '-inf', now, 'LIMIT', 0, 100)) do
    local r = redis.call('HMGET', prefix .. 'resv:' .. rid, 'metric', 'sig', 'amount', 'dataset')
    resv_release(add, prefix, rid, r, true)
  end
end
