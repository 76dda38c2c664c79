-- outbox_retry.lua: make an undelivered outbox entry due now (an admin asked to send again),
-- unless a delivery has claimed it (outbox_claim.lua): that attempt is its retry, and a second
-- one at the same time could send it twice.
-- KEYS[1]  the due set   KEYS[2]  the claims hash   ARGV[1]  entry id   ARGV[2]  now (ms)
-- Returns 1 when the entry was made due, 0 otherwise.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return 0
end
return redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[2], ARGV[1])
