-- counters.lua: decide.lua's hash fields, read once per call and written once at its end
-- (included in place of its `--!include counters` line, meter/ledger/scripts.py).
-- The decisions of one call see each other through this cache, so they cannot overshoot a cap
-- together, and a batch of 100 costs a handful of Redis calls, not 600: the fields a batch
-- needs are read with one HMGET per hash, and each hash it moved is written with one HSET of the
-- fields' new values (exact: the script runs alone, and every write to these hashes goes
-- through incr).
--   raw(key, field)         the stored value, false when absent (read once)
--   get(key, field)         the same as a number (0 when absent)
--   prefetch(key, fields)   reads the fields not yet read, in one HMGET
--   incr(key, field, by)    moves a field; written at the end
--   known(key, field, v)    what a wider read (HGETALL) brought, unless already read
--   expire_at_end(key, s)   the key's TTL, set once at the end
--   save_counters()         writes the moved fields and the TTLs
--   sliced(cmd, key, args)  a command over a long argument list, in slices
local counters, moves, ttls = {}, {}, {}

local function num(v)
  return tonumber(v or '0') or 0
end

-- Lua's unpack stops at a few thousand values
local function sliced(cmd, key, args)
  for i = 1, #args, 2000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 1999, #args)))
  end
end

local function cached(key)
  local k = counters[key]
  if not k then
    k = {}
    counters[key] = k
  end
  return k
end

local function raw(key, field)
  local k = cached(key)
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

local function prefetch(key, fields)
  local k, wanted = cached(key), {}
  for _, field in ipairs(fields) do
    if k[field] == nil then
      k[field] = false -- a placeholder until read, so that a repeated field is asked once
      wanted[#wanted + 1] = field
    end
  end
  for i = 1, #wanted, 1000 do
    local last = math.min(i + 999, #wanted)
    local got = redis.call('HMGET', key, unpack(wanted, i, last))
    for j = i, last do
      k[wanted[j]] = got[j - i + 1]
    end
  end
end

local function incr(key, field, by)
  local v = get(key, field) + by -- first: get() creates the key's cache table
  counters[key][field] = v -- a number: kept exact (tostring would cut it to 14 digits)
  local d = moves[key]
  if not d then
    d = {}
    moves[key] = d
  end
  d[field] = (d[field] or 0) + by
end

local function known(key, field, v)
  local k = cached(key)
  if k[field] == nil then
    k[field] = v
  end
end

local function expire_at_end(key, seconds)
  ttls[key] = seconds
end

local function save_counters()
  for key, fields in pairs(moves) do
    local values = {}
    for field, by in pairs(fields) do
      if by ~= 0 then
        values[#values + 1] = field
        values[#values + 1] = string.format('%d', counters[key][field])
      end
    end
    if #values > 0 then
      sliced('HSET', key, values)
    end
  end
  for key, seconds in pairs(ttls) do
    redis.call('EXPIRE', key, seconds)
  end
end
