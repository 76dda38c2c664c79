-- elastic.lua: decide.lua's protection index under the elastic policy (included in place of its
-- `--!include elastic` line, after counters.lua, whose raw, get, known and sliced it uses).
-- `m` below is a metric's constants as decide.lua reads them (m.allotments: the allotment hash,
-- m.counter: the period's counter, m.counter_ttl_s).
--
-- The others' protection is kept as an index instead of summed over every signatory. The
-- allotment hash names the index (_elastic: hash, _elastic_rank: sorted set) and the period
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
-- meter/allocation/enforce.py is its twin in Python (tests/test_elastic_index.py holds them equal).
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

local function el_build(ix, m)
  local all = redis.call('HGETALL', m.allotments)
  for i = 1, #all, 2 do
    known(m.allotments, all[i], all[i + 1])
  end
  redis.call('DEL', ix.rank)
  ix.sa, ix.sx = 0, 0
  for i = 1, #all, 2 do
    local sid, a = all[i], tonumber(all[i + 1]) or 0
    if string.sub(sid, 1, 1) ~= '_' and a > 0 then
      local u = get(m.counter, sid)
      el_put(ix, sid, el_class(u, a, ix.e, ix.len), u, a)
    end
  end
end

-- time moves on: members of 'm' whose ratio the pace has passed join 'b'
local function el_advance(ix, m)
  local bound = ix.e / ix.len
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', ix.rank, '-inf', bound + bound * 1e-9 + 1e-12)) do
    local member, a = el_member(ix, sid), get(m.allotments, sid)
    if member and member.g == 'm' and member.u * ix.len < ix.e * a then -- the score only narrows: this decides
      el_put(ix, sid, 'b', member.u, a)
    end
  end
end

-- the index of m's allotments, brought to `now` (unix ms); `asks`: the call's decisions, whose
-- signatories' entries are read at once
local function el_index(m, asks, now)
  local key = raw(m.allotments, '_elastic')
  local ix = indexes[key]
  if ix then return ix end
  local len = get(m.allotments, '_length')
  local e = math.min(math.max(math.floor(now / 1000) - get(m.allotments, '_start'), 0), len)
  ix = {key = key, rank = raw(m.allotments, '_elastic_rank'), len = math.max(len, 1), members = {}, dirty = {},
        ranked = {}, ttl = m.counter_ttl_s} -- ranked: the rank's changes, written once at the end (false: removed)
  -- one read for the entries this batch names, instead of one per signatory
  local wanted, names = {}, {'_e', '_sa', '_sx'}
  for _, other in ipairs(asks) do
    if other.m.allotments == m.allotments and other.sig ~= '' and not wanted[other.sig] then
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
      el_advance(ix, m)
    end
  else
    ix.e = e
    el_build(ix, m)
  end
  indexes[key] = ix
  return ix
end

-- the deciding signatory's own entry follows its counter
local function el_refresh(ix, m, sig)
  local a = get(m.allotments, sig)
  if a <= 0 then return end
  local u = get(m.counter, sig)
  local member = el_member(ix, sig)
  if not member or member.u ~= u then
    el_put(ix, sig, el_class(u, a, ix.e, ix.len), u, a)
  end
end

-- ceil(sum over t ~= sig of protected_t), exactly
local function el_others(ix, m, sig)
  local total = (ix.len - ix.e) * ix.sa + ix.len * ix.sx
  local member, a = el_member(ix, sig), get(m.allotments, sig)
  if member then
    if member.g == 'b' then
      total = total - (ix.len - ix.e) * a
    elseif member.g == 'm' then
      total = total - ix.len * (a - member.u)
    end
  end
  local q = math.floor(total / ix.len)
  if q * ix.len > total then q = q - 1 elseif (q + 1) * ix.len <= total then q = q + 1 end
  if q * ix.len < total then q = q + 1 end
  return q
end

local function el_save()
  for key, ix in pairs(indexes) do
    local fields = {'_e', ix.e, '_sa', string.format('%d', ix.sa), '_sx', string.format('%d', ix.sx)}
    for sid in pairs(ix.dirty) do
      local member = ix.members[sid]
      fields[#fields + 1] = sid
      fields[#fields + 1] = member.g .. ':' .. string.format('%d', member.u)
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
