-- lease.lua: take or renew a lease that one process at a time may hold (e.g. the stream writer).
--
-- KEYS[1]  the lease key        ARGV[1] this holder's token        ARGV[2] lease length, ms
-- Returns 1 when this holder has the lease (taken or renewed), 0 when another holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
