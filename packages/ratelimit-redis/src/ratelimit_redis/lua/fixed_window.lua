-- Fixed window (see ratelimit_core.algorithms.fixed_window).
-- KEYS[i]: the window of rate i as one integer, start_us * (limit + 1) + count,
--          expiring when the window closes. (While it fits 63 bits, Redis keeps
--          it as an integer: 104 bytes for the key and value.) A window charged
--          past its limit holds "start:count" instead (counts stay below 2^53).
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.
-- A window that starts after now (the clock went back) is read as starting now,
-- and that reading is written back even by a denial.

local PARAMS = 2
local MAX_COUNT = 9007199254740991 -- 2^53 - 1

-- Rate i's window at now: limit, period, start, count, and the repair to write back (or nil).
local function read(i)
  local limit, period = unpack(PARAM, (i - 1) * PARAMS + 1, i * PARAMS)
  local key = KEYS[i]
  local state = redis.call('GET', key)
  if not state then
    return limit, period, NOW, 0, nil
  end
  local s, c
  local colon = string.find(state, ':', 1, true)
  if colon then
    s, c = tonumber(string.sub(state, 1, colon - 1)), tonumber(string.sub(state, colon + 1))
  else
    local packed = big_parse(state)
    c = big_divmod(packed, limit + 1)
    s = big_number(packed)
  end
  if s > NOW then -- from the future: the clock went back
    return limit, period, NOW, c, function()
      set_state(key, limit, period, NOW, c)
    end
  elseif NOW < s + period then
    return limit, period, s, c, nil
  end
  return limit, period, NOW, 0, nil
end

local function step(i, cost)
  local limit, period, start, count, repair = read(i)
  local key = KEYS[i]
  local reset = start + period - NOW
  local full_reset = count > 0 and reset or 0
  local remaining = math.max(limit - count, 0)
  if cost == 0 then -- always admitted, even in an overdraft
    return true, repair, remaining, full_reset, 0
  end
  if count + cost <= limit then
    local write = function()
      set_state(key, limit, reset, start, count + cost)
    end
    return true, write, limit - count - cost, reset, 0
  end
  local retry = nil
  if cost <= limit then
    retry = reset
  end
  return false, repair, remaining, full_reset, retry
end

-- Charge (or refund) cost units on rate i's window, room or not. A refund given
-- ending (µs: when the units' window closes) gives back nothing of another window.
local function account(i, cost, refund, ending)
  local limit, period, start, count, repair = read(i)
  if refund then
    if count == 0 or (ending and ending ~= start + period) then
      if repair then
        repair()
      end
      return
    end
    count = count - cost
    if count < 0 then
      count = 0
    end
  else
    count = count + cost
    if count > MAX_COUNT then
      count = MAX_COUNT
    end
  end
  set_state(KEYS[i], limit, start + period - NOW, start, count)
end

return decide(step, account)
