-- Fixed window (see ratelimit_core.algorithms.fixed_window).
-- KEYS[i]: the window of rate i as one integer, start_us * (limit + 1) + count,
--          expiring when the window closes. (While it fits 63 bits, Redis keeps
--          it as an integer: 104 bytes for the key and value.)
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.
-- A window that starts after now (the clock went back) is read as starting now,
-- and that reading is written back even by a denial.

local PARAMS = 2

local function set_window(key, limit, start, count, ttl)
  local packed = big_muladd(big_of(start), limit + 1, count)
  redis.call('SET', key, big_text(packed), 'PX', ttl_ms(ttl))
end

local function step(i, cost)
  local at = (i - 1) * PARAMS
  local limit, period = PARAM[at + 1], PARAM[at + 2]
  local key = KEYS[i]
  local start, count = NOW, 0
  local repair = nil
  local state = redis.call('GET', key)
  if state then
    local packed = big_parse(state)
    local c = big_divmod(packed, limit + 1)
    local s = big_number(packed)
    if s > NOW then -- from the future: the clock went back
      count = c
      repair = function()
        set_window(key, limit, NOW, c, period)
      end
    elseif NOW < s + period then
      start, count = s, c
    end
  end
  local reset = start + period - NOW
  local full_reset = count > 0 and reset or 0
  if count + cost <= limit then
    if cost == 0 then
      return true, repair, limit - count, full_reset, 0
    end
    local write = function()
      set_window(key, limit, start, count + cost, reset)
    end
    return true, write, limit - count - cost, reset, 0
  end
  local retry = nil
  if cost <= limit then
    retry = reset
  end
  return false, repair, limit - count, full_reset, retry
end

return decide(step)
