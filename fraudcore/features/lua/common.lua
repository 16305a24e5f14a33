-- Shared by the feature scripts (prepended to each). See fraudcore/features/redis_store.py for the
-- key layout. Every key a script touches shares one hash tag; entity keys and day indexes are KEYS,
-- the day hashes of an index are named after it ('<index>:<day>').

local format = string.format
local record = ARGV[1] == '1' -- '0': peek, write nothing (changes live in this call's caches only)
local DAY = 86400000

-- an integral number as a decimal string (exact below 2^53)
local function num(x) return format('%d', x) end
local function floordiv(a, b) return math.floor(a / b) end
local function day_of(t) return floordiv(t, DAY) end

-- the stream's event-time clock given by the caller (ARGV ``clock``; nil when '': none known)
local function clock_arg(value) return tonumber(value) end

-- What pruning at a transaction's ``t`` is relative to: ``t``, or the stream's clock when that is
-- earlier, so a forward-dated transaction prunes no more history than the honest clock allows.
local function prune_base(t, clock)
  if clock and clock < t then return clock end
  return t
end

-- keys written by this call: each gets its EXPIRE once, when the call ends (``expire_touched``)
local touched = {}
local function expire_touched(ttl)
  for key in pairs(touched) do redis.call('EXPIRE', key, ttl) end
end

-- Day records: per bucket an index (sorted set: each day held, member and score its number, and
-- member 'floor' scored with the first day kept) and one hash per day '<index>:<day>', field an id.
-- Reads are remembered per call (``memo``: value, or false when absent), and so are writes, so a
-- peek sees its own writes without making them.
local floors, live, memo = {}, {}, {}

local function days(idx)
  local set = live[idx]
  if not set then
    set = {}
    local flat = redis.call('ZRANGE', idx, 0, -1, 'WITHSCORES')
    for i = 1, #flat, 2 do
      if flat[i] == 'floor' then floors[idx] = tonumber(flat[i + 1]) else set[tonumber(flat[i + 1])] = true end
    end
    if floors[idx] == nil then floors[idx] = false end
    live[idx] = set
  end
  return set
end

local function below_floor(idx, day)
  days(idx)
  local f = floors[idx]
  return f and day < f
end

-- whether the index has a floor (its bucket has recorded transactions: a running stream)
local function has_floor(idx)
  days(idx)
  return floors[idx] ~= false
end

-- drop the days before ``keep_from``, unless the floor is there already; true when the floor moved
local function advance(idx, keep_from)
  local set = days(idx)
  local f = floors[idx]
  if f and f >= keep_from then return false end
  for day in pairs(set) do
    if day < keep_from then
      set[day] = nil
      memo[idx .. ':' .. num(day)] = nil
      touched[idx .. ':' .. num(day)] = nil -- gone: no EXPIRE for it at the end (see ``claims_drain``)
      if record then redis.call('DEL', idx .. ':' .. num(day)) end
    end
  end
  if record then
    redis.call('ZREMRANGEBYSCORE', idx, '-inf', '(' .. num(keep_from))
    redis.call('ZADD', idx, keep_from, 'floor')
    touched[idx] = true
  end
  floors[idx] = keep_from
  return true
end

-- the name of a day hash (remembered: rows look the same days up again and again)
local day_names = {}
local function day_key(idx, day)
  local names = day_names[idx]
  if not names then names = {}; day_names[idx] = names end
  local name = names[day]
  if not name then name = idx .. ':' .. num(day); names[day] = name end
  return name
end

-- Redis Cluster: day hashes are not in KEYS. While their bucket's slot migrates, a command on one
-- that has moved (or does not exist yet) fails the call. So a recording call touches every day hash
-- it may read, write or drop before its first write: such a failure then comes before any write,
-- and the retried call finds nothing half done. ``preflight`` touches the ``extra`` days (those its
-- rows read or write) and the days held before ``below`` (those ``advance`` may drop: ``below`` is
-- the highest ``keep_from`` its rows may pass; nil when the call reads every day held anyway, as
-- ``prefetch`` does). Peeks write nothing and skip this.
local preflown = {}
local function preflight(idx, extra, below)
  if not record then return end
  local function touch(day)
    local key = day_key(idx, day)
    if not preflown[key] then
      preflown[key] = true
      redis.call('EXISTS', key)
    end
  end
  if below then
    for day in pairs(days(idx)) do
      if day < below then touch(day) end
    end
  end
  for day in pairs(extra) do touch(day) end
end

-- What a call's rows touch, gathered before its first write: per index the days they read or write
-- and the highest ``keep_from`` they may advance it to; ``preflight_rows`` then preflights them all.
local row_days, row_below = {}, {}
local function rows_touch(idx, day, keep_from)
  local d = row_days[idx]
  if not d then d = {}; row_days[idx] = d end
  d[day] = true
  local below = row_below[idx]
  if keep_from and (not below or keep_from > below) then row_below[idx] = keep_from end
end

local function preflight_rows()
  for idx, extra in pairs(row_days) do preflight(idx, extra, row_below[idx]) end
end

local function day_memo(key)
  local m = memo[key]
  if not m then m = {}; memo[key] = m end
  return m
end

local function rec_get(idx, day, id)
  if not days(idx)[day] then return nil end
  local key = day_key(idx, day)
  local m = day_memo(key)
  local v = m[id]
  if v == nil then
    v = redis.call('HGET', key, id) or false
    m[id] = v
  end
  return v or nil
end

local function rec_put(idx, day, id, value)
  local set = days(idx)
  local key = day_key(idx, day)
  if not set[day] then
    set[day] = true
    if record then redis.call('ZADD', idx, day, num(day)); touched[idx] = true end
  end
  day_memo(key)[id] = value
  if record then
    redis.call('HSET', key, id, value)
    touched[key] = true
  end
end

-- Claims: per bucket one hash (in KEYS), field the tx id, value '<label>;<t>|...', so an id costs one
-- lookup whatever the days held; and a day index (as above) whose floor is the claim floor, listing
-- per day a list '<index>:<day>' of the ids claimed that day. A claim dated below the floor is gone
-- (read as absent); ``claims_drain`` deletes such claims a bounded number at a time, popping the
-- lists of the days below the floor, and unlists a day once its list is empty.
local claim_memo = {} -- per claims hash: id -> value, or false when absent (reads and this call's writes)
local claim_sets, claim_adds = {}, {} -- per claims hash its HSET arguments; per day list its new ids

-- read the claims of ``ids`` (a list), one HMGET per 1000
local function claims_fetch(ck, ids)
  local m = claim_memo[ck]
  if not m then m = {}; claim_memo[ck] = m end
  for from = 1, #ids, 1000 do
    local part = {}
    for i = from, math.min(from + 999, #ids) do
      if m[ids[i]] == nil then part[#part + 1] = ids[i] end
    end
    if #part > 0 then
      local values = redis.call('HMGET', ck, unpack(part))
      for i = 1, #part do m[part[i]] = values[i] or false end
    end
  end
end

local function claim_day(value)
  return day_of(tonumber(string.match(value, ';(%-?%d+)|')))
end

-- the claim of ``id`` (fetched before by ``claims_fetch``), nil when absent or below the claim floor
local function claim_get(idx, ck, id)
  local value = claim_memo[ck][id]
  if not value or below_floor(idx, claim_day(value)) then return nil end
  return value
end

-- claim ``id`` in ``day`` (written by ``claims_flush``)
local claim_index = {} -- per claims hash, and per day list, its day index
local function claim_put(idx, ck, day, id, value)
  claim_memo[ck][id] = value
  local set = days(idx)
  if not set[day] then
    set[day] = true
    if record then redis.call('ZADD', idx, day, num(day)); touched[idx] = true end
  end
  if not record then return end
  local sets = claim_sets[ck]
  if not sets then sets = {}; claim_sets[ck] = sets; claim_index[ck] = idx end
  sets[#sets + 1] = id
  sets[#sets + 1] = value
  local key = day_key(idx, day)
  local adds = claim_adds[key]
  if not adds then adds = {day = day}; claim_adds[key] = adds; claim_index[key] = idx end
  adds[#adds + 1] = id
end

-- raise the claim floor to ``keep_from`` (the days below stay listed until drained); true when it moved
local function claims_advance(idx, keep_from)
  days(idx)
  local f = floors[idx]
  if f and f >= keep_from then return false end
  if record then
    redis.call('ZADD', idx, keep_from, 'floor')
    touched[idx] = true
  end
  floors[idx] = keep_from
  return true
end

-- delete up to ``budget`` claims listed in the days below the floor (oldest day first), those whose
-- claim is still dated below it (an id claimed again since keeps its new claim); record mode. Runs
-- after ``claims_flush`` and deletes with one HDEL at its end, so a claims hash never empties while
-- this call still has a command for it (on a cluster whose slot migrates, a command on a key that
-- is gone fails the call, and it must not fail after a write)
local function claims_drain(idx, ck, budget)
  if not record then return end
  local f = floors[idx]
  if not f then return end
  local below = {}
  for day in pairs(days(idx)) do
    if day < f then below[#below + 1] = day end
  end
  table.sort(below)
  local stale = {}
  for _, day in ipairs(below) do
    if budget <= 0 then break end
    local ids = redis.call('LPOP', day_key(idx, day), budget) or {}
    if #ids < budget then
      days(idx)[day] = nil
      redis.call('ZREM', idx, num(day))
      touched[idx] = true
    end
    budget = budget - #ids
    if #ids > 0 then
      claims_fetch(ck, ids)
      local m = claim_memo[ck]
      for _, id in ipairs(ids) do
        local value = m[id]
        if value and claim_day(value) < f then
          stale[#stale + 1] = id
          m[id] = false
        end
      end
    end
  end
  for from = 1, #stale, 1000 do
    redis.call('HDEL', ck, unpack(stale, from, math.min(from + 999, #stale)))
  end
end

-- write the claims of ``claim_put`` that are not below the claim floor by now (a later row of the
-- call may have raised it): one HSET per claims hash, one RPUSH per day list
local function claims_flush()
  for ck, sets in pairs(claim_sets) do
    local f, live = floors[claim_index[ck]], {}
    for i = 1, #sets, 2 do
      if not (f and claim_day(sets[i + 1]) < f) then
        live[#live + 1] = sets[i]
        live[#live + 1] = sets[i + 1]
      end
    end
    for from = 1, #live, 2000 do
      redis.call('HSET', ck, unpack(live, from, math.min(from + 1999, #live)))
    end
    if #live > 0 then touched[ck] = true end
  end
  for key, adds in pairs(claim_adds) do
    local f = floors[claim_index[key]]
    if not (f and adds.day < f) then
      for from = 1, #adds, 1000 do
        redis.call('RPUSH', key, unpack(adds, from, math.min(from + 999, #adds)))
      end
      touched[key] = true
    end
  end
end

-- Tile strings (customer and terminal tiles): binary, a header then one record per tile holding
-- transactions, in tile order, each with the running sums of the tiles up to it (so a window is two
-- binary searches and no pass over the tiles). Big-endian signed integers: ``width`` 3 (customers)
-- header ``count, cents`` (i5, i8: the sums before the first record, i.e. of the tiles dropped),
-- record ``tile, count, cents`` (i4, i5, i8, running); ``width`` 2 (terminals) the same without
-- cents. Read once per call (``tiles``), spliced in this table, written back once when the call ends
-- (``write_tiles``).
local sunpack, spack = struct.unpack, struct.pack
local TILE_FORMATS = {
  [2] = {sums = '>i5', record = '>i4i5', header = 5, size = 9, cents = false},
  [3] = {sums = '>i5i8', record = '>i4i5i8', header = 13, size = 17, cents = true},
}
-- a pruned string whose dropped sums pass these is rebased (its running sums made relative to its
-- first record), so they stay exact (doubles) and within their widths
local REBASE_COUNT, REBASE_CENTS = 2 ^ 36, 2 ^ 50
local bins, formats, changed = {}, {}, {}

-- the tile string of ``key`` (read on first use), ``width`` 2 (terminal) or 3 (customer)
local function tiles(key, width)
  local s = bins[key]
  if not s then
    local f = TILE_FORMATS[width]
    s = redis.call('GET', key) or string.rep('\0', f.header)
    bins[key], formats[key] = s, f
  end
  return s
end

-- the tile of record ``i`` (1-based)
local function tile_at(key, i)
  local f = formats[key]
  return (sunpack('>i4', bins[key], f.header + (i - 1) * f.size + 1))
end

-- the running count and cents (0 for terminals) of the first ``i`` records (``i = 0``: the header)
local function tile_sums(key, i)
  local f = formats[key]
  local at = 1
  if i > 0 then at = f.header + (i - 1) * f.size + 5 end
  if f.cents then
    local count, cents = sunpack('>i5i8', bins[key], at)
    return count, cents
  end
  return (sunpack('>i5', bins[key], at)), 0
end

-- how many records have a tile <= x
local function tile_upto(key, x)
  local s, f = bins[key], formats[key]
  local first, size = f.header + 1, f.size
  local lo, hi = 0, (#s - f.header) / size
  if hi == 0 or sunpack('>i4', s, first + (hi - 1) * size) <= x then return hi end
  hi = hi - 1
  while lo < hi do
    local mid = lo + hi + 1
    mid = (mid - mid % 2) / 2
    if sunpack('>i4', s, first + (mid - 1) * size) <= x then lo = mid else hi = mid - 1 end
  end
  return lo
end

local function pack_sums(f, count, cents)
  if f.cents then return spack('>i5i8', count, cents) end
  return spack('>i5', count)
end

-- records ``from`` .. ``to`` of ``s`` with ``dx``, ``dy`` added to their running sums
local function shifted(s, f, from, to, dx, dy)
  local parts = {}
  for i = from, to do
    local at = f.header + (i - 1) * f.size + 1
    if f.cents then
      local tile, count, cents = sunpack('>i4i5i8', s, at)
      parts[#parts + 1] = spack('>i4i5i8', tile, count + dx, cents + dy)
    else
      local tile, count = sunpack('>i4i5', s, at)
      parts[#parts + 1] = spack('>i4i5', tile, count + dx)
    end
  end
  return table.concat(parts)
end

-- add ``x`` transactions (and ``y`` cents, customers) to a tile, keeping the records in order
local function tile_add(key, tile, x, y)
  local s, f = bins[key], formats[key]
  y = y or 0
  local n = (#s - f.header) / f.size
  local p = tile_upto(key, tile)
  local count, cents = tile_sums(key, p)
  local before = p -- records kept before the new one
  if p > 0 and tile_at(key, p) == tile then before = p - 1 end
  local record = spack('>i4', tile) .. pack_sums(f, count + x, cents + y)
  local tail = ''
  if p < n then tail = shifted(s, f, p + 1, n, x, y) end
  if before == n then
    bins[key] = s .. record
  else
    bins[key] = string.sub(s, 1, f.header + before * f.size) .. record .. tail
  end
  changed[key] = true
end

-- drop the tiles <= cut (the first ones); the header takes their sums
local function tile_prune(key, cut)
  local s, f = bins[key], formats[key]
  if #s == f.header or tile_at(key, 1) > cut then return end
  local q = tile_upto(key, cut)
  local count, cents = tile_sums(key, q)
  local n = (#s - f.header) / f.size
  local rest = ''
  if q == n then
    count, cents = 0, 0
  elseif count > REBASE_COUNT or cents > REBASE_CENTS then
    rest = shifted(s, f, q + 1, n, -count, -cents)
    count, cents = 0, 0
  else
    rest = string.sub(s, f.header + q * f.size + 1)
  end
  bins[key], changed[key] = pack_sums(f, count, cents) .. rest, true
end

local function write_tiles(ttl)
  if not record then return end
  for key in pairs(changed) do
    if #bins[key] == formats[key].header then
      redis.call('DEL', key)
    else
      redis.call('SET', key, bins[key], 'EX', ttl)
    end
  end
end

-- Fraud hashes: read once per call (HGETALL) into a table field -> parsed value ``{tile, count,
-- labeled_at}``, kept in step with the call's writes.
local entities, flows = {}, {}
local indexes = {} -- per fraud hash its window index (``fraud_index``), dropped when the hash changes

local function entity(key, parse)
  local e = entities[key]
  if not e then
    e = {}
    local low
    local flat = redis.call('HGETALL', key)
    for i = 1, #flat, 2 do
      local v = parse(flat[i], flat[i + 1])
      e[flat[i]] = v
      if not low or v[1] < low then low = v[1] end
    end
    entities[key] = e
    flows[key] = low
  end
  return e
end

-- set a field: its parsed value ``v`` (tile first) and the string stored
local function ent_set(key, field, v, stored)
  entities[key][field] = v
  indexes[key] = nil
  if not flows[key] or v[1] < flows[key] then flows[key] = v[1] end
  if record then redis.call('HSET', key, field, stored); touched[key] = true end
end

local function ent_del(key, field)
  entities[key][field] = nil
  indexes[key] = nil
  if record then redis.call('HDEL', key, field) end
end

-- drop the fields whose tile is <= cut
local function ent_prune(key, cut)
  local low = flows[key]
  if not low or low > cut then return end
  local e, stale, rest = entities[key], {}, nil
  for field, v in pairs(e) do
    if v[1] <= cut then
      stale[#stale + 1] = field
    elseif not rest or v[1] < rest then
      rest = v[1]
    end
  end
  for _, field in ipairs(stale) do ent_del(key, field) end
  flows[key] = rest
end

local function parse_fraud(field, value)
  local tile, at = string.match(field, '^(%-?%d+):(%-?%d+)$')
  return {tonumber(tile), tonumber(value), tonumber(at)}
end
