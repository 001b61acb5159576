-- Sliding window counter (see ratelimit_core.algorithms.sliding_window_counter).
-- KEYS[i]: rate i's window index and counts as one integer,
--          (index * (limit + 1) + previous) * (limit + 1) + current; window k
--          spans [k * period, (k + 1) * period) µs. (While it fits 63 bits,
--          Redis keeps it as an integer: 104 bytes for the key and value.)
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
    local packed = big_parse(state)
    local scur = big_divmod(packed, limit + 1)
    local sprev = big_divmod(packed, limit + 1)
    local sindex = big_number(packed)
    if sindex >= index then -- this window (or the clock went back: stay in it)
      if sindex > index then
        elapsed = 0
      end
      index, prev, cur = sindex, sprev, scur
    elseif sindex == index - 1 then
      prev = scur
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
        local packed = big_muladd(big_muladd(big_of(index), limit + 1, prev), limit + 1, now_cur)
        redis.call('SET', KEYS[i], big_text(packed), 'PX', ttl_ms(left + period))
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
