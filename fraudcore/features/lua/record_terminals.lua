-- Phase C of recording (or peeking) transactions, in their terminal bucket: add each transaction to
-- its terminal set (and fraud set, when labelled fraud), in batch order, and return its terminal
-- window counts.
-- KEYS: per terminal its terminal set, then its fraud set. ARGV: mode ('1' record, '0' peek), ttl,
-- terminal horizon, the stream's event-time clock ('' when unknown; see ``prune_base``), label delay,
-- number of terminal windows, those windows, batch. The batch
-- concatenates per transaction
--   "<index of its terminal set>,<1 (claimed now) or 0 (claimed before)>,<t>,<labeled_at of its
--   fraud label, or empty>,<byte length of id>,<id>".
-- A transaction claimed before is added only when missing (see ``missing``).
-- Returns one string of integers separated by ',', per transaction its transaction counts, then its
-- fraud counts, one per window each.
local ttl, horizon, clock, delay = ARGV[2], tonumber(ARGV[3]), clock_arg(ARGV[4]), tonumber(ARGV[5])
local nt = tonumber(ARGV[6])
local tw = {}
for j = 1, nt do tw[j] = tonumber(ARGV[6 + j]) end
local batch = ARGV[7 + nt]

local out, pos = {}, 1
while pos <= #batch do
  local _, stop, k, new, ts, fraud_at, n = string.find(batch, '^(%d+),([01]),(%-?%d+),(%-?%d*),(%d+),', pos)
  n = tonumber(n)
  local id = string.sub(batch, stop + 1, stop + n)
  pos = stop + n + 1
  k = tonumber(k)
  local tk, fk, t = KEYS[k], KEYS[k + 1], tonumber(ts)
  if fraud_at == '' then fraud_at = nil end

  if new == '1' or missing(done[id] or redis.call('ZSCORE', tk, id), tk, t, horizon, peak[tk], clock) then
    done[id] = true
    if record then
      redis.call('ZADD', tk, ts, id)
      if fraud_at then redis.call('ZADD', fk, ts, fraud_at .. ':' .. id) end
    else
      add(tk, t, 0)
      if fraud_at then add(fk, t, tonumber(fraud_at)) end
    end
    local threshold = prune_base(t, clock) - horizon
    prune(tk, threshold)
    if fraud_at then prune(fk, threshold) end
    if record then
      touched[tk] = true
      if fraud_at then touched[fk] = true end
    end
  end

  -- windows (e - w, e], e = t - delay: transactions, and frauds labelled by t
  local e = t - delay
  local es = num(e)
  local frauds = redis.call('ZRANGEBYSCORE', fk, '(' .. num(lower(fk, e - tw[nt])), es, 'WITHSCORES')
  local fscores, flabeled = {}, {}
  for f = 1, #frauds, 2 do
    local m = frauds[f]
    fscores[#fscores + 1] = tonumber(frauds[f + 1])
    flabeled[#flabeled + 1] = tonumber(string.sub(m, 1, string.find(m, ':', 1, true) - 1))
  end
  if added[fk] then
    for _, a in ipairs(added[fk]) do
      if a[1] > e - tw[nt] and a[1] <= e then fscores[#fscores + 1] = a[1]; flabeled[#flabeled + 1] = a[2] end
    end
  end
  local theirs = added[tk]
  local o = #out
  for j = 1, nt do
    local from = e - tw[j]
    local count = redis.call('ZCOUNT', tk, '(' .. num(lower(tk, from)), es)
    if theirs then
      for _, a in ipairs(theirs) do if a[1] > from and a[1] <= e then count = count + 1 end end
    end
    local fraud = 0
    for f = 1, #fscores do
      if fscores[f] > from and flabeled[f] <= t then fraud = fraud + 1 end
    end
    out[o + j] = count
    out[o + nt + j] = fraud
  end
end
expire_touched(ttl)
return table.concat(out, ',')
