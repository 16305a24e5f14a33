-- Phase A of recording (or peeking) transactions, in their transaction bucket: claim each
-- transaction by its tx key and read its label (a label held for it moves to its label key).
-- KEYS: per transaction its tx key, its label key, then its bucket's held-labels hash. ARGV: mode,
-- ttl, per transaction the value of its tx key. Returns per transaction two strings: the tx key's
-- earlier value ('' when claimed now; in peek mode, when new; the caller compares it with its own
-- value: another one is a conflict) and the label's value ('' when none; a held label dated before
-- the transaction is dropped, not returned: 'd' says so in record mode).
local ttl, out, seen, peeked = ARGV[2], {}, {}, {}

-- the held label of a transaction at t ('' when none or dated before t); record mode moves it, or
-- drops it ('d') when dated before t
local function held_label(lk, hk, t)
  local held = redis.call('HGET', hk, lk)
  if not held then return '' end
  local usable = tonumber(string.match(held, '^[01]|(%-?%d+)$')) >= t
  if record then
    redis.call('HDEL', hk, lk)
    if not usable then return 'd' end
    redis.call('SET', lk, held, 'EX', ttl)
  end
  if usable then return held end
  return ''
end

for i = 1, #KEYS / 3 do
  local txk, lk, hk, value = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], ARGV[2 + i]
  local stored
  if record then
    if not redis.call('SET', txk, value, 'NX', 'EX', ttl) then stored = redis.call('GET', txk) end
  else
    stored = seen[txk] or redis.call('GET', txk)
    if not stored then seen[txk] = value end
  end
  out[2 * i - 1] = stored or ''
  local label = redis.call('GET', lk) or peeked[lk]
  if not label and not stored then
    label = held_label(lk, hk, tonumber(string.match(value, '^(%-?%d+)|')))
    if not record then peeked[lk] = label end
  end
  out[2 * i] = label or ''
end
return out
