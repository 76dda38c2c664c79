-- attribute.lua: the signatory of each (host, dataset) pair, by the rule of /v1/authz (owner.lua).
-- Read-only. Used for api.call events that carry data.host instead of a subject.
-- KEYS[1]  the pool's hosts hash (names the pool's slot, so a cluster runs it where the pool is)
-- ARGV[1]  key prefix "meter:{pool}:"
-- then pairs: host ('' = none), dataset ('' = none)
-- Returns one signatory id (or 'unattributed') per pair.
local prefix = ARGV[1]
local function lookup(key, field)
  return redis.call('HGET', key, field)
end
--!include owner
local out = {}
for i = 2, #ARGV - 1, 2 do
  out[#out + 1] = owner_of(lookup, prefix, ARGV[i], ARGV[i + 1])
end
return out
