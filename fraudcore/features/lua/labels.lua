-- Shared by the scripts that apply labels in a terminal bucket (record_terminals, apply_labels).
-- A label value is '<1 (fraud) or 0>|<labeled_at>'.

local function parse_label(label)
  local fraud, at = string.match(label, '^([01])|(%-?%d+)$')
  return tonumber(at), tonumber(fraud)
end

-- whether label a replaces label b
local function wins(a, b)
  local at_a, fraud_a = parse_label(a)
  local at_b, fraud_b = parse_label(b)
  return at_a > at_b or (at_a == at_b and fraud_a > fraud_b)
end

-- whether the terminal (tiles ``tk``, frauds ``fk``) has more recorded transactions in ``tile`` than
-- fraud counts there (over all labeled_at fields)
local function uncounted(tk, fk, tile)
  tiles(tk, 2)
  local count, p = 0, tile_upto(tk, tile)
  if p > 0 and tile_at(tk, p) == tile then count = tile_sums(tk, p) - tile_sums(tk, p - 1) end
  local frauds = 0
  for _, v in pairs(entity(fk, parse_fraud)) do
    if v[1] == tile then frauds = frauds + v[2] end
  end
  return frauds < count
end

-- Make a transaction's label record (index ``lidx``) and its terminal's fraud counts (``fk``) follow
-- ``label`` if it wins; returns 'n' (new), 'c' (corrected) or 'u' (unchanged). ``tk`` (the terminal's
-- tiles) is given for a label joined on its own terminal and time: unless it replaces a fraud record,
-- it is refused ('m') when the terminal's tile holds no recorded transaction not counted as fraud.
local function apply_label(fk, lidx, id, t, label, base, horizon, tile_ms, tk)
  advance(lidx, day_of(base - horizon))
  local day = day_of(t)
  local old = rec_get(lidx, day, id)
  if old and not wins(label, old) then return 'u' end
  local at, fraud = parse_label(label)
  if tk and not (old and select(2, parse_label(old)) == 1) and not uncounted(tk, fk, floordiv(t, tile_ms)) then
    return 'm'
  end
  if not old and fraud == 0 then return 'n' end
  local tile = floordiv(t, tile_ms)
  local frauds = entity(fk, parse_fraud)
  if old then
    local old_at, old_fraud = parse_label(old)
    local field = num(tile) .. ':' .. num(old_at)
    local held = frauds[field]
    if old_fraud == 1 and held and held[2] > 1 then
      ent_set(fk, field, {tile, held[2] - 1, old_at}, num(held[2] - 1))
    elseif old_fraud == 1 and held then
      ent_del(fk, field)
    end
  end
  if fraud == 1 then
    local field = num(tile) .. ':' .. num(at)
    local count = ((frauds[field] or {})[2] or 0) + 1
    ent_set(fk, field, {tile, count, at}, num(count))
    ent_prune(fk, floordiv(base - horizon, tile_ms))
  end
  rec_put(lidx, day, id, label)
  if old then return 'c' end
  return 'n'
end
