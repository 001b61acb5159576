-- Fixed window (see ratelimit_core.algorithms.fixed_window).
-- KEYS[i]: "<window start µs>:<count>" of rate i, expiring when the window closes.
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.

local PARAMS = 2

local function step(i, cost)
  local at = (i - 1) * PARAMS
  local limit, period = PARAM[at + 1], PARAM[at + 2]
  local start, count = NOW, 0
  local state = redis.call('GET', KEYS[i])
  if state then
    local sep = string.find(state, ':', 1, true)
    local s = tonumber(string.sub(state, 1, sep - 1))
    if NOW < s + period then
      start, count = s, tonumber(string.sub(state, sep + 1))
    end
  end
  local reset = start + period - NOW
  local full_reset = count > 0 and reset or 0
  if count + cost <= limit then
    if cost == 0 then
      return true, nil, limit - count, full_reset, 0
    end
    local write = function()
      redis.call('SET', KEYS[i], string.format('%d:%d', start, count + cost), 'PX', ttl_ms(reset))
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
