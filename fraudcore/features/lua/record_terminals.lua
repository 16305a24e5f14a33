-- Phase C of recording (or peeking) transactions, in their terminal bucket: add each transaction to
-- its terminal's tiles, apply the label its claim carries (held for it before it was recorded), in
-- batch order, and return its terminal window counts.
-- KEYS: per terminal its tile hash, then its fraud hash; per terminal bucket its mark index, then
-- its label-record index. ARGV: mode ('1' record, '0' peek), ttl, terminal horizon, claim horizon,
-- the stream's event-time clock ('' when unknown; see ``prune_base``), tile width, label delay in
-- tiles, number of terminal windows, those windows in tiles, batch. The batch concatenates per
-- transaction
--   "<key index of its tile hash>,<key index of its mark index>,<1 (claimed now), 0 (claimed
--   before) or s (past the claim horizon: never added)>,<t>,<label of its claim, or empty>,<byte length of id>,<id>".
-- A transaction is added as in record_customers.lua; the label is applied in any case (idempotent).
-- Returns one string of integers separated by ',', per transaction its transaction counts, then its
-- fraud counts, one per window each.
local ttl, horizon, claim_horizon = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local clock, tile_ms, delay, nt = clock_arg(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local tw = {}
for j = 1, nt do tw[j] = tonumber(ARGV[8 + j]) end
local batch = ARGV[9 + nt]

-- The fraud counts of a window: a fraud hash's fields sorted by tile with running sums (the count of
-- tiles (lo, hi] by two binary searches), and sorted by labeled_at, latest first (the fields labelled
-- after t, which do not count yet, are subtracted: few in a live stream). Built once per call and
-- fraud hash, again after the hash changed.
local function fraud_index(fk)
  local index = indexes[fk]
  if index then return index end
  local by_tile, by_at = {}, {}
  for _, v in pairs(entity(fk, parse_fraud)) do
    by_tile[#by_tile + 1] = v
    by_at[#by_at + 1] = v
  end
  table.sort(by_tile, function(a, b) return a[1] < b[1] end)
  table.sort(by_at, function(a, b) return a[3] > b[3] end)
  local tiles_sorted, sums = {}, {[0] = 0}
  for i, v in ipairs(by_tile) do
    tiles_sorted[i] = v[1]
    sums[i] = sums[i - 1] + v[2]
  end
  index = {tiles_sorted, sums, by_at}
  indexes[fk] = index
  return index
end

-- how many of the sorted ``tiles`` are <= x
local function count_upto(sorted, x)
  local lo, hi = 0, #sorted
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if sorted[mid] <= x then lo = mid else hi = mid - 1 end
  end
  return lo
end

local rows, pos = {}, 1
while pos <= #batch do
  local _, stop, k, m, new, ts, label, n = string.find(batch, '^(%d+),(%d+),([01s]),(%-?%d+),([^,]*),(%d+),', pos)
  n, k, m = tonumber(n), tonumber(k), tonumber(m)
  local row = {KEYS[k], KEYS[k + 1], KEYS[m], KEYS[m + 1], new, tonumber(ts), label, string.sub(batch, stop + 1, stop + n)}
  pos = stop + n + 1
  rows[#rows + 1] = row
  local t = row[6]
  local base = prune_base(t, clock)
  rows_touch(row[3], day_of(t), day_of(base - claim_horizon))
  if label ~= '' then rows_touch(row[4], day_of(t), day_of(base - horizon)) end
end
preflight_rows()

local out = {}
for _, row in ipairs(rows) do
  local tk, fk, mk, lidx, new, t, label, id = unpack(row)
  local base, day = prune_base(t, clock), day_of(t)
  advance(mk, day_of(base - claim_horizon))
  local now = floordiv(t, tile_ms)
  tiles(tk, 2)
  if new == '1' or (new == '0' and not rec_get(mk, day, id) and not below_floor(mk, day)) then
    tile_add(tk, now, 1)
    tile_prune(tk, floordiv(base - horizon, tile_ms))
    rec_put(mk, day, id, '1')
  end
  if label ~= '' then apply_label(fk, lidx, id, t, label, base, horizon, tile_ms) end

  -- windows: the tiles (e - w, e], e = now - delay; frauds labelled by t
  local e = now - delay
  local oldest = e - tw[nt]
  local o = #out
  for j = 1, 2 * nt do out[o + j] = 0 end
  local count_top = tile_sums(tk, tile_upto(tk, e))
  for j = 1, nt do out[o + j] = count_top - tile_sums(tk, tile_upto(tk, e - tw[j])) end
  local index = fraud_index(fk)
  local sorted, sums, by_at = index[1], index[2], index[3]
  local upto_e = sums[count_upto(sorted, e)]
  for j = 1, nt do out[o + nt + j] = upto_e - sums[count_upto(sorted, e - tw[j])] end
  for _, v in ipairs(by_at) do
    if v[3] <= t then break end
    local tile = v[1]
    if tile > oldest and tile <= e then
      for j = 1, nt do
        if tile > e - tw[j] then out[o + nt + j] = out[o + nt + j] - v[2] end
      end
    end
  end
  for j = 1, 2 * nt do out[o + j] = num(out[o + j]) end
end
write_tiles(ttl)
expire_touched(ttl)
return table.concat(out, ',')
