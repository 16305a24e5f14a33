-- Phase B of recording (or peeking) transactions, in their customer bucket: add each transaction to
-- its customer's tiles (in batch order) and return its customer window counts.
-- KEYS: the customer hashes and the customer buckets' mark indexes. ARGV: mode ('1' record, '0'
-- peek), ttl, customer horizon, claim horizon, the stream's event-time clock ('' when unknown; see
-- ``prune_base``), tile width, number of customer windows, those windows in tiles, batch. The batch
-- concatenates per transaction
--   "<key index of its customer>,<key index of its mark index>,<1 (claimed now), 0 (claimed
--   before) or s (past the claim horizon: never added)>,<t>,<cents>,<byte length of id>,<id>".
-- A transaction is added when claimed now, or claimed before but not marked and newer than the mark
-- floor (a delivery that stopped before this phase); adding it marks it with its tile's count and
-- cents just after it was added, which a later delivery's answer uses for that tile.
-- Returns one string of integers separated by ',', per transaction its counts, then its cents, one
-- per window each.
local ttl, horizon, claim_horizon = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local clock, tile_ms, nc = clock_arg(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local cw = {}
for j = 1, nc do cw[j] = tonumber(ARGV[7 + j]) end
local batch = ARGV[8 + nc]

local rows, pos = {}, 1
while pos <= #batch do
  local _, stop, k, m, new, ts, cents, n = string.find(batch, '^(%d+),(%d+),([01s]),(%-?%d+),(%d+),(%d+),', pos)
  n = tonumber(n)
  local row = {KEYS[tonumber(k)], KEYS[tonumber(m)], new, tonumber(ts), cents, string.sub(batch, stop + 1, stop + n)}
  pos = stop + n + 1
  rows[#rows + 1] = row
  rows_touch(row[2], day_of(row[4]), day_of(prune_base(row[4], clock) - claim_horizon))
end
preflight_rows()

local out = {}
for _, row in ipairs(rows) do
  local ck, mk, new, t, cents, id = unpack(row)
  local base, day = prune_base(t, clock), day_of(t)
  advance(mk, day_of(base - claim_horizon))
  local now = floordiv(t, tile_ms)
  local a = tiles(ck)
  local mark = new == '0' and rec_get(mk, day, id) or nil
  local added = false
  if new == '1' or (new == '0' and not mark and not below_floor(mk, day)) then
    tile_add(ck, 3, now, 1, tonumber(cents))
    tile_prune(ck, 3, floordiv(base - horizon, tile_ms))
    a = packed[ck]
    added = true
  end

  -- windows: the tiles (now - w, now]; a transaction recorded before sees its own tile as it was
  -- when it was added (its mark), so a redelivery gets the first answer's counts
  local o = #out
  local counts, cents = tile_sums(ck, 3)
  local top, below = tiles_upto(a, 3, now), tiles_upto(a, 3, now - 1)
  local dn, dc = 0, 0
  if added then
    rec_put(mk, day, id, num(counts[top] - counts[below]) .. ':' .. num(cents[top] - cents[below]))
  elseif mark then
    local n0, c0 = string.match(mark, '^(%d+):(%d+)$')
    if n0 then
      dn, dc = tonumber(n0) - (counts[top] - counts[below]), tonumber(c0) - (cents[top] - cents[below])
    end
  end
  for j = 1, nc do
    local low = tiles_upto(a, 3, now - cw[j])
    out[o + j], out[o + nc + j] = num(counts[top] - counts[low] + dn), num(cents[top] - cents[low] + dc)
  end
end
write_tiles(ttl)
expire_touched(ttl)
return table.concat(out, ',')
