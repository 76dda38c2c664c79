-- decide.lua: a batch of quota decisions, atomically. Each decision checks every constraint that
-- applies (pool cap, signatory allotment, per-dataset cap, held reservations) and consumes (or
-- reserves) its amount only if all pass, so concurrent callers can never overshoot a cap. It
-- decides only: what a batch consumes goes to the stream as usage facts (facts.lua), and the
-- writer builds the history rows.
--
-- Every key is derived from the pool's prefix (ARGV[1], carrying the {pool} hash tag): one slot.
-- KEYS[1]  stream of the ClickHouse writer         KEYS[2]  backlog counter of that stream
-- ARGV[1]  key prefix "meter:{pool}:"              ARGV[2]  now, unix ms (the service's clock)
-- ARGV[3]  idempotency window, seconds
-- ARGV[4]  the constants of each metric the call decides, sent once per call: a JSON array of
--          [metric, flow (a consuming check counts it), per_dataset (the cap is each dataset's),
--          counter (a flow: the period's hash; a stock: its hash; '' per dataset), counter_ttl_s,
--          cap, allotments (the allotment hash; '' = no allocation), enforce]
-- ARGV[5]  the decisions: a JSON array of [metric (its position in ARGV[4], from 1), signatory
--          ('' = find it from host, then dataset), host, dataset, amount, consume, seen_key (the
--          check id's key; '' = none), reserve_id ('' = a check), reserve_ttl_ms]
-- (meter/ledger/wire.py names these positions: METRIC, ASK, REPLY; the locals below mirror them)
-- Returns 7 values per decision: allowed (0/1), scope, limit, used, remaining, signatory,
-- note ('' | 'replay' | 'shadow' | 'protected': under elastic, the guarantee is used up and the
-- others' protection leaves no room to borrow); or the error LEDGER_LOST when the ledger must be
-- rebuilt first, or BAD_META (a malformed argument) or ID_CONFLICT (an id sent with another
-- request), and then nothing changed. No decision at all: only the expired reservations release.
local prefix, now, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', prefix .. 'ledger_epoch') == 0 then
  return redis.error_reply('LEDGER_LOST')
end

--!include counters
--!include reservations
--!include facts
--!include elastic
--!include owner

local MAX = 9007199254740991 -- 2^53 - 1: past it, Lua numbers are no longer exact

local function read_metric(fields)
  local metric, flow, per_dataset, counter, counter_ttl_s, cap, allotments, enforce = unpack(fields)
  if type(metric) ~= 'string' or type(counter) ~= 'string' or type(allotments) ~= 'string'
      or type(counter_ttl_s) ~= 'number' or type(cap) ~= 'number' then
    return nil
  end
  return {name = metric, flow = flow == true, per_dataset = per_dataset == true, counter = counter,
          counter_ttl_s = counter_ttl_s, cap = cap, allotments = allotments, enforce = enforce == true,
          held = prefix .. 'held:' .. metric}
end

local function read_ask(fields, metrics)
  local metric, signatory, host, dataset, amount, consume, seen_key, reserve_id, reserve_ttl_ms = unpack(fields)
  local m = metrics[metric]
  if not m or type(signatory) ~= 'string' or type(host) ~= 'string' or type(dataset) ~= 'string'
      or type(amount) ~= 'number' or type(seen_key) ~= 'string' or type(reserve_id) ~= 'string'
      or type(reserve_ttl_ms) ~= 'number' then
    return nil
  end
  return {m = m, sig = signatory, host = host, dataset = dataset, amount = amount, consume = consume == true,
          idkey = seen_key, rid = reserve_id, rttl = reserve_ttl_ms, mode = reserve_id ~= '' and 'r' or 'c'}
end

-- every argument is read before anything is written: a malformed one changes nothing
local function read_all()
  local ok, fields = pcall(cjson.decode, ARGV[4])
  if not ok or type(fields) ~= 'table' then
    return 'BAD_META metrics'
  end
  local metrics = {}
  for i, f in ipairs(fields) do
    metrics[i] = type(f) == 'table' and read_metric(f)
    if not metrics[i] then
      return 'BAD_META metric ' .. i
    end
  end
  ok, fields = pcall(cjson.decode, ARGV[5])
  if not ok or type(fields) ~= 'table' then
    return 'BAD_META decisions'
  end
  local asks = {}
  for i, f in ipairs(fields) do
    asks[i] = type(f) == 'table' and read_ask(f, metrics)
    if not asks[i] then
      return 'BAD_META decision ' .. i
    end
  end
  return nil, metrics, asks
end

local refused, metrics, asks = read_all()
if refused then
  return redis.error_reply(refused)
end

-- an id names one request: a retry is the same request again (its fingerprint matches); the id
-- sent with another request is refused, before anything is written. A stored answer is
-- "fingerprint\31allowed\31scope\31limit\31used\31remaining\31signatory\31"; '1' marks an id
-- that an api.call event (or a ledger rebuild) counted.
local fingerprints = {}
for i, d in ipairs(asks) do
  if d.idkey ~= '' then
    d.fp = redis.sha1hex(table.concat({d.mode, d.m.name, d.sig, d.host, d.dataset, string.format('%d', d.amount),
                                       d.consume and '1' or '0'}, '\31'))
    d.value = redis.call('GET', d.idkey) -- read once: the decision below replays it
    local prior = fingerprints[d.idkey] or string.match(d.value or '', '^(%x+)\31')
    if prior and prior ~= d.fp then
      return redis.error_reply('ID_CONFLICT decision ' .. i)
    end
    fingerprints[d.idkey] = d.fp
  end
end

-- Whose each decision is, found before anything is decided: the registered ids in one
-- SMISMEMBER, the hosts in one HMGET. A registered id is itself, an unknown one 'unattributed';
-- no id: the owner of the host, else of the dataset (owner.lua).
local function registered(ids)
  local found = {}
  for i = 1, #ids, 1000 do
    local last = math.min(i + 999, #ids)
    local flags = redis.call('SMISMEMBER', prefix .. 'signatory_ids', unpack(ids, i, last))
    for j = i, last do
      found[ids[j]] = flags[j - i + 1] == 1
    end
  end
  return found
end

local function resolve_all()
  local ids, hosts, named = {}, {}, {}
  for _, d in ipairs(asks) do
    if d.sig ~= '' then
      if named[d.sig] == nil then
        named[d.sig] = true
        ids[#ids + 1] = d.sig
      end
    elseif d.host ~= '' then
      hosts[#hosts + 1] = d.host
    end
  end
  local known_ids = registered(ids)
  prefetch(prefix .. 'hosts', hosts)
  for _, d in ipairs(asks) do
    if d.sig ~= '' then
      d.who = known_ids[d.sig] and d.sig or 'unattributed'
    else
      d.who = owner_of(raw, prefix, d.host, d.dataset)
    end
  end
end

-- the fields the batch's constraints read, each hash's in one HMGET
local ALLOT_FLAGS = {'_on', '_borrowing', '_burst_cap', '_burst_used', '_elastic', '_elastic_rank', '_start', '_length'}
local function prefetch_all()
  local whose = {}
  for _, d in ipairs(asks) do
    if not d.m.per_dataset then
      local list = whose[d.m]
      if not list then
        list = {'*'}
        whose[d.m] = list
      end
      list[#list + 1] = d.who
    end
  end
  for _, m in ipairs(metrics) do
    local list = whose[m]
    if list then
      if m.counter ~= '' then
        prefetch(m.counter, list)
      end
      if m.allotments == '' then
        prefetch(m.held, {'*'})
      else
        prefetch(m.held, list)
        local fields = {unpack(ALLOT_FLAGS)}
        for i = 2, #list do
          fields[#fields + 1] = list[i]
        end
        prefetch(m.allotments, fields)
      end
    end
  end
end

resolve_all()
prefetch_all()

-- Expired reservations release themselves before anything is decided: those held on the
-- metrics this call decides (what is held on others cannot change its answers), all of them
-- when it decides nothing (the scheduled call). A pool that holds nothing skips the sweep.
local sweep = #asks == 0
for _, m in ipairs(metrics) do
  sweep = sweep or get(m.held, '*') ~= 0
end
if sweep then
  resv_sweep(incr, prefix, now)
end

-- the constraints of one decision, each {scope, limit, used}
local function constraints(d, sig)
  local m = d.m
  local out = {}
  if m.per_dataset then
    out[1] = {'dataset', m.cap, get(prefix .. 'ds:' .. d.dataset, 'a') + get(m.held, 'ds:' .. d.dataset)}
    return out, nil
  end
  out[1] = {'pool', m.cap, get(m.counter, '*') + get(m.held, '*')}
  local burst = nil
  if m.allotments ~= '' then
    local allot = raw(m.allotments, sig)
    if not allot and raw(m.allotments, '_on') then
      allot = '0' -- allotments are in force and this signatory has none (left, or not yet joined)
    end
    if allot and raw(m.allotments, '_elastic') then -- elastic: its guarantee, or else borrow what is not protected
      allot = num(allot)
      local used = get(m.counter, sig) + get(m.held, sig)
      local ix = el_index(m, asks, now)
      el_refresh(ix, m, sig)
      local borrow = m.cap - out[1][3] - el_others(ix, m, sig)
      out[2] = {'signatory', used + math.max(allot - used, borrow), used, elastic = ix}
    elseif allot and raw(m.allotments, '_borrowing') ~= '1' then
      allot = num(allot)
      local used = get(m.counter, sig) + get(m.held, sig)
      local burst_cap = raw(m.allotments, '_burst_cap')
      if burst_cap then -- reserved policy: the guarantee, then the common burst reserve, first come
        burst = {guarantee = allot, used = used, cap = num(burst_cap), taken = get(m.allotments, '_burst_used')}
        allot = allot + math.max(0, burst.cap - burst.taken) + math.max(0, used - allot)
      end
      out[2] = {'signatory', allot, used}
    end
  end
  return out, burst
end

local function tightest(list, amount)
  local best, best_room = nil, nil
  for _, c in ipairs(list) do
    local room = c[2] - c[3] - amount
    if best == nil or room < best_room then
      best, best_room = c, room
    end
  end
  return best, best_room >= 0
end

local function consume(d, sig, burst)
  local m = d.m
  incr(m.counter, sig, d.amount)
  incr(m.counter, '*', d.amount)
  expire_at_end(m.counter, m.counter_ttl_s)
  if burst then
    local over = math.max(0, burst.used + d.amount - burst.guarantee) - math.max(0, burst.used - burst.guarantee)
    if over > 0 then
      incr(m.allotments, '_burst_used', over)
    end
  end
end

local minute = math.floor(now / 60000)
local denials = prefix .. 'denials:' .. minute
local function deny_count(sig, metric, scope)
  incr(denials, sig .. '\31' .. metric .. '\31' .. scope, 1)
  expire_at_end(denials, 86400)
end

-- the digest of an idempotency key (prefix .. 'seen:' .. digest) and the request's fingerprint,
-- "digest:fingerprint": history keeps them (a fact's check_keys), so a ledger rebuild can restore
-- the key (its value then "fingerprint\31R") and a check can neither count twice nor change
-- across a Redis loss (meter/ledger/restore.py writes it; tests/test_restore.py compares)
local seen_at = #prefix + #'seen:' + 1

local out, written = {}, {}
-- one decision's answer, in the positions of wire.REPLY
local function reply(allowed, scope, limit, used, remaining, signatory, note)
  local k = #out
  out[k + 1], out[k + 2], out[k + 3], out[k + 4] = allowed, scope, limit, used
  out[k + 5], out[k + 6], out[k + 7] = remaining, signatory, note
end

for _, d in ipairs(asks) do
  local m = d.m
  local replay = d.idkey ~= '' and (written[d.idkey] or d.value) -- an earlier decision of this batch may have set it
  local stored = replay and replay ~= '1' and string.match(replay, '^%x+\31(.*)$')
  -- '1': an api.call event already counted this very call; 'R': this check was allowed and
  -- counted before a ledger rebuild, which kept the outcome but not the answer
  local restored = stored == 'R'
  if replay == '1' or restored then
    d.consume = false
  end
  if stored and not restored then
    for v in string.gmatch(stored, '([^\31]*)\31') do
      out[#out + 1] = v
    end
    out[#out + 1] = 'replay'
  else
    local sig = d.who
    local list, burst = constraints(d, sig)
    local c, ok = tightest(list, d.amount)
    if not ok and c.elastic and list[1][2] - list[1][3] - d.amount < 0 then
      c = list[1] -- the pool is full: that, not the others' protection, is what stops it
    end
    if restored then
      ok = true -- its answer again: allowed, with the counters as they are now
    end
    -- shadow mode never denies, but no counter may pass 2^53 - 1 (Lua numbers stay exact)
    local enforce = m.enforce or (m.counter ~= '' and get(m.counter, '*') + get(m.held, '*') + d.amount > MAX)
    local note = ''
    if not ok then
      deny_count(sig, m.name, c[1])
      if not enforce then
        note = 'shadow'
      elseif c.elastic then
        note = 'protected' -- its guarantee is used up and the others' protection leaves no room
      end
    end
    local scope, limit, used = c[1], c[2], c[3]
    if ok or not enforce then
      if d.mode == 'r' then
        resv_hold(incr, prefix, d.rid, m.name, sig, d.dataset, d.amount, now + d.rttl)
        used = used + d.amount
      elseif d.consume and m.flow then
        consume(d, sig, burst)
        used = used + d.amount
        if list[2] and list[2].elastic then
          el_refresh(list[2].elastic, m, sig)
        end
        if d.amount > 0 then
          tally_usage(m.name, sig, d.dataset, d.amount, d.idkey ~= '' and string.sub(d.idkey, seen_at) .. ':' .. d.fp)
        end
      end
    end
    local allowed = (ok or not enforce) and 1 or 0
    if restored then
      note = 'replay'
    end
    if d.idkey ~= '' and allowed == 1 and d.consume then
      -- numbers as integers: concatenated as they are, Lua writes 1e+15 past 14 digits
      local kept = {allowed, scope, string.format('%d', limit), string.format('%d', used),
                    string.format('%d', limit - used), sig}
      written[d.idkey] = d.fp .. '\31' .. table.concat(kept, '\31') .. '\31'
      redis.call('SET', d.idkey, written[d.idkey], 'EX', window)
    end
    reply(allowed, scope, limit, used, limit - used, sig, note)
  end
end

save_counters()
el_save()
if moves[denials] then
  redis.call('ZADD', prefix .. 'denial_minutes', minute, minute)
end
append_tally(now)
return out
