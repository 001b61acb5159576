-- Token bucket as GCRA (see ratelimit_core.algorithms.token_bucket).
-- KEYS[i]: the theoretical arrival time of rate i, an integer count of ticks
--          (decimal), scale ticks per microsecond.
-- ARGV:    see common.lua; ARGV[4] holds 4 values per rate: scale, interval, capacity, tolerance.
-- returns: see common.lua.
-- The TAT in ticks can pass 2^53, so it is read and written as two limbs.

local PARAMS = 4
local a = idiv(NOW, BASE)
local b = NOW - a * BASE

-- Writes TAT = now + debt ticks (now being hi * BASE + lo) to key, expiring when it is reached.
local function set_tat(key, hi, lo, debt, scale)
  local nlo = lo + debt
  local c = idiv(nlo, BASE)
  local nhi = hi + c
  nlo = nlo - c * BASE
  local text = nhi > 0 and string.format('%d%09d', nhi, nlo) or string.format('%d', nlo)
  redis.call('SET', key, text, 'PX', ttl_ms(cdiv(debt, scale)))
end

local function step(i, cost)
  local at = (i - 1) * PARAMS
  local scale, interval = PARAM[at + 1], PARAM[at + 2]
  local capacity, tolerance = PARAM[at + 3], PARAM[at + 4]
  local key = KEYS[i]
  -- now in ticks: hi * BASE + lo
  local carry = idiv(b * scale, BASE)
  local hi, lo = a * scale + carry, b * scale - carry * BASE
  local held = 0 -- ticks owed now: TAT - now when the TAT is ahead
  local repair = nil
  local tat = redis.call('GET', key)
  if tat then
    local digits = #tat
    local thi, tlo = 0, tonumber(tat)
    if digits > 9 then
      thi, tlo = tonumber(string.sub(tat, 1, digits - 9)), tonumber(string.sub(tat, digits - 8))
    end
    if thi > hi or (thi == hi and tlo > lo) then
      held = (thi - hi) * BASE + (tlo - lo)
    end
    if held > tolerance then -- from the future: the clock went back
      held = tolerance
      repair = function()
        set_tat(key, hi, lo, tolerance, scale)
      end
    end
  end
  local debt = held + cost * interval
  if debt <= tolerance then
    local write = repair
    if cost > 0 then
      write = function()
        set_tat(key, hi, lo, debt, scale)
      end
    end
    return true, write, idiv(tolerance - debt, interval), cdiv(debt, scale), 0
  end
  local retry = nil
  if cost <= capacity then
    retry = cdiv(debt - tolerance, scale)
  end
  return false, repair, idiv(tolerance - held, interval), cdiv(held, scale), retry
end

return decide(step)
