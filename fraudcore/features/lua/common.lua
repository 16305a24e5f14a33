-- Shared by the feature scripts (prepended to each). See fraudcore/features/redis_store.py for the
-- key layout. Every key a script touches is one of its KEYS, and all of them share one hash tag.

local format = string.format
local record = ARGV[1] == '1' -- '0': peek, write nothing

-- an integral number as a decimal string (exact below 2^53)
local function num(x) return format('%d', x) end

-- the highest score of a sorted set (nil when empty)
local function top(key)
  local r = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  if r[2] then return tonumber(r[2]) end
  return nil
end

-- the stream's event-time clock given by the caller (ARGV ``clock``; nil when '': none known)
local function clock_arg(value) return tonumber(value) end

-- What pruning at a transaction's ``t`` is relative to: ``t``, or the stream's clock when that is
-- earlier, so a forward-dated transaction prunes no more history than the honest clock allows.
local function prune_base(t, clock)
  if clock and clock < t then return clock end
  return t
end

-- Whether a transaction marked "claimed before" still has to be added at ``t``: not in the set
-- (``held``) and newer than the set's prune floor (the highest score, or the clock when earlier,
-- minus the horizon: no prune went higher while the clock did not move back); below the floor it
-- was added and pruned already, or is too late to matter.
local function missing(held, key, t, horizon, pending_top, clock)
  if held then return false end
  local highest = top(key)
  if pending_top and (not highest or pending_top > highest) then highest = pending_top end
  return not highest or t > prune_base(highest, clock) - horizon
end

-- keys written by this call: each gets its EXPIRE once, when the call ends (``expire_touched``)
local touched = {}
local function expire_touched(ttl)
  for key in pairs(touched) do redis.call('EXPIRE', key, ttl) end
end
