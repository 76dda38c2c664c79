-- facts.lua: usage appended to the writer's stream as facts, for decide.lua and reservation.lua
-- (included in place of their `--!include facts` line, meter/ledger/scripts.py). The scripts
-- decide; the writer builds the history rows (meter/store/rows.py, usage_rows).
-- A fact is the JSON array [metric, signatory, dataset, amount, check_keys]: check_keys lists
-- "digest:fingerprint" of the checks sent with an id that it sums. An entry of the stream is
-- {n: the number of facts, t: the script's time (unix ms), ref: what the rows' ids start with
-- (absent: the entry's id), usage: the JSON array of its facts}; KEYS[1] is the stream and
-- KEYS[2] its backlog counter.

local function usage_fact(metric, sig, dataset, amount, check_keys)
  local keys = '[]'
  if #check_keys > 0 then
    keys = '["' .. table.concat(check_keys, '","') .. '"]' -- hex digits and ':' only
  end
  -- the amount as an integer: concatenated as it is, Lua writes 1e+15 past 14 digits
  return string.format('["%s",%s,%s,%d,%s]', metric, cjson.encode(sig), cjson.encode(dataset), amount, keys)
end

local function append_usage(facts, now, ref)
  local usage = '[' .. table.concat(facts, ',') .. ']'
  if ref then
    redis.call('XADD', KEYS[1], '*', 'n', #facts, 't', now, 'ref', ref, 'usage', usage)
  else
    redis.call('XADD', KEYS[1], '*', 'n', #facts, 't', now, 'usage', usage)
  end
  redis.call('INCRBY', KEYS[2], #facts)
end

-- a call's usage, summed per metric, signatory and dataset: a batch of 100 checks of one
-- signatory is one fact, not 100
local tally, tally_order = {}, {}

local function tally_usage(metric, sig, dataset, amount, check_key)
  local k = metric .. '\31' .. sig .. '\31' .. dataset
  local t = tally[k]
  if not t then
    t = {metric, sig, dataset, 0, {}}
    tally[k] = t
    tally_order[#tally_order + 1] = k
  end
  t[4] = t[4] + amount
  if check_key then
    table.insert(t[5], check_key)
  end
end

local function append_tally(now)
  if #tally_order == 0 then return end
  local facts = {}
  for i, k in ipairs(tally_order) do
    local t = tally[k]
    facts[i] = usage_fact(t[1], t[2], t[3], t[4], t[5])
  end
  append_usage(facts, now, nil)
end
