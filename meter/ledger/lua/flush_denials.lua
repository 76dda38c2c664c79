-- flush_denials.lua: move finished minutes of denial counts to the stream, atomically.
--
-- The decide script counts denials per minute in Redis (a bot's flood becomes one counter, not
-- a flood of rows); this moves each finished minute's counters to the writer's stream as rows of
-- the ClickHouse table `denials`, and deletes them, so each is written once.
-- KEYS[1]  stream of rows for the ClickHouse writer   KEYS[2] its backlog counter
-- ARGV[1]  key prefix "meter:{pool}:"   ARGV[2] pool id   ARGV[3] last minute to move (inclusive)
-- Returns the number of rows moved.
local prefix = ARGV[1]
local rows = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', prefix .. 'denial_minutes', '-inf', ARGV[3])) do
  local h = redis.call('HGETALL', prefix .. 'denials:' .. m)
  for i = 1, #h, 2 do
    local sig, metric, scope = string.match(h[i], '^([^\31]*)\31([^\31]*)\31([^\31]*)$')
    rows[#rows + 1] = cjson.encode({pool = ARGV[2], minute = tonumber(m) * 60, signatory = sig,
      metric = metric, scope = scope, denials = tonumber(h[i + 1])})
  end
  redis.call('DEL', prefix .. 'denials:' .. m)
  redis.call('ZREM', prefix .. 'denial_minutes', m)
end
if #rows > 0 then
  redis.call('XADD', KEYS[1], '*', 'table', 'denials', 'n', #rows, 'rows', table.concat(rows, '\n'))
  redis.call('INCRBY', KEYS[2], #rows)
end
return #rows
