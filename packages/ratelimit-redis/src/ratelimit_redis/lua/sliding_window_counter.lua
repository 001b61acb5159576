-- Sliding window counter (see ratelimit_core.algorithms.sliding_window_counter).
-- KEYS[i]: rate i's window index and counts as one integer,
--          (index * (limit + 1) + previous) * (limit + 1) + current; window k
--          spans [k * period, (k + 1) * period) µs. (While it fits 63 bits,
--          Redis keeps it as an integer: 104 bytes for the key and value.) Counts
--          charged past the limit are held as "index:previous:current" instead;
--          a count saturates at 800,000,000 (the big integers' factors stay below 9e8).
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.
-- The estimate is kept in units x µs, which passes 2^53 for long periods (a day,
-- 30 days): its products are big integers, so no quota is rounded. A window
-- after now's (the clock went back) is read as now's, with its counts, and that
-- reading is written back even by a denial.

local PARAMS = 2
local MAX_COUNT = 800000000

-- count * x as a big integer: count below 9e8, x below 2^53.
local function times(count, x)
  return big_muladd(big_of(x), count, 0)
end

-- -1, 0 or 1 as a < b, a == b, a > b (big integers, possibly with leading zero limbs).
local function big_cmp(a, b)
  local na, nb = #a, #b
  while na > 1 and a[na] == 0 do
    na = na - 1
  end
  while nb > 1 and b[nb] == 0 do
    nb = nb - 1
  end
  if na ~= nb then
    return na < nb and -1 or 1
  end
  for i = na, 1, -1 do
    if a[i] ~= b[i] then
      return a[i] < b[i] and -1 or 1
    end
  end
  return 0
end

-- ceil(prev * left / period) for left <= period: a double estimate, made exact.
local function weighted(prev, left, period)
  if prev == 0 then
    return 0
  end
  local product = times(prev, left)
  local q = math.floor(prev * (left / period))
  while q > 0 and big_cmp(times(q, period), product) > 0 do
    q = q - 1
  end
  while big_cmp(times(q + 1, period), product) <= 0 do
    q = q + 1
  end
  if big_cmp(times(q, period), product) < 0 then
    q = q + 1
  end
  return q
end

-- floor(k * period / d) for counts k, d (d > 0).
local function share(k, period, d)
  local a = times(k, period)
  big_divmod(a, d)
  return big_number(a)
end

-- Rate i at now: limit, period, the window index, µs left in it, the previous
-- and current counts, and the repair to write back (or nil).
local function read(i)
  local limit, period = unpack(PARAM, (i - 1) * PARAMS + 1, i * PARAMS)
  local key = KEYS[i]
  local index = idiv(NOW, period)
  local left = period - (NOW - index * period) -- µs until this window ends
  local prev, cur = 0, 0
  local repair = nil
  local state = redis.call('GET', key)
  if state then
    local sindex, sprev, scur
    if string.find(state, ':', 1, true) then
      local parts = {}
      for part in string.gmatch(state, '[^:]+') do
        parts[#parts + 1] = tonumber(part)
      end
      sindex, sprev, scur = parts[1], parts[2], parts[3]
    else
      local packed = big_parse(state)
      scur = big_divmod(packed, limit + 1)
      sprev = big_divmod(packed, limit + 1)
      sindex = big_number(packed)
    end
    if sindex == index then
      prev, cur = sprev, scur
    elseif sindex == index - 1 then
      prev = scur
    elseif sindex > index then -- from the future: the clock went back
      prev, cur = sprev, scur
      repair = function()
        set_state(key, limit, left + period, index, sprev, scur)
      end
    end
  end
  return limit, period, index, left, prev, cur, repair
end

-- Charge (or refund) cost units on rate i's current window, room or not. A refund
-- given ending (µs: the end of the units' window plus a period) gives back
-- nothing of another window.
local function account(i, cost, refund, ending)
  local limit, period, index, left, prev, cur, repair = read(i)
  if refund then
    if cur == 0 or (ending and idiv(ending, period) - 2 ~= index) then
      if repair then
        repair()
      end
      return
    end
    cur = cur - cost
    if cur < 0 then
      cur = 0
    end
  else
    cur = cur + cost
    if cur > MAX_COUNT then
      cur = MAX_COUNT
    end
  end
  set_state(KEYS[i], limit, left + period, index, prev, cur)
end

local function step(i, cost)
  local limit, period, index, left, prev, cur, repair = read(i)
  local key = KEYS[i]
  -- the estimate weighs prev by the part of its window still inside: prev * left / period
  local weight = weighted(prev, left, period)
  local function reset_of(c)
    if c > 0 then
      return left + period
    elseif prev > 0 then
      return left
    end
    return 0
  end
  -- admitted when prev * left + (cur + cost) * period <= limit * period
  local free = limit - cur - cost
  -- (a cost of 0 is always admitted, even in an overdraft)
  if cost == 0 or (free >= 0 and big_cmp(times(prev, left), times(free, period)) <= 0) then
    local write = repair
    if cost > 0 then
      write = function()
        set_state(key, limit, left + period, index, prev, cur + cost)
      end
    end
    local remaining = math.max(free - weight, 0)
    return true, write, remaining, reset_of(cur + cost), 0
  end
  local remaining = math.max(limit - cur - weight, 0)
  local retry = nil
  if cost <= limit then
    if free >= 0 then -- fits in this window once enough of the previous one has slid out
      retry = left - share(free, period, prev)
    else -- next window: this window's count becomes the weighted one
      retry = left + period - share(limit - cost, period, cur)
    end
  end
  return false, repair, remaining, reset_of(cur), retry
end

return decide(step, account)
