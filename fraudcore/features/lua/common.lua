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

-- Whether a transaction marked "claimed before" still has to be added at ``t``: not in the set
-- (``held``) and newer than the set's prune floor (the highest score minus the horizon); below the
-- floor it was added and pruned already, or is too late to matter.
local function missing(held, key, t, horizon, pending_top)
  if held then return false end
  local highest = top(key)
  if pending_top and (not highest or pending_top > highest) then highest = pending_top end
  return not highest or t > highest - horizon
end

-- keys written by this call: each gets its EXPIRE once, when the call ends (``expire_touched``)
local touched = {}
local function expire_touched(ttl)
  for key in pairs(touched) do redis.call('EXPIRE', key, ttl) end
end
