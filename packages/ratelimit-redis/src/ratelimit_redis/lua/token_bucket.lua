-- Token bucket as GCRA (see ratelimit_core.algorithms.token_bucket).
-- KEYS[i]: the theoretical arrival time of rate i, an integer count of ticks
--          (decimal), scale ticks per microsecond; a bucket in overdraft (charged
--          beyond its capacity) holds "TAT:WRITTEN", WRITTEN the µs of the write,
--          so that its debt is never taken for a clock that went back.
-- ARGV:    see common.lua; ARGV[4] holds 4 values per rate: scale, interval, capacity, tolerance.
-- returns: see common.lua.
-- The TAT in ticks can pass 2^53, so it is read and written as two limbs. A debt
-- (TAT - now) stays at most 2^52 ticks (a charge beyond saturates there), so a debt
-- plus a capacity of ticks (at most 2^52: the store refuses larger) is exact.

local PARAMS = 4
local MAX_DEBT = 4503599627370496 -- 2^52 (ratelimit_core.algorithms.token_bucket.MAX_DEBT)
local a = idiv(NOW, BASE)
local b = NOW - a * BASE

-- x microseconds in ticks, as limbs hi * BASE + lo.
local function ticks(x_hi, x_lo, scale)
  local carry = idiv(x_lo * scale, BASE)
  return x_hi * scale + carry, x_lo * scale - carry * BASE
end

-- Writes TAT = now + debt ticks (now being hi * BASE + lo) to key, expiring when it is reached.
local function set_tat(key, hi, lo, debt, scale, tolerance)
  local nlo = lo + debt
  local c = idiv(nlo, BASE)
  local nhi = hi + c
  nlo = nlo - c * BASE
  local text = nhi > 0 and string.format('%d%09d', nhi, nlo) or string.format('%d', nlo)
  if debt > tolerance then
    text = text .. ':' .. int(NOW)
  end
  redis.call('SET', key, text, 'PX', ttl_ms(cdiv(debt, scale)))
end

-- Rate i at now: its parameters, now in ticks (hi, lo), the ticks owed, and
-- whether that reading must be written back (the clock went back).
local function read(i)
  local scale, interval, capacity, tolerance = unpack(PARAM, (i - 1) * PARAMS + 1, i * PARAMS)
  local hi, lo = ticks(a, b, scale)
  local state = redis.call('GET', KEYS[i])
  if not state then
    return scale, interval, capacity, tolerance, hi, lo, 0, false, false
  end
  local colon = string.find(state, ':', 1, true)
  local tat = colon and string.sub(state, 1, colon - 1) or state
  local digits = #tat
  local thi, tlo = 0, tonumber(tat)
  if digits > 9 then
    thi, tlo = tonumber(string.sub(tat, 1, digits - 9)), tonumber(string.sub(tat, digits - 8))
  end
  local from_hi, from_lo = hi, lo -- owed from now, or in overdraft from the write if the clock went back
  local repair = false
  if colon then
    local written = tonumber(string.sub(state, colon + 1))
    if NOW < written then -- the clock went back: no time has passed since the write
      local w = idiv(written, BASE)
      from_hi, from_lo = ticks(w, written - w * BASE, scale)
      repair = true
    end
  end
  local held = 0
  if thi > from_hi or (thi == from_hi and tlo > from_lo) then
    held = (thi - from_hi) * BASE + (tlo - from_lo)
  end
  if not colon and held > tolerance then -- from the future: the clock went back
    held, repair = tolerance, true
  end
  return scale, interval, capacity, tolerance, hi, lo, held, repair, true
end

local function step(i, cost)
  local scale, interval, capacity, tolerance, hi, lo, held, repaired = read(i)
  local key = KEYS[i]
  local repair = nil
  if repaired then
    repair = function()
      set_tat(key, hi, lo, held, scale, tolerance)
    end
  end
  local debt = held + cost * interval
  if debt <= tolerance then
    local write = repair
    if cost > 0 then
      write = function()
        set_tat(key, hi, lo, debt, scale, tolerance)
      end
    end
    return true, write, idiv(tolerance - debt, interval), cdiv(debt, scale), 0
  end
  local remaining = 0
  if held <= tolerance then
    remaining = idiv(tolerance - held, interval)
  end
  if cost == 0 then -- always admitted, even in an overdraft
    return true, repair, 0, cdiv(held, scale), 0
  end
  local retry = nil
  if cost <= capacity then
    retry = cdiv(debt - tolerance, scale)
  end
  return false, repair, remaining, cdiv(held, scale), retry
end

-- Charge (or refund) cost units on rate i, room or not. A refund given ending (µs:
-- the TAT the units' hit left) gives back only what of them lies after now.
local function account(i, cost, refund, ending)
  local scale, interval, _, tolerance, hi, lo, held, _, exists = read(i)
  local debt
  if refund then
    if not exists then
      return
    end
    local give = cost * interval
    if ending then
      local weight = (ending - 1 - NOW) * scale + 1 -- that TAT (rounded down to a tick) less now, in ticks
      if weight < give then
        give = weight > 0 and weight or 0
      end
    end
    debt = held - give
    if debt < 0 then
      debt = 0
    end
  else
    debt = held + cost * interval
    if debt > MAX_DEBT then
      debt = MAX_DEBT
    end
  end
  set_tat(KEYS[i], hi, lo, debt, scale, tolerance)
end

return decide(step, account)
