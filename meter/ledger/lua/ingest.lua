-- ingest.lua: one batch of events, atomically: dedup, ledger update, append to the stream.
--
-- Every key is derived from the pool's prefix (ARGV[1], which carries the {pool} hash tag), so
-- the script touches one Redis Cluster slot; KEYS name the two fixed ones.
-- KEYS[1]  stream of rows waiting for the ClickHouse writer
-- KEYS[2]  backlog counter (events in the stream not yet written)
-- ARGV[1]  key prefix "meter:{pool}:"
-- ARGV[2]  dedup window, seconds          ARGV[3] backlog limit, events
-- ARGV[4]  n, the number of events        ARGV[5] ClickHouse table the rows go to
-- ARGV[6]  '1': the sender's token is bound to a signatory (its snapshots may not touch
--          another's dataset or object; it never marks a check as reported), else ''
-- ARGV[7]  most datasets, ARGV[8] most content objects the pool keeps (DESIGN §4)
-- ARGV[9], ARGV[10], ARGV[11]: the n events' seen keys, metas and rows, each list one argument
-- whose n values are joined by '\n' (none of them holds one: ids refuse control characters and a
-- JSON row escapes its newlines). Three arguments a batch instead of three an event, because
-- redis-py's per-argument packing, not Redis, was the cost at this rate.
--   seen   dedup key of (source, id), in the sender's namespace (its signatory, when bound)
--   meta   "kind|sig|key|a|b|t|alias" joined by the unit separator (\31):
--   kind   'f' flow | 'd' dataset snapshot | 'c' content snapshot | 'm' dataset metadata (DESIGN §12:
--          deduplicated and stored, no counter moves; its row goes to the dataset_metadata table)
--   sig    signatory id (or 'unattributed')
--   key    flow: the period's counter hash; d/c/m: the item's snapshot hash
--   a      flow: amount; d: records; c: bytes
--   b      d: raw_bytes; otherwise 0
--   t      flow: seconds the counter hash must live; < 0: the period is over, and the hash
--          is only the guard of its pool total ('*', seeded from history) for -t seconds;
--          d/c/m: event time (ms), the newer snapshot wins
--   alias  dedup key of the check this api.call repeats, or ''
--   row    the row for ClickHouse (one JSON line)
-- The ledger rebuild writes the dedup markers, counters and snapshot hashes again from history,
-- in these layouts: meter/ledger/restore.py (tests/test_restore.py holds the two equal).
-- A dataset's or object's hash at 0 expires after the dedup window; the live (non-zero) ones are
-- members of the index sets 'index:ds' and 'index:obj', whose sizes the caps bound.
-- Returns {accepted, duplicates, stream id or '', accepted events that are unattributed,
-- transfers: "key\31from\31to" of each item whose owner the batch changed}; or the
-- error BACKLOG_FULL, LEDGER_LOST (the ledger must be rebuilt first), BAD_META (a malformed
-- meta), TOO_LARGE (a total would pass 2^53 - 1), NOT_OWNER i (event i, from 1, of a bound
-- sender touches another's dataset or object), TOO_MANY_DATASETS i or TOO_MANY_OBJECTS i (one
-- more than the cap), and then nothing changed.
local prefix, window = ARGV[1], tonumber(ARGV[2])
local limit, n = tonumber(ARGV[3]), tonumber(ARGV[4])
local bound, max_ds, max_obj = ARGV[6] == '1', tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('EXISTS', prefix .. 'ledger_epoch') == 0 then
  return redis.error_reply('LEDGER_LOST')
end
local backlog = tonumber(redis.call('GET', KEYS[2]) or '0')
if backlog + n > limit then
  return redis.error_reply('BACKLOG_FULL')
end

