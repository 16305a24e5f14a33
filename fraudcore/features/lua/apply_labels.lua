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
local out, pos = {}, 1
while pos <= #batch do
  local _, stop, k, m, how, ts, label, n = string.find(batch, '^(%d+),(%d+),([jo]),(%-?%d+),([01]|%-?%d+),(%d+),', pos)
  n, k = tonumber(n), tonumber(k)
  local id = string.sub(batch, stop + 1, stop + n)
  pos = stop + n + 1
  local t = tonumber(ts)
  local tk = nil
  if how == 'o' then tk = KEYS[k + 1] end
  out[#out + 1] = apply_label(KEYS[k], KEYS[tonumber(m)], id, t, label, prune_base(t, clock), horizon, tile_ms, tk)
end
expire_touched(ttl)
return table.concat(out)
