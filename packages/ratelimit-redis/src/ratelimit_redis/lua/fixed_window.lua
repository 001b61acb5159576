-- Fixed window (see ratelimit_core.algorithms.fixed_window).
-- KEYS[i]: the window of rate i as one integer, start_us * (limit + 1) + count,
--          expiring when the window closes. (While it fits 63 bits, Redis keeps
--          it as an integer: 104 bytes for the key and value.)
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.

local PARAMS = 2

local function step(i, cost)
  local at = (i - 1) * PARAMS
  local limit, period = PARAM[at + 1], PARAM[at + 2]
  local start, count = NOW, 0
  local state = redis.call('GET', KEYS[i])
  if state then
    local packed = big_parse(state)
    local c = big_divmod(packed, limit + 1)
    local s = big_number(packed)
    if NOW < s + period then
      start, count = s, c
    end
  end
  local reset = start + period - NOW
  local full_reset = count > 0 and reset or 0
  if count + cost <= limit then
    if cost == 0 then
      return true, nil, limit - count, full_reset, 0
    end
    local write = function()
      local packed = big_muladd(big_of(start), limit + 1, count + cost)
      redis.call('SET', KEYS[i], big_text(packed), 'PX', ttl_ms(reset))
    end
    return true, write, limit - count - cost, reset, 0
  end
  local retry = nil
  if cost <= limit then
    retry = reset
  end
  return false, nil, limit - count, full_reset, retry
end

return decide(step)
