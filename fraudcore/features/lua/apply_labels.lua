-- Phase 2 of recording labels, in their terminal bucket: make each joined label's record and its
-- terminal's fraud counts follow it when it wins (see ``apply_label``).
-- KEYS: per terminal its fraud hash, then its tiles; per terminal bucket its label-record index.
-- ARGV: mode (always '1'), ttl, terminal horizon, the stream's event-time clock ('' when unknown; see
-- ``prune_base``), tile width, batch. The batch concatenates per label
--   "<key index of its fraud hash>,<key index of its label-record index>,<j (joined on the claim) or o
--   (on its own terminal and time)>,<t of its transaction>,<label value>,<byte length of id>,<id>".
-- Returns one letter per label: n (new), c (corrected), u (unchanged) or m (refused: joined on its
-- own facts, no recorded transaction of that tile left to count).
local ttl, horizon, clock, tile_ms, batch = ARGV[2], tonumber(ARGV[3]), clock_arg(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local rows, pos = {}, 1
while pos <= #batch do
  local _, stop, k, m, how, ts, label, n = string.find(batch, '^(%d+),(%d+),([jo]),(%-?%d+),([01]|%-?%d+),(%d+),', pos)
  n, k = tonumber(n), tonumber(k)
  local tk = nil
  if how == 'o' then tk = KEYS[k + 1] end
  local row = {KEYS[k], KEYS[tonumber(m)], string.sub(batch, stop + 1, stop + n), tonumber(ts), label, tk}
  pos = stop + n + 1
  rows[#rows + 1] = row
  rows_touch(row[2], day_of(row[4]), day_of(prune_base(row[4], clock) - horizon))
end
preflight_rows()

local out = {}
for _, row in ipairs(rows) do
  local fk, lidx, id, t, label, tk = unpack(row)
  out[#out + 1] = apply_label(fk, lidx, id, t, label, prune_base(t, clock), horizon, tile_ms, tk)
end
expire_touched(ttl)
return table.concat(out)
