-- Shared by the set scripts. Peek mode writes nothing: per key, the batch's own additions
-- ({score, value}, pruned in place), their highest score, and the highest prune threshold applied
-- to the stored members (those at or below it count as pruned); ids added by this call in ``done``.
local added, peak, floor, done = {}, {}, {}, {}

local function add(key, t, value)
  local list = added[key]
  if not list then list = {}; added[key] = list end
  list[#list + 1] = {t, value}
  if not peak[key] or peak[key] < t then peak[key] = t end
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
