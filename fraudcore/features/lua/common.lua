-- Shared by the feature scripts (prepended to each). See fraudcore/features/redis_store.py for the
-- key layout.

local format = string.format

-- an integral number as a decimal string (exact below 2^53)
local function num(x) return format('%d', x) end

-- the stored transaction "<t>|<cents>|<n>|<customer><terminal>" -> t (string), customer, terminal
local function parse_tx(value)
  local p1 = string.find(value, '|', 1, true)
  local p2 = string.find(value, '|', p1 + 1, true)
  local p3 = string.find(value, '|', p2 + 1, true)
  local n = tonumber(string.sub(value, p2 + 1, p3 - 1))
  return string.sub(value, 1, p1 - 1), string.sub(value, p3 + 1, p3 + n), string.sub(value, p3 + n + 1)
end
