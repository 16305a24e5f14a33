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
  tiles(ck, 3)
  local mark = new == '0' and rec_get(mk, day, id) or nil
  local added = false
  if new == '1' or (new == '0' and not mark and not below_floor(mk, day)) then
    tile_add(ck, now, 1, tonumber(cents))
    tile_prune(ck, floordiv(base - horizon, tile_ms))
    added = true
  end

  -- windows: the tiles (now - w, now]; a transaction recorded before sees its own tile as it was
  -- when it was added (its mark), so a redelivery gets the first answer's counts
  local o = #out
  local top = tile_upto(ck, now)
  local below = top
  if top > 0 and tile_at(ck, top) == now then below = top - 1 end
  local count_top, cents_top = tile_sums(ck, top)
  local dn, dc = 0, 0
  if added or mark then
    local count_below, cents_below = tile_sums(ck, below)
    local own_count, own_cents = count_top - count_below, cents_top - cents_below
    if added then
      rec_put(mk, day, id, num(own_count) .. ':' .. num(own_cents))
    else
      local n0, c0 = string.match(mark, '^(%d+):(%d+)$')
      if n0 then dn, dc = tonumber(n0) - own_count, tonumber(c0) - own_cents end
    end
  end
  for j = 1, nc do
    local low = tile_upto(ck, now - cw[j])
    local count_low, cents_low = tile_sums(ck, low)
    out[o + j], out[o + nc + j] = num(count_top - count_low + dn), num(cents_top - cents_low + dc)
  end
end
write_tiles(ttl)
expire_touched(ttl)
return table.concat(out, ',')
