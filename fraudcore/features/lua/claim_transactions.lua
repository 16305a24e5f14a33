-- Phase A of recording (or peeking) transactions, in their transaction bucket: claim each
-- transaction in its bucket's claims hash, listed in its day (the claim floor raised first; then a
-- bounded number of the claims below it deleted: ``claims_drain``), and take the label held for it
-- (moved into the claim).
-- KEYS: per bucket its claim-day index, its held-labels hash, then its claims hash. ARGV: mode, ttl,
-- claim horizon, the stream's event-time clock ('' when unknown; see ``prune_base``), then per
-- transaction three values: the index in KEYS of its claim-day index, its id, the value it claims
-- ('<t>|<cents>|<n>|<customer id><terminal id>'). A claim is stored as '<label>;<value>', the label
-- ('<1 or 0>|<labeled_at>', or empty) the one held for the transaction when it was claimed.
-- Returns per transaction two strings: the claim found ('' when claimed now; the caller compares its
-- value with its own: another one is a conflict) and the label of the claim ('' when none; a held
-- label dated before the transaction is dropped, not returned: 'd' says so in record mode). A
-- transaction not claimed whose day is below the claim floor (past the claim horizon: it may be a
-- redelivery no longer recognisable) is not claimed: its own value and 's' (nothing is added for it).
-- A held label whose transaction could no longer be claimed (the day of the transaction time it
-- carries, else of its labeled_at, below the claim floor) is dropped: when the floor moves (record
-- mode), and when its transaction is claimed. The reply ends with how many held labels the moves of
-- the floor dropped.
local ttl, horizon, clock = ARGV[2], tonumber(ARGV[3]), clock_arg(ARGV[4])
local out = {}
local expired_dropped = 0

-- a held value: its label ('<1 or 0>|<labeled_at>'), labeled_at, and the transaction time it carries (or nil)
local function parse_held(value)
  local label, at, own = string.match(value, '^([01]|(%-?%d+))|?(%-?%d*)$')
  return label, tonumber(at), tonumber(own)
end

-- whether a held value's transaction could no longer be claimed in the bucket (index ``idx``)
local function expired(idx, value)
  local _, at, own = parse_held(value)
  return below_floor(idx, day_of(own or at))
end

-- the held label of a transaction claimed now at t ('' when none, dated before t or expired); record
-- mode takes it out of the held ones ('d' when dropped)
local held
local function take_held(idx, hk, id, t)
  local value = held[hk][id]
  if not value then return '' end
  local label, at = parse_held(value)
  local usable = at >= t and not expired(idx, value)
  held[hk][id] = false
  if record then
    redis.call('HDEL', hk, id)
    if not usable then return 'd' end
  end
  if usable then return label end
  return ''
end

-- drop the held labels that expired when the floor of ``idx`` moved (record mode)
local function drop_expired(idx, hk)
  if not record then return end
  local flat = redis.call('HGETALL', hk)
  for i = 1, #flat, 2 do
    if expired(idx, flat[i + 1]) then
      redis.call('HDEL', hk, flat[i])
      held[hk][flat[i]] = false
      expired_dropped = expired_dropped + 1
    end
  end
end

local ids = {}
held = {}
for i = 1, (#ARGV - 4) / 3 do
  local k = tonumber(ARGV[2 + 3 * i])
  local t = tonumber(string.match(ARGV[4 + 3 * i], '^(%-?%d+)|'))
  ids[k] = ids[k] or {}
  table.insert(ids[k], ARGV[3 + 3 * i])
  rows_touch(KEYS[k], day_of(t), day_of(prune_base(t, clock) - horizon))
end
-- the rows' day lists, and those ``claims_drain`` may pop: the days below the floor their rows may
-- raise it to, or below the floor there is
for k in pairs(ids) do
  local idx = KEYS[k]
  days(idx)
  local below, f = row_below[idx], floors[idx]
  if f and f > below then below = f end
  preflight(idx, row_days[idx], below)
end
for k, list in pairs(ids) do
  claims_fetch(KEYS[k + 2], list)
  local values = {}
  for from = 1, #list, 1000 do
    local part = {}
    for i = from, math.min(from + 999, #list) do part[#part + 1] = list[i] end
    local got = redis.call('HMGET', KEYS[k + 1], unpack(part))
    for i = 1, #part do values[part[i]] = got[i] or false end
  end
  held[KEYS[k + 1]] = values
end

for i = 1, (#ARGV - 4) / 3 do
  local k, id, value = tonumber(ARGV[2 + 3 * i]), ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  local idx, hk, ck = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local t = tonumber(string.match(value, '^(%-?%d+)|'))
  if claims_advance(idx, day_of(prune_base(t, clock) - horizon)) then drop_expired(idx, hk) end
  local stored = claim_get(idx, ck, id)
  if not stored and below_floor(idx, day_of(t)) then -- past the claim horizon: maybe a redelivery
    out[2 * i - 1] = value
    out[2 * i] = 's'
  elseif stored then
    local sep = string.find(stored, ';', 1, true)
    out[2 * i - 1] = string.sub(stored, sep + 1)
    out[2 * i] = string.sub(stored, 1, sep - 1)
  else
    local label = take_held(idx, hk, id, t)
    local kept = label
    if label == 'd' then kept = '' end
    claim_put(idx, ck, day_of(t), id, kept .. ';' .. value)
    out[2 * i - 1] = ''
    out[2 * i] = label
  end
end
claims_flush()
-- pruning: per bucket at most twice its rows (and at least 256) claims of days below the floor
for k, list in pairs(ids) do claims_drain(KEYS[k], KEYS[k + 2], math.max(256, 2 * #list)) end
expire_touched(ttl)
out[#out + 1] = num(expired_dropped)
return out
