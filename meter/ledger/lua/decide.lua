-- decide.lua: a batch of quota decisions, atomically. Each decision checks every constraint that
-- applies (pool cap, signatory allotment, per-dataset cap, held reservations) and consumes (or
-- reserves) its amount only if all pass, so concurrent callers can never overshoot a cap.
--
-- Every key is derived from the pool's prefix (ARGV[1], carrying the {pool} hash tag): one slot.
-- KEYS[1]  stream of the ClickHouse writer (consumed checks are usage too)
-- KEYS[2]  backlog counter of that stream
-- ARGV[1]  key prefix "meter:{pool}:"      ARGV[2] now, unix ms (the service's clock)
-- ARGV[3]  idempotency window, seconds      ARGV[4] n, the number of decisions
-- ARGV[5]  the flows a consuming check counts, joined by \31 (the others are stocks: their
--          snapshots count). What a batch consumes is appended to the stream as usage facts,
--          [metric, signatory, dataset, amount, check_keys], summed per metric, signatory and
--          dataset over the batch (a batch of 100 checks of one signatory is one fact, not 100);
--          the writer builds their history rows (meter/store/rows.py, usage_rows).
-- then n metas, one per decision:
--   meta  fields joined by \31: mode ('c' check | 'r' reserve), metric, signatory ('' = find it
--         from host, then dataset), host, dataset, amount, consume (0/1), enforce (0/1),
--         counter key (flows: the period's hash; stocks: the stock's hash), counter ttl (s),
--         cap, dataset cap ('' unless dataset_records), allotment key ('' = no allocation),
--         idempotency key ('' = none), reservation id, reservation ttl (ms)
-- Returns 7 values per decision: allowed (0/1), scope, limit, used, remaining, signatory,
-- note ('' | 'replay' | 'shadow' | 'protected': under elastic, the guarantee is used up and the
-- others' protection leaves no room to borrow); or the error LEDGER_LOST when the ledger must be
-- rebuilt first, or BAD_META (a malformed meta) or ID_CONFLICT (an id sent with another
-- request), and then nothing changed.
local prefix, now = ARGV[1], tonumber(ARGV[2])
local window, n = tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', prefix .. 'ledger_epoch') == 0 then
  return redis.error_reply('LEDGER_LOST')
end

local function num(v)
  return tonumber(v or '0') or 0
end

local function parse(meta)
  local f = {}
  for part in string.gmatch(meta .. '\31', '([^\31]*)\31') do
    f[#f + 1] = part
  end
  if #f ~= 16 or not tonumber(f[6]) then
    return nil
  end
  return {mode = f[1], metric = f[2], sig = f[3], host = f[4], dataset = f[5], amount = tonumber(f[6]),
          consume = f[7] == '1', enforce = f[8] == '1', counter = f[9], ttl = tonumber(f[10]) or 0,
          cap = f[11], dscap = f[12], allot = f[13], idkey = f[14], rid = f[15], rttl = tonumber(f[16]) or 0}
end

-- every meta is read before anything is written: a malformed one changes nothing
local asks = {}
for i = 1, n do
  asks[i] = parse(ARGV[5 + i])
  if not asks[i] then
    return redis.error_reply('BAD_META decision ' .. i)
  end
end

-- an id names one request: a retry is the same request again (its fingerprint matches); the id
-- sent with another request is refused, before anything is written. A stored answer is
-- "fingerprint\31allowed\31scope\31limit\31used\31remaining\31signatory\31"; '1' marks an id
-- that an api.call event (or a ledger rebuild) counted.
local fingerprints = {}
for i = 1, n do
  local d = asks[i]
  if d.idkey ~= '' then
    d.fp = redis.sha1hex(table.concat({d.mode, d.metric, d.sig, d.host, d.dataset, string.format('%d', d.amount),
                                       d.consume and '1' or '0'}, '\31'))
    d.value = redis.call('GET', d.idkey) -- read once: the decision below replays it
    local prior = fingerprints[d.idkey] or string.match(d.value or '', '^(%x+)\31')
    if prior and prior ~= d.fp then
      return redis.error_reply('ID_CONFLICT decision ' .. i)
    end
    fingerprints[d.idkey] = d.fp
  end
end

local function release(rid)
  local r = redis.call('HMGET', prefix .. 'resv:' .. rid, 'metric', 'sig', 'amount', 'dataset')
  if r[1] then
    local held, amount = prefix .. 'held:' .. r[1], -num(r[3])
    redis.call('HINCRBY', held, r[2], amount)
    redis.call('HINCRBY', held, '*', amount)
    if r[4] and r[4] ~= '' then
      redis.call('HINCRBY', held, 'ds:' .. r[4], amount)
    end
  end
  redis.call('DEL', prefix .. 'resv:' .. rid)
  redis.call('ZREM', prefix .. 'resv_expiry', rid)
  -- remembered a day: committing it later is a conflict (409), not an unknown id (404)
  redis.call('SET', prefix .. 'resv_expired:' .. rid, 1, 'EX', 86400)
end

local MAX = 9007199254740991 -- 2^53 - 1: past it, Lua numbers are no longer exact
local function held_key(d)
  return prefix .. 'held:' .. d.metric
end

-- expired reservations release themselves, before anything is decided
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', prefix .. 'resv_expiry', '-inf', now, 'LIMIT', 0, 100)) do
  release(rid)
end

-- Counters are read once per batch and written once at the end: decisions of one batch see
-- each other through this cache, and a batch of 100 costs a handful of Redis calls, not 600.
local cache, dirty, expire = {}, {}, {}
local function raw(key, field)
  local k = cache[key]
  if not k then
    k = {}
    cache[key] = k
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
  cache[key][field] = tostring(v)
  local d = dirty[key]
  if not d then
    d = {}
    dirty[key] = d
  end
  d[field] = (d[field] or 0) + by
end

-- elastic: the others' protection, kept as an index instead of summed over every signatory.
-- The allotment hash names the index (_elastic: hash, _elastic_rank: sorted set) and the period
-- (_start, _length, unix seconds). With f = e / T (elapsed over length, in whole seconds),
-- protected_t = min(max(0, A_t - u_t), (1 - f) A_t) falls in one of three groups:
--   'b' (u_t T < e A_t, behind the pace): (1 - f) A_t, summed in _sa as sum A_t;
--   'm' (on or ahead of pace, u_t < A_t): A_t - u_t, summed in _sx, and ranked by u_t / A_t;
--   'z' (guarantee used up): 0.
-- So sum_t protected_t x T = (T - e) _sa + T _sx, in integers. Time only moves 'm' members to
-- 'b' (the rank says which, cheaply); use only moves the deciding signatory. The index holds,
-- per member, "group:u" for the use it last saw: use that arrived by events alone is seen when
-- that signatory next checks, and until then its protection is counted high (the safe side).
-- The allocator deletes the index whenever it rewrites the allotments; it is rebuilt here, once.
local indexes = {}

local function el_class(u, a, e, len)
  if a <= 0 or u >= a then return 'z' end
  if u * len < e * a then return 'b' end
  return 'm'
end

local function el_add(ix, g, u, a, sign)
  if g == 'b' then
    ix.sa = ix.sa + sign * a
  elseif g == 'm' then
    ix.sx = ix.sx + sign * (a - u)
  end
end

local function el_put(ix, sid, g, u, a)
  local old = ix.members[sid]
  if old then
    el_add(ix, old.g, old.u, a, -1)
  end
  el_add(ix, g, u, a, 1)
  if g == 'm' then
    ix.ranked[sid] = u / a
  elseif old and old.g == 'm' then
    ix.ranked[sid] = false
  end
  ix.members[sid] = {g = g, u = u}
  ix.dirty[sid] = true
end

local function el_parse(v) -- an entry "group:use", or false for none
  if not v then return false end
  local g, u = string.match(v, '^(%a):(%d+)$')
  return {g = g, u = tonumber(u)}
end

local function el_member(ix, sid)
  local m = ix.members[sid]
  if m == nil then
    m = el_parse(redis.call('HGET', ix.key, sid))
    ix.members[sid] = m
  end
  return m or nil
end

local function el_build(ix, d)
  local all = redis.call('HGETALL', d.allot)
  local fields = cache[d.allot] or {}
  cache[d.allot] = fields
  for i = 1, #all, 2 do
    fields[all[i]] = all[i + 1]
  end
  redis.call('DEL', ix.rank)
  ix.sa, ix.sx = 0, 0
  for i = 1, #all, 2 do
    local sid, a = all[i], tonumber(all[i + 1]) or 0
    if string.sub(sid, 1, 1) ~= '_' and a > 0 then
      local u = get(d.counter, sid)
      el_put(ix, sid, el_class(u, a, ix.e, ix.len), u, a)
    end
  end
end

-- time moves on: members of 'm' whose ratio the pace has passed join 'b'
local function el_advance(ix, d)
  local bound = ix.e / ix.len
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', ix.rank, '-inf', bound + bound * 1e-9 + 1e-12)) do
    local m, a = el_member(ix, sid), num(raw(d.allot, sid))
    if m and m.g == 'm' and m.u * ix.len < ix.e * a then -- the score only narrows: this decides
      el_put(ix, sid, 'b', m.u, a)
    end
  end
end

local function el_index(d)
  local key = raw(d.allot, '_elastic')
  local ix = indexes[key]
  if ix then return ix end
  local len = num(raw(d.allot, '_length'))
  local e = math.min(math.max(math.floor(now / 1000) - num(raw(d.allot, '_start')), 0), len)
  ix = {key = key, rank = raw(d.allot, '_elastic_rank'), len = math.max(len, 1), members = {}, dirty = {},
        ranked = {}, ttl = d.ttl} -- ranked: the rank's changes, written once at the end (false: removed)
  -- one read for the entries this batch names, instead of one per signatory
  local wanted, names = {}, {'_e', '_sa', '_sx'}
  for _, other in ipairs(asks) do
    if other.allot == d.allot and other.sig ~= '' and not wanted[other.sig] then
      wanted[other.sig] = true
      names[#names + 1] = other.sig
    end
  end
  local head = redis.call('HMGET', key, unpack(names))
  for i = 4, #names do
    ix.members[names[i]] = el_parse(head[i])
  end
  if head[1] then
    ix.e, ix.sa, ix.sx = math.max(tonumber(head[1]), e), tonumber(head[2]), tonumber(head[3])
    if ix.e > tonumber(head[1]) then
      el_advance(ix, d)
    end
  else
    ix.e = e
    el_build(ix, d)
  end
  indexes[key] = ix
  return ix
end

-- the deciding signatory's own entry follows its counter
local function el_refresh(ix, d, sig)
  local a = num(raw(d.allot, sig))
  if a <= 0 then return end
  local u = get(d.counter, sig)
  local m = el_member(ix, sig)
  if not m or m.u ~= u then
    el_put(ix, sig, el_class(u, a, ix.e, ix.len), u, a)
  end
end

-- ceil(sum over t ~= sig of protected_t), exactly
local function el_others(ix, d, sig)
  local total = (ix.len - ix.e) * ix.sa + ix.len * ix.sx
  local m, a = el_member(ix, sig), num(raw(d.allot, sig))
  if m then
    if m.g == 'b' then
      total = total - (ix.len - ix.e) * a
    elseif m.g == 'm' then
      total = total - ix.len * (a - m.u)
    end
  end
  local q = math.floor(total / ix.len)
  if q * ix.len > total then q = q - 1 elseif (q + 1) * ix.len <= total then q = q + 1 end
  if q * ix.len < total then q = q + 1 end
  return q
end

-- a command over a long argument list, in slices (Lua's unpack stops at a few thousand values)
local function sliced(cmd, key, args)
  for i = 1, #args, 2000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 1999, #args)))
  end
end

local function el_save()
  for key, ix in pairs(indexes) do
    local fields = {'_e', ix.e, '_sa', string.format('%d', ix.sa), '_sx', string.format('%d', ix.sx)}
    for sid in pairs(ix.dirty) do
      local m = ix.members[sid]
      fields[#fields + 1] = sid
      fields[#fields + 1] = m.g .. ':' .. string.format('%d', m.u)
    end
    sliced('HSET', key, fields)
    local add, gone = {}, {}
    for sid, score in pairs(ix.ranked) do
      if score then
        add[#add + 1] = score
        add[#add + 1] = sid
      else
        gone[#gone + 1] = sid
      end
    end
    sliced('ZADD', ix.rank, add)
    sliced('ZREM', ix.rank, gone)
    redis.call('EXPIRE', key, ix.ttl)
    redis.call('EXPIRE', ix.rank, ix.ttl)
  end
end


--!include owner
local known = {}
local function resolve(sig, host, dataset)
  if sig ~= '' then
    if known[sig] == nil then
      known[sig] = redis.call('SISMEMBER', prefix .. 'signatory_ids', sig) == 1
    end
    if known[sig] then return sig end
    return 'unattributed'
  end
  return owner_of(raw, prefix, host, dataset)
end

-- the constraints of one decision, each {scope, limit, used}
local function constraints(d, sig)
  local out = {}
  local held = held_key(d)
  if d.metric == 'dataset_records' then
    local used = get(prefix .. 'ds:' .. d.dataset, 'a') + get(held, 'ds:' .. d.dataset)
    out[1] = {'dataset', tonumber(d.dscap), used}
    return out, nil
  end
  out[1] = {'pool', tonumber(d.cap), get(d.counter, '*') + get(held, '*')}
  local burst = nil
  if d.allot ~= '' then
    local allot = raw(d.allot, sig)
    if not allot and raw(d.allot, '_on') then
      allot = '0' -- allotments are in force and this signatory has none (left, or not yet joined)
    end
    if allot and raw(d.allot, '_elastic') then -- elastic: its guarantee, or else borrow what is not protected
      allot = num(allot)
      local used = get(d.counter, sig) + get(held, sig)
      local ix = el_index(d)
      el_refresh(ix, d, sig)
      local borrow = tonumber(d.cap) - out[1][3] - el_others(ix, d, sig)
      out[2] = {'signatory', used + math.max(allot - used, borrow), used, elastic = ix}
    elseif allot and raw(d.allot, '_borrowing') ~= '1' then
      allot = num(allot)
      local used = get(d.counter, sig) + get(held, sig)
      local burst_cap = raw(d.allot, '_burst_cap')
      if burst_cap then -- reserved policy: the guarantee, then the common burst reserve, first come
        burst = {guarantee = allot, used = used, cap = num(burst_cap), taken = get(d.allot, '_burst_used')}
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
  incr(d.counter, sig, d.amount)
  incr(d.counter, '*', d.amount)
  expire[d.counter] = d.ttl
  if burst then
    local over = math.max(0, burst.used + d.amount - burst.guarantee) - math.max(0, burst.used - burst.guarantee)
    if over > 0 then
      incr(d.allot, '_burst_used', over)
    end
  end
end

local function reserve(d, sig)
  local held = held_key(d)
  redis.call('HSET', prefix .. 'resv:' .. d.rid, 'metric', d.metric, 'sig', sig, 'amount', d.amount,
    'dataset', d.dataset, 'expires', now + d.rttl)
  redis.call('ZADD', prefix .. 'resv_expiry', now + d.rttl, d.rid)
  incr(held, sig, d.amount)
  incr(held, '*', d.amount)
  if d.dataset ~= '' then
    incr(held, 'ds:' .. d.dataset, d.amount)
  end
end

local minute = math.floor(now / 60000)
local denials = prefix .. 'denials:' .. minute
local function deny_count(sig, metric, scope)
  incr(denials, sig .. '\31' .. metric .. '\31' .. scope, 1)
  expire[denials] = 86400
end

local flows = {}
for metric in string.gmatch(ARGV[5], '[^\31]+') do
  flows[metric] = true
end
local consumed, consumed_order = {}, {}
-- the digest of an idempotency key (prefix .. 'seen:' .. digest) and the request's fingerprint,
-- "digest:fingerprint": history keeps them, so a ledger rebuild can restore the key (its value
-- then "fingerprint\31R") and a check can neither count twice nor change across a Redis loss
local seen_at = #prefix + #'seen:' + 1

local function record(metric, sig, dataset, amount, idkey, fp)
  local k = metric .. '\31' .. sig .. '\31' .. dataset
  if not consumed[k] then
    consumed[k] = {metric, sig, dataset, 0, {}}
    consumed_order[#consumed_order + 1] = k
  end
  consumed[k][4] = consumed[k][4] + amount
  if idkey ~= '' then
    table.insert(consumed[k][5], string.sub(idkey, seen_at) .. ':' .. fp)
  end
end

local function json_list(hexes)
  if #hexes == 0 then
    return '[]'
  end
  return '["' .. table.concat(hexes, '","') .. '"]'
end

local out, written = {}, {}
for i = 0, n - 1 do
  local d = asks[i + 1]
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
    local sig = resolve(d.sig, d.host, d.dataset)
    local list, burst = constraints(d, sig)
    local c, ok = tightest(list, d.amount)
    if not ok and c.elastic and list[1][2] - list[1][3] - d.amount < 0 then
      c = list[1] -- the pool is full: that, not the others' protection, is what stops it
    end
    if restored then
      ok = true -- its answer again: allowed, with the counters as they are now
    end
    -- shadow mode never denies, but no counter may pass 2^53 - 1 (Lua numbers stay exact)
    local enforce = d.enforce or (d.counter ~= '' and get(d.counter, '*') + get(held_key(d), '*') + d.amount > MAX)
    local note = ''
    if not ok then
      deny_count(sig, d.metric, c[1])
      if not enforce then
        note = 'shadow'
      elseif c.elastic then
        note = 'protected' -- its guarantee is used up and the others' protection leaves no room
      end
    end
    local used = c[3]
    if ok or not enforce then
      if d.mode == 'r' then
        reserve(d, sig)
        used = used + d.amount
      elseif d.consume and flows[d.metric] then
        consume(d, sig, burst)
        used = used + d.amount
        if list[2] and list[2].elastic then
          el_refresh(list[2].elastic, d, sig)
        end
        if d.amount > 0 then
          record(d.metric, sig, d.dataset, d.amount, d.idkey, d.fp)
        end
      end
    end
    local allowed = (ok or not enforce) and 1 or 0
    if restored then
      note = 'replay'
    end
    local answer = {allowed, c[1], c[2], used, c[2] - used, sig, note}
    if d.idkey ~= '' and allowed == 1 and d.consume then
      -- numbers as integers: concatenated as they are, Lua writes 1e+15 past 14 digits
      local kept = {answer[1], answer[2], string.format('%d', answer[3]), string.format('%d', answer[4]),
                    string.format('%d', answer[5]), answer[6]}
      written[d.idkey] = d.fp .. '\31' .. table.concat(kept, '\31') .. '\31'
      redis.call('SET', d.idkey, written[d.idkey], 'EX', window)
    end
    for _, v in ipairs(answer) do
      out[#out + 1] = v
    end
  end
end

for key, fields in pairs(dirty) do
  for field, by in pairs(fields) do
    if by ~= 0 then
      redis.call('HINCRBY', key, field, string.format('%d', by))
    end
  end
end
el_save()
for key, ttl in pairs(expire) do
  redis.call('EXPIRE', key, ttl)
end
if dirty[denials] then
  redis.call('ZADD', prefix .. 'denial_minutes', minute, minute)
end
if #consumed_order > 0 then
  local facts = {}
  for i, k in ipairs(consumed_order) do
    local c = consumed[k]
    facts[i] = string.format('["%s",%s,%s,%d,%s]', c[1], cjson.encode(c[2]), cjson.encode(c[3]), c[4],
                             json_list(c[5]))
  end
  redis.call('XADD', KEYS[1], '*', 'n', #facts, 't', now, 'usage', '[' .. table.concat(facts, ',') .. ']')
  redis.call('INCRBY', KEYS[2], #facts)
end
return out
