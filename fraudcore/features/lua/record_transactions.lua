-- Record (or, in peek mode, only count) a batch of transactions; returns their window counts.
-- ARGV: mode ('1' record, '0' peek), namespace, ttl, customer horizon, terminal horizon, delay,
--       number of customer windows, those windows, number of terminal windows, those windows, batch.
-- The batch concatenates per transaction
--   "<t>,<cents>,<byte length of id>,<of customer>,<of terminal>,<id><customer><terminal>".
-- Returns one string of integers separated by ',', per transaction: the customer counts, customer
-- cents, terminal counts and terminal frauds, one per window each.
local record = ARGV[1] == '1'
local ns, ttl = ARGV[2], ARGV[3]
local customer_horizon, terminal_horizon, delay = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local nc = tonumber(ARGV[7])
local cw = {}
for j = 1, nc do cw[j] = tonumber(ARGV[7 + j]) end
local nt = tonumber(ARGV[8 + nc])
local tw = {}
for j = 1, nt do tw[j] = tonumber(ARGV[8 + nc + j]) end
local batch = ARGV[9 + nc + nt]

-- Customer members: running count (10 digits), running cents (16), own cents (10), then the id.
-- Running totals follow the set's order (score, then insertion: the running count breaks ties), so
-- the cents in (a, b] are running(last member <= b) - running(last member <= a).
local function cmember(n, sum, cents, id) return format('%010d%016d%010d', n, sum, cents) .. id end
local function running(m) return tonumber(string.sub(m, 1, 10)), tonumber(string.sub(m, 11, 26)) end

-- running count and cents of the customer set's members with score <= bound; ``first`` caches the
-- set's first member for the caller (false: not fetched yet)
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
local function insert_customer(key, t, ts, cents, id)
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

-- Peek mode writes nothing: per key, the batch's own additions ({score, value}, pruned in place)
-- and the highest prune threshold applied to the stored members (those at or below it count as
-- pruned); transactions new in the batch by tx key.
local added, floor, seen = {}, {}, {}

local function add(key, t, value)
  local list = added[key]
  if not list then list = {}; added[key] = list end
  list[#list + 1] = {t, value}
end

local function prune(key, threshold)
  if record then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', num(threshold))
    return
  end
  if not floor[key] or floor[key] < threshold then floor[key] = threshold end
  local list = added[key]
  if list then
    local kept = {}
    for _, e in ipairs(list) do if e[1] > threshold then kept[#kept + 1] = e end end
    added[key] = kept
  end
end

local function lower(key, lo)
  local f = floor[key]
  if f and f > lo then return f end
  return lo
end

local out, pos = {}, 1
while pos <= #batch do
  local _, stop, ts, cents, li, lc, lt = string.find(batch, '^(%-?%d+),(%-?%d+),(%d+),(%d+),(%d+),', pos)
  li, lc, lt = tonumber(li), tonumber(lc), tonumber(lt)
  local id = string.sub(batch, stop + 1, stop + li)
  local customer = string.sub(batch, stop + li + 1, stop + li + lc)
  local terminal = string.sub(batch, stop + li + lc + 1, stop + li + lc + lt)
  pos = stop + li + lc + lt + 1

  local txk = ns .. ':tx:' .. id
  local value = ts .. '|' .. cents .. '|' .. lc .. '|' .. customer .. terminal
  local stored
  if record then
    if not redis.call('SET', txk, value, 'NX', 'EX', ttl) then stored = redis.call('GET', txk) end
  else
    stored = seen[txk] or redis.call('GET', txk)
    if not stored then seen[txk] = value end
  end
  if stored then -- a redelivery: the first content wins
    ts, customer, terminal = parse_tx(stored)
  end
  local t = tonumber(ts)
  local ck, tk, fk = ns .. ':cust:' .. customer, ns .. ':term:' .. terminal, ns .. ':fraud:' .. terminal

  local n_t, sum_t
  if not stored then
    local fraud_at
    local label = redis.call('GET', ns .. ':label:' .. id)
    if label and string.sub(label, 1, 2) == '1|' then fraud_at = string.sub(label, 3) end
    if record then
      n_t, sum_t = insert_customer(ck, t, ts, tonumber(cents), id)
      redis.call('ZADD', tk, ts, id)
      if fraud_at then redis.call('ZADD', fk, ts, fraud_at .. ':' .. id) end
    else
      add(ck, t, tonumber(cents))
      add(tk, t, 0)
      if fraud_at then add(fk, t, tonumber(fraud_at)) end
    end
    prune(ck, t - customer_horizon)
    prune(tk, t - terminal_horizon)
    if fraud_at then prune(fk, t - terminal_horizon) end
    if record then
      redis.call('EXPIRE', ck, ttl)
      redis.call('EXPIRE', tk, ttl)
      if fraud_at then redis.call('EXPIRE', fk, ttl) end
    end
  end

  -- customer windows (t - w, t]: stored members by running totals, plus the peek additions
  local first = false
  if not n_t then n_t, sum_t, first = totals(ck, ts, first) end
  local o = #out
  local mine = added[ck]
  for j = 1, nc do
    local from = t - cw[j]
    local lo = lower(ck, from)
    local n, sum = 0, 0
    if lo < t then
      local n_lo, sum_lo
      n_lo, sum_lo, first = totals(ck, num(lo), first)
      n, sum = n_t - n_lo, sum_t - sum_lo
    end
    if mine then
      for _, e in ipairs(mine) do
        if e[1] > from and e[1] <= t then n = n + 1; sum = sum + e[2] end
      end
    end
    out[o + j] = n
    out[o + nc + j] = sum
  end
  o = o + 2 * nc

  -- terminal windows (e - w, e], e = t - delay: transactions, and frauds labelled by t
  local e = t - delay
  local es = num(e)
  local frauds = redis.call('ZRANGEBYSCORE', fk, '(' .. num(lower(fk, e - tw[nt])), es, 'WITHSCORES')
  local fscores, flabeled = {}, {}
  for k = 1, #frauds, 2 do
    local m = frauds[k]
    fscores[#fscores + 1] = tonumber(frauds[k + 1])
    flabeled[#flabeled + 1] = tonumber(string.sub(m, 1, string.find(m, ':', 1, true) - 1))
  end
  if added[fk] then
    for _, a in ipairs(added[fk]) do
      if a[1] > e - tw[nt] and a[1] <= e then fscores[#fscores + 1] = a[1]; flabeled[#flabeled + 1] = a[2] end
    end
  end
  local theirs = added[tk]
  for j = 1, nt do
    local from = e - tw[j]
    local n = redis.call('ZCOUNT', tk, '(' .. num(lower(tk, from)), es)
    if theirs then
      for _, a in ipairs(theirs) do if a[1] > from and a[1] <= e then n = n + 1 end end
    end
    local fraud = 0
    for k = 1, #fscores do
      if fscores[k] > from and flabeled[k] <= t then fraud = fraud + 1 end
    end
    out[o + j] = n
    out[o + nt + j] = fraud
  end
end
return table.concat(out, ',')