-- the n values of a list argument (nil when it holds another number of them)
local function split(blob)
  local out, pos = {}, 1
  if n == 0 then
    return out
  end
  while true do
    local stop = string.find(blob, '\n', pos, true)
    if not stop then
      out[#out + 1] = string.sub(blob, pos)
      break
    end
    out[#out + 1] = string.sub(blob, pos, stop - 1)
    pos = stop + 1
  end
  if #out ~= n then
    return nil
  end
  return out
end
local seens, packed = split(ARGV[9]), split(ARGV[10])
if not seens or not packed then
  return redis.error_reply('BAD_META the batch does not hold ' .. n .. ' seen keys and metas')
end

local META = '^(%a)\31([^\31]*)\31([^\31]*)\31(-?%d+)\31(-?%d+)\31(-?%d+)\31(.*)$'
local METADATA_TABLE = 'dataset_metadata'
local fresh_at, flows, transfers = {}, {}, {}
local totals = {records = {}, raw_bytes = {}, content_bytes = {}}
local accepted, dups, unattributed, metadata = 0, 0, 0, 0

local function add(tbl, field, v)
  tbl[field] = (tbl[field] or 0) + v
end

local function move(metric, old_sig, old_v, new_sig, new_v)
  if old_sig then
    add(totals[metric], old_sig, -old_v)
    add(totals[metric], '*', -old_v)
  end
  add(totals[metric], new_sig, new_v)
  add(totals[metric], '*', new_v)
end

local INDEX_DS, INDEX_OBJ = prefix .. 'index:ds', prefix .. 'index:obj'

local function snapshot(kind, key, sig, a, b, t, sa, sb, st)
  local cur = redis.call('HMGET', key, 'sig', 'a', 'b', 't')
  if t < tonumber(cur[4] or '-1') then
    return -- an older snapshot than the one in force: history only
  end
  if cur[1] and cur[1] ~= sig then -- a transfer (an unbound sender's): recorded
    transfers[#transfers + 1] = key .. '\31' .. cur[1] .. '\31' .. sig
  end
  if kind == 'd' then
    move('records', cur[1], tonumber(cur[2] or '0'), sig, a)
    move('raw_bytes', cur[1], tonumber(cur[3] or '0'), sig, b)
  else
    move('content_bytes', cur[1], tonumber(cur[2] or '0'), sig, a)
  end
  redis.call('HSET', key, 'sig', sig, 'a', sa, 'b', sb, 't', st)
  local index = kind == 'd' and INDEX_DS or INDEX_OBJ
  if a == 0 and b == 0 then -- a deleted item is forgotten after the dedup window
    redis.call('SREM', index, key)
    redis.call('EXPIRE', key, window)
  else
    redis.call('SADD', index, key)
    redis.call('PERSIST', key)
  end
end

-- every meta is read before anything is written: a malformed one changes nothing. So is the
-- batch's worst case (every event fresh, no snapshot replacing another): no pool total may pass
-- 2^53 - 1, where Lua's numbers stop being exact (and HINCRBY would fail half-way). A
-- signatory's field is part of its pool total, so the totals are all there is to check.
local MAX = 9007199254740991
local RECORDS, RAW, CONTENT = prefix .. 'stock:records', prefix .. 'stock:raw_bytes', prefix .. 'stock:content_bytes'
local metas, worst = {}, {}
local function grow(key, v)
  worst[key] = (worst[key] or 0) + v
end
-- ownership and the caps are read before anything is written too: a bound sender's snapshot of
-- another's item refuses the whole batch, and so does one item more than the pool keeps
local live, delta = {}, {d = 0, c = 0} -- whether each item is left non-zero, and the index's growth
local function check_item(i, kind, sig, key, a, b)
  if kind == 'f' then
    return nil
  end
  if bound then
    local owner = redis.call('HGET', key, 'sig')
    if owner and owner ~= sig then
      return 'NOT_OWNER ' .. (i + 1)
    end
  end
  if kind == 'm' then
    return nil
  end
  local index, most = INDEX_DS, max_ds
  if kind == 'c' then
    index, most = INDEX_OBJ, max_obj
  end
  local was = live[key]
  if was == nil then
    was = redis.call('SISMEMBER', index, key) == 1
  end
  local is = a ~= 0 or b ~= 0
  live[key] = is
  if is and not was then
    delta[kind] = delta[kind] + 1
    if redis.call('SCARD', index) + delta[kind] > most then
      return (kind == 'd' and 'TOO_MANY_DATASETS ' or 'TOO_MANY_OBJECTS ') .. (i + 1)
    end
  elseif was and not is then -- a deletion earlier in the batch frees its place
    delta[kind] = delta[kind] - 1
  end
  return nil
end
for i = 0, n - 1 do
  local m = {string.match(packed[i + 1], META)}
  if #m ~= 7 then
    return redis.error_reply('BAD_META event ' .. (i + 1))
  end
  metas[i] = m
  local kind, a, b = m[1], tonumber(m[4]), tonumber(m[5])
  if kind == 'f' then
    grow(m[3], a)
  elseif kind == 'd' then
    grow(RECORDS, a)
    grow(RAW, b)
  elseif kind == 'c' then
    grow(CONTENT, a)
  elseif kind == 'm' then
    metadata = metadata + 1
  end
  local refused = check_item(i, kind, m[2], m[3], a, b)
  if refused then
    return redis.error_reply(refused)
  end
end
for key, v in pairs(worst) do
  if tonumber(redis.call('HGET', key, '*') or '0') + v > MAX then
    return redis.error_reply('TOO_LARGE')
  end
end

for i = 0, n - 1 do
  local seen = seens[i + 1]
  local kind, sig, key, sa, sb, st, alias = unpack(metas[i])
  local a, b, t = tonumber(sa), tonumber(sb), tonumber(st)
  local fresh = true
  if alias ~= '' and redis.call('EXISTS', alias) == 1 then
    fresh = false
  end
  if fresh then
    fresh = redis.call('SET', seen, '1', 'NX', 'EX', window)
  end
  if not fresh then
    dups = dups + 1
  else
    if alias ~= '' and not bound then -- a bound sender cannot mark a check as reported
      redis.call('SET', alias, '1', 'EX', window)
    end
    accepted = accepted + 1
    if sig == 'unattributed' then
      unattributed = unattributed + 1
    end
    fresh_at[#fresh_at + 1] = i
    if kind == 'f' then
      local f = flows[key]
      if not f then
        f = {fields = {}, exp = math.abs(t)}
        flows[key] = f
      end
      if t > 0 then
        add(f.fields, sig, a)
      end
      add(f.fields, '*', a) -- a period over keeps its pool total only, as the guard of 2^53 - 1
    elseif kind == 'd' or kind == 'c' then
      snapshot(kind, key, sig, a, b, t, sa, sb, st)
    end
  end
end

for key, f in pairs(flows) do
  for field, v in pairs(f.fields) do
    redis.call('HINCRBY', key, field, string.format('%d', v))
  end
  redis.call('EXPIRE', key, f.exp)
end
for metric, fields in pairs(totals) do
  for field, v in pairs(fields) do
    if v ~= 0 then
      redis.call('HINCRBY', prefix .. 'stock:' .. metric, field, string.format('%d', v))
    end
  end
end

-- the fresh events' rows: the whole list as it came when every event is fresh and none is
-- metadata (the usual batch), else picked one by one
local rows, mrows = nil, {}
if accepted == n and metadata == 0 then
  rows = ARGV[11]
elseif accepted > 0 then
  local all, picked = split(ARGV[11]), {}
  if not all then
    return redis.error_reply('BAD_META the batch does not hold ' .. n .. ' rows')
  end
  for _, i in ipairs(fresh_at) do
    if metas[i][1] == 'm' then
      mrows[#mrows + 1] = all[i + 1]
    else
      picked[#picked + 1] = all[i + 1]
    end
  end
  rows = #picked > 0 and table.concat(picked, '\n') or nil
end
local id = ''
if rows then
  id = redis.call('XADD', KEYS[1], '*', 'table', ARGV[5], 'n', accepted - #mrows, 'rows', rows)
end
if #mrows > 0 then
  local mid = redis.call('XADD', KEYS[1], '*', 'table', METADATA_TABLE, 'n', #mrows, 'rows', table.concat(mrows, '\n'))
  if id == '' then
    id = mid
  end
end
if accepted > 0 then
  redis.call('INCRBY', KEYS[2], accepted)
end
return {accepted, dups, id, unattributed, transfers}
