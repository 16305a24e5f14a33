-- Phase 2 of recording labels, in their terminal bucket: make each recorded transaction's entry in
-- its terminal's fraud set follow its final label: members of that transaction other than the final
-- fraud one are removed; a final fraud label is added when it changed now, or (a redelivery, maybe
-- after a crash between the phases) when missing from the set and above its prune floor.
-- KEYS: the fraud sets. ARGV: mode (always '1'), ttl, terminal horizon, the stream's event-time clock
-- ('' when unknown; see ``prune_base``), batch. The batch concatenates
-- per label "<key index>,<1 (changed now) or 0>,<t>,<labeled_at of the final label if fraud, or
-- empty>,<byte length of id>,<id>".
local ttl, horizon, clock, batch = ARGV[2], tonumber(ARGV[3]), clock_arg(ARGV[4]), ARGV[5]
local pos = 1
while pos <= #batch do
  local _, stop, k, changed, ts, fraud_at, n = string.find(batch, '^(%d+),([01]),(%-?%d+),(%-?%d*),(%d+),', pos)
  n = tonumber(n)
  local id = string.sub(batch, stop + 1, stop + n)
  pos = stop + n + 1
  local fk, t = KEYS[tonumber(k)], tonumber(ts)
  local member = (fraud_at ~= '' and fraud_at .. ':' .. id) or nil
  local held = false
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', fk, ts, ts)) do
    if string.sub(m, string.find(m, ':', 1, true) + 1) == id then
      if m == member then
        held = true
      else
        redis.call('ZREM', fk, m)
        touched[fk] = true
      end
    end
  end
  if member and not held and (changed == '1' or missing(nil, fk, t, horizon, nil, clock)) then
    redis.call('ZADD', fk, ts, member)
    redis.call('ZREMRANGEBYSCORE', fk, '-inf', num(prune_base(t, clock) - horizon))
    touched[fk] = true
  end
end
expire_touched(ttl)
return 0
