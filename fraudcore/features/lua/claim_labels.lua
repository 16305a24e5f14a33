-- Phase 1 of recording labels, in their transaction bucket: set each label once and read what the
-- fraud set of its terminal needs.
-- KEYS: per label its label key, then its tx key. ARGV: mode (always '1'), ttl, per label the value
-- of its label key. Returns per label two strings: '1' or '0' (new or not) followed by the label's
-- final value, and the tx key's value when that label says fraud ('' otherwise or when unrecorded).
local ttl, out = ARGV[2], {}
for i = 1, #KEYS / 2 do
  local lk, value = KEYS[2 * i - 1], ARGV[2 + i]
  local new = '1'
  if not redis.call('SET', lk, value, 'NX', 'EX', ttl) then
    new, value = '0', redis.call('GET', lk)
  end
  out[2 * i - 1] = new .. value
  out[2 * i] = (string.sub(value, 1, 2) == '1|' and redis.call('GET', KEYS[2 * i])) or ''
end
return out
