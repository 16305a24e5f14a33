-- Phase B of recording (or peeking) transactions, in their customer bucket: add each transaction to
-- its customer set (in batch order) and return its customer window counts.
-- KEYS: the customer sets. ARGV: mode ('1' record, '0' peek), ttl, customer horizon, the stream's
-- event-time clock ('' when unknown; see ``prune_base``), number of customer windows, those windows,
-- batch. The batch concatenates per transaction
--   "<key index>,<1 (claimed now) or 0 (claimed before)>,<t>,<cents>,<byte length of id>,<id>".
-- A transaction claimed before is added only when missing (see ``missing``).
-- Returns one string of integers separated by ',', per transaction its counts, then its cents, one
-- per window each.
local ttl, horizon, clock = ARGV[2], tonumber(ARGV[3]), clock_arg(ARGV[4])
local nc = tonumber(ARGV[5])
local cw = {}
for j = 1, nc do cw[j] = tonumber(ARGV[5 + j]) end
local batch = ARGV[6 + nc]

-- Members: running count (10 digits), running cents (16), own cents (10), then the id. Running
-- totals follow the set's order (score, then insertion: the running count breaks ties), so the
-- cents in (a, b] are running(last member <= b) - running(last member <= a).
local function cmember(n, sum, cents, id) return format('%010d%016d%010d', n, sum, cents) .. id end
local function running(m) return tonumber(string.sub(m, 1, 10)), tonumber(string.sub(m, 11, 26)) end

-- running count and cents of the members with score <= bound; ``first`` caches the set's first
-- member for the caller (false: not fetched yet)
local function totals(key, bound, first)
  local r = redis.call('ZREVRANGEBYSCORE', key, bound, '-inf', 'LIMIT', 0, 1)
  if r[1] then
    local n, sum = running(r[1])
    return n, sum, first
  end
  if first == false then first = redis.call('ZRANGE', key, 0, 0)[1] end
  if first then
    local n, sum = running(first)
    return n - 1, sum - tonumber(string.sub(first, 27, 36)), first
  end
  return 0, 0, first
end

-- add a member at ts after those with score <= ts, shift the running totals of the later ones;
-- returns the running totals at ts
local function insert(key, t, ts, cents, id)
  local last = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  local n, sum = 0, 0
  if last[1] and tonumber(last[2]) <= t then -- in order: append
    n, sum = running(last[1])
  elseif last[1] then
    local later = redis.call('ZRANGEBYSCORE', key, '(' .. ts, '+inf', 'WITHSCORES')
    n, sum = totals(key, ts, false)
    for chunk = 1, #later, 1000 do -- at most 500 members per call (unpack's stack limit)
      local old, new = {}, {}
      for k = chunk, math.min(chunk + 998, #later - 1), 2 do
        local m = later[k]
        local mn, msum = running(m)
        old[#old + 1] = m
        new[#new + 1] = later[k + 1]
        new[#new + 1] = cmember(mn + 1, msum + cents, tonumber(string.sub(m, 27, 36)), string.sub(m, 37))
      end
      redis.call('ZREM', key, unpack(old))
      redis.call('ZADD', key, unpack(new))
    end
  end
  redis.call('ZADD', key, ts, cmember(n + 1, sum + cents, cents, id))
  return n + 1, sum + cents
end

-- whether the set holds the id at score ts
local function holds(key, ts, id)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, ts, ts)) do
    if string.sub(m, 37) == id then return true end
  end
  return false
end

local out, pos = {}, 1
while pos <= #batch do
  local _, stop, k, new, ts, cents, n = string.find(batch, '^(%d+),([01]),(%-?%d+),(%-?%d+),(%d+),', pos)
  n = tonumber(n)
  local id = string.sub(batch, stop + 1, stop + n)
  pos = stop + n + 1
  local ck, t = KEYS[tonumber(k)], tonumber(ts)

  local n_t, sum_t
  if new == '1' or missing(done[id] or holds(ck, ts, id), ck, t, horizon, peak[ck], clock) then
    done[id] = true
    if record then
      n_t, sum_t = insert(ck, t, ts, tonumber(cents), id)
    else
      add(ck, t, tonumber(cents))
    end
    prune(ck, prune_base(t, clock) - horizon)
    if record then touched[ck] = true end
  end

  -- windows (t - w, t]: stored members by running totals, plus the peek additions
  local first = false
  if not n_t then n_t, sum_t, first = totals(ck, ts, first) end
  local o = #out
  local mine = added[ck]
  for j = 1, nc do
    local from = t - cw[j]
    local lo = lower(ck, from)
    local count, sum = 0, 0
    if lo < t then
      local n_lo, sum_lo
      n_lo, sum_lo, first = totals(ck, num(lo), first)
      count, sum = n_t - n_lo, sum_t - sum_lo
    end
    if mine then
      for _, e in ipairs(mine) do
        if e[1] > from and e[1] <= t then count = count + 1; sum = sum + e[2] end
      end
    end
    out[o + j] = count
    out[o + nc + j] = sum
  end
end
expire_touched(ttl)
return table.concat(out, ',')
