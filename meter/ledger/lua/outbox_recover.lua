-- outbox_recover.lua: release the claims of deliveries that no longer hold the outbox lock.
--
-- A delivery holds the outbox lock (renewed while it runs) for as long as it attempts entries, so
-- when another delivery has taken the lock, every claim made under a different token belongs to
-- a delivery that died (or was cut off from Redis longer than the lock lives): its entries come
-- due now instead of at the end of their claim. Run by a delivery right after it takes the lock.
-- KEYS[1]  the due set   KEYS[2]  the claims hash (entry id -> lock token)
-- ARGV[1]  the token of the lock this delivery holds   ARGV[2]  now (ms)
-- Returns the number of entries made due again.
local claims = redis.call('HGETALL', KEYS[2])
local n = 0
for i = 1, #claims, 2 do
  if claims[i + 1] ~= ARGV[1] then
    n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[2], claims[i])
    redis.call('HDEL', KEYS[2], claims[i])
  end
end
return n
