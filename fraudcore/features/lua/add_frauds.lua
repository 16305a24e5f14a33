-- Phase 2 of recording labels, in their terminal bucket: add fraud-labelled recorded transactions
-- to their terminal's fraud set. A label set now is added; one set before (a redelivery, maybe after
-- a crash between the phases) only when missing from the set and above its prune floor.
-- KEYS: the fraud sets. ARGV: mode (always '1'), ttl, terminal horizon, batch. The batch concatenates
-- per label "<key index>,<1 (new) or 0>,<t>,<labeled_at>,<byte length of id>,<id>".
local ttl, horizon, batch = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local pos = 1
while pos <= #batch do
  local _, stop, k, new, ts, labeled_at, n = string.find(batch, '^(%d+),([01]),(%-?%d+),(%-?%d+),(%d+),', pos)
  n = tonumber(n)
  local id = string.sub(batch, stop + 1, stop + n)
  pos = stop + n + 1
  local fk, member, t = KEYS[tonumber(k)], labeled_at .. ':' .. id, tonumber(ts)
  if new == '1' or missing(redis.call('ZSCORE', fk, member), fk, t, horizon, nil) then
    redis.call('ZADD', fk, ts, member)
    redis.call('ZREMRANGEBYSCORE', fk, '-inf', num(t - horizon))
    touched[fk] = true
  end
end
expire_touched(ttl)
return 0
