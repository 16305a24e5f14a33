-- Phase 1 of recording labels, in their transaction bucket: find what each label joins on. A
-- claimed transaction: its claim (its facts win over the label's). Else, past the claim horizon
-- (its day below the claim floor): the terminal and event time the label carries. Else, for a label
-- carrying them, the transaction is not recorded yet: the label is held in the bucket's held-labels
-- hash (field: the transaction id; value the label, then '|<its transaction time>'), if it wins
-- over one held, up to a bound. A label carrying no transaction time is held only while the bucket
-- has no claim floor (no stream yet); with one it is refused as unjoinable.
-- KEYS: per bucket its claim-day index, its held-labels hash, then its claims hash. ARGV: mode
-- (always '1'), ttl, bound of held labels per hash, then per label four values: the index in KEYS of
-- its claim-day index, its transaction id, its value ('<1 or 0>|<labeled_at>'), the event time it
-- carries ('' when it does not carry a terminal and an event time). It writes the held-labels hashes
-- only (declared keys).
-- Returns per label two strings: its outcome letter (j: join on the claim, o: join on its own
-- terminal and time, h held, u unchanged (held already), b refused: before its transaction, x
-- refused: not recorded and the held labels are at their bound, r refused: no claim and nothing to
-- join on), and the claimed value for 'j' ('' otherwise).
local ttl, bound, out = ARGV[2], tonumber(ARGV[3]), {}

local function hold(hk, id, value, own)
  local held = redis.call('HGET', hk, id)
  if held and not wins(value, string.match(held, '^[01]|%-?%d+')) then return 'u' end
  if not held and redis.call('HLEN', hk) >= bound then return 'x' end
  if own then value = value .. '|' .. num(own) end
  redis.call('HSET', hk, id, value)
  redis.call('EXPIRE', hk, ttl)
  return 'h'
end

-- read every label's claim (one HMGET per bucket); every key is in KEYS
local ids = {}
for i = 1, (#ARGV - 3) / 4 do
  local k = tonumber(ARGV[4 * i])
  ids[k] = ids[k] or {}
  table.insert(ids[k], ARGV[4 * i + 1])
end
for k, list in pairs(ids) do claims_fetch(KEYS[k + 2], list) end
for i = 1, (#ARGV - 3) / 4 do
  local k, id, value, own = tonumber(ARGV[4 * i]), ARGV[4 * i + 1], ARGV[4 * i + 2], tonumber(ARGV[4 * i + 3])
  local idx, hk = KEYS[k], KEYS[k + 1]
  local at = parse_label(value)
  local stored = claim_get(idx, KEYS[k + 2], id)
  local outcome, claimed = '', ''
  if stored then
    claimed = string.sub(stored, string.find(stored, ';', 1, true) + 1)
    if at < tonumber(string.match(claimed, '^(%-?%d+)|')) then outcome = 'b' else outcome = 'j' end
  elseif own then
    if not below_floor(idx, day_of(own)) then
      outcome = hold(hk, id, value, own)
    elseif at < own then
      outcome = 'b'
    else
      outcome = 'o'
    end
  elseif has_floor(idx) then
    outcome = 'r'
  else
    outcome = hold(hk, id, value)
  end
  out[2 * i - 1] = outcome
  out[2 * i] = claimed
end
return out
