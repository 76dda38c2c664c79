-- outbox_claim.lua: claim one due outbox entry for one delivery attempt, atomically.
--
-- An entry is due when its score in the due set (the time of its next attempt, ms) has come. The
-- claim moves that time past the attempt's longest duration before anything is sent, so another
-- run that read the same entry as due finds it no longer due and leaves it alone, and records the
-- claim (entry id -> the token of the delivery's lock) in the claims hash. An entry already sent,
-- or gone, leaves the due set.
-- KEYS[1]  the due set (sorted set: entry id -> next attempt, ms)   KEYS[2]  the entry's hash
-- KEYS[3]  the claims hash
-- ARGV[1]  entry id   ARGV[2]  now (ms)   ARGV[3]  the claim's end: now + the attempt's bound (ms)
-- ARGV[4]  the token of the outbox lock the delivery holds
-- Returns {kind, payload, meta, attempts} of a claimed entry, or false when it is not to be sent.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then
  return false
end
local f = redis.call('HMGET', KEYS[2], 'status', 'kind', 'payload', 'meta', 'attempts')
if not f[1] or f[1] == 'sent' or not f[3] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
return {f[2], f[3], f[4], f[5] or '0'}
