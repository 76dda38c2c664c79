-- owner.lua: whom a request or an event without a signatory belongs to. One rule for the
-- gateway hook (decide.lua) and for subject-less api.call events (attribute.lua), which include
-- this file in place of their `--!include owner` line (meter/ledger/scripts.py).
-- The host a signatory owns first (its sub-domains), then the signatory whose dataset it is (the
-- last snapshot's), else 'unattributed'. `lookup(key, field)` reads one hash field (false when
-- absent); the including script passes its own, cached or not.
local function owner_of(lookup, prefix, host, dataset)
  if host ~= '' then
    local s = lookup(prefix .. 'hosts', host)
    if s then return s end
  end
  if dataset ~= '' then
    local s = lookup(prefix .. 'ds:' .. dataset, 'sig')
    if s then return s end
  end
  return 'unattributed'
end
