-- Phase A of recording (or peeking) transactions, in their transaction bucket: claim each
-- transaction by its tx key and read its label.
-- KEYS: per transaction its tx key, then its label key. ARGV: mode, ttl, per transaction the value
-- of its tx key. Returns per transaction two strings: the tx key's earlier value ('' when claimed
-- now; in peek mode, when new) and the label's value ('' when none).
local ttl, out, seen = ARGV[2], {}, {}
for i = 1, #KEYS / 2 do
  local txk, value = KEYS[2 * i - 1], ARGV[2 + i]
  local stored
  if record then
    if not redis.call('SET', txk, value, 'NX', 'EX', ttl) then stored = redis.call('GET', txk) end
  else
    stored = seen[txk] or redis.call('GET', txk)
    if not stored then seen[txk] = value end
  end
  out[2 * i - 1] = stored or ''
  out[2 * i] = redis.call('GET', KEYS[2 * i]) or ''
end
return out
