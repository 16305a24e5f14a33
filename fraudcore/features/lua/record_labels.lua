-- Record a batch of labels; returns how many were new.
-- ARGV: namespace, ttl, terminal horizon, batch. The batch concatenates per label
-- "<1 (fraud) or 0>,<labeled_at>,<byte length of id>,<id>".
local ns, ttl, terminal_horizon, batch = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local new, pos = 0, 1
while pos <= #batch do
  local _, stop, fraud, labeled_at, n = string.find(batch, '^([01]),(%-?%d+),(%d+),', pos)
  n = tonumber(n)
  local id = string.sub(batch, stop + 1, stop + n)
  pos = stop + n + 1
  if redis.call('SET', ns .. ':label:' .. id, fraud .. '|' .. labeled_at, 'NX', 'EX', ttl) then
    new = new + 1
    if fraud == '1' then
      local stored = redis.call('GET', ns .. ':tx:' .. id)
      if stored then
        local ts, _, terminal = parse_tx(stored)
        local fk = ns .. ':fraud:' .. terminal
        redis.call('ZADD', fk, ts, labeled_at .. ':' .. id)
        redis.call('ZREMRANGEBYSCORE', fk, '-inf', num(tonumber(ts) - terminal_horizon))
        redis.call('EXPIRE', fk, ttl)
      end
    end
  end
end
return new
