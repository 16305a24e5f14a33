-- Phase 1 of recording labels, in their transaction bucket: keep the winning label of each
-- transaction (the latest labeled_at; fraud over genuine at equal labeled_at) and read what the
-- fraud set of its terminal needs. A label of an unrecorded transaction is held in the bucket's
-- held-labels hash (field: its label key), up to a bound.
-- KEYS: per label its label key, its tx key, then its bucket's held-labels hash. ARGV: mode (always
-- '1'), ttl, bound of held labels per hash, per label the value of its label key
-- ('<1 or 0>|<labeled_at>'). Returns per label two strings: its outcome letter followed by the
-- transaction's final label (n new, c corrected, u unchanged, h held, b refused: before its
-- transaction, x refused: unknown transaction and the hash is full), and the tx key's value ('' when
-- unrecorded).
local ttl, bound, out = ARGV[2], tonumber(ARGV[3]), {}

local function parse(label)
  local fraud, at = string.match(label, '^([01])|(%-?%d+)$')
  return tonumber(at), tonumber(fraud)
end

-- whether label a replaces label b
local function wins(a, b)
  local at_a, fraud_a = parse(a)
  local at_b, fraud_b = parse(b)
  return at_a > at_b or (at_a == at_b and fraud_a > fraud_b)
end

for i = 1, #KEYS / 3 do
  local lk, txk, hk, value = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], ARGV[3 + i]
  local tx = redis.call('GET', txk)
  local outcome, final = '', value
  if not tx then
    local held = redis.call('HGET', hk, lk)
    if held and not wins(value, held) then
      outcome, final = 'u', held
    elseif not held and redis.call('HLEN', hk) >= bound then
      outcome = 'x'
    else
      redis.call('HSET', hk, lk, value)
      redis.call('EXPIRE', hk, ttl)
      outcome = 'h'
    end
    tx = ''
  elseif parse(value) < tonumber(string.match(tx, '^(%-?%d+)|')) then
    outcome = 'b'
  else
    local old = redis.call('GET', lk)
    if old and not wins(value, old) then
      outcome, final = 'u', old
    else
      redis.call('SET', lk, value, 'EX', ttl)
      outcome = (old and 'c') or 'n'
    end
  end
  out[2 * i - 1] = outcome .. final
  out[2 * i] = tx
end
return out
