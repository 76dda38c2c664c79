-- counters.lua: decide.lua's hash fields, read once per call and written once at its end
-- (included in place of its `--!include counters` line, meter/ledger/scripts.py).
-- The decisions of one call see each other through this cache, so they cannot overshoot a cap
-- together, and a batch of 100 costs a handful of Redis calls, not 600.
--   raw(key, field)         the stored string, false when absent (read once)
--   get(key, field)         the same as a number (0 when absent)
--   incr(key, field, by)    moves a field; written at the end as one HINCRBY of the call's sum
--   known(key, field, v)    what a wider read (HGETALL) brought, so that raw() need not ask again
--   expire_at_end(key, s)   the key's TTL, set once at the end
--   save_counters()         writes the moves and the TTLs
local counters, moves, ttls = {}, {}, {}

local function num(v)
  return tonumber(v or '0') or 0
end

local function raw(key, field)
  local k = counters[key]
  if not k then
    k = {}
    counters[key] = k
  end
  local v = k[field]
  if v == nil then
    v = redis.call('HGET', key, field) or false
    k[field] = v
  end
  return v
end

local function get(key, field)
  return num(raw(key, field) or nil)
end

local function incr(key, field, by)
  local v = get(key, field) + by -- first: get() creates the key's cache table
  counters[key][field] = tostring(v)
  local d = moves[key]
  if not d then
    d = {}
    moves[key] = d
  end
  d[field] = (d[field] or 0) + by
end

local function known(key, field, v)
  local k = counters[key]
  if not k then
    k = {}
    counters[key] = k
  end
  k[field] = v
end

local function expire_at_end(key, seconds)
  ttls[key] = seconds
end

local function save_counters()
  for key, fields in pairs(moves) do
    for field, by in pairs(fields) do
      if by ~= 0 then
        redis.call('HINCRBY', key, field, string.format('%d', by))
      end
    end
  end
  for key, seconds in pairs(ttls) do
    redis.call('EXPIRE', key, seconds)
  end
end
