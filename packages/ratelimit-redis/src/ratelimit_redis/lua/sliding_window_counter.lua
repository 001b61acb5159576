-- Sliding window counter (see ratelimit_core.algorithms.sliding_window_counter).
-- KEYS[i]: "<window index>:<previous count>:<current count>" of rate i; window
--          k spans [k * period, (k + 1) * period) µs.
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.
-- limit * period must stay below 2^53 (checked by the store).

local PARAMS = 2

local function step(i, cost)
  local at = (i - 1) * PARAMS
  local limit, period = PARAM[at + 1], PARAM[at + 2]
  local index = idiv(NOW, period)
  local elapsed = NOW - index * period
  local prev, cur = 0, 0
  local state = redis.call('GET', KEYS[i])
  if state then
    local s1 = string.find(state, ':', 1, true)
    local s2 = string.find(state, ':', s1 + 1, true)
    local sindex = tonumber(string.sub(state, 1, s1 - 1))
    if sindex >= index then -- this window (or the clock went back: stay in it)
      if sindex > index then
        elapsed = 0
      end
      index = sindex
      prev, cur = tonumber(string.sub(state, s1 + 1, s2 - 1)), tonumber(string.sub(state, s2 + 1))
    elseif sindex == index - 1 then
      prev = tonumber(string.sub(state, s2 + 1))
    end
  end
  local left = period - elapsed
  local room = limit * period - (prev * left + cur * period)
  if cost * period <= room then
    local now_cur = cur + cost
    local reset = 0
    if now_cur > 0 then
      reset = left + period
    elseif prev > 0 then
      reset = left
    end
    local write = nil
    if cost > 0 then
      write = function()
        redis.call('SET', KEYS[i], string.format('%d:%d:%d', index, prev, now_cur), 'PX', ttl_ms(left + period))
      end
    end
    return true, write, idiv(room - cost * period, period), reset, 0
  end
  local remaining = idiv(room, period)
  if remaining < 0 then
    remaining = 0
  end
  local reset = 0
  if cur > 0 then
    reset = left + period
  elseif prev > 0 then
    reset = left
  end
  local retry = nil
  if cost <= limit then
    if cur + cost <= limit then
      retry = left - idiv((limit - cur - cost) * period, prev)
    else
      retry = left + period - idiv((limit - cost) * period, cur)
    end
  end
  return false, nil, remaining, reset, retry
end

return decide(step)
