-- Shared by the window scripts (fixed window, sliding window counter): placed
-- after common.lua and before the algorithm's file when they are registered.
--
-- Big integers, for states packed into one number (a Redis integer: the
-- cheapest value there is): arrays of base-1e7 limbs, least significant
-- first. Every factor and divisor stays below 9e8, so each limb step is exact.
local LB = 10000000

local function big_of(x) -- from an integer below 2^53
  local a = {}
  repeat
    local q = idiv(x, LB)
    a[#a + 1] = x - q * LB
    x = q
  until x == 0
  return a
end

local function big_muladd(a, m, c) -- a = a * m + c, in place; m, c below 9e8
  local carry = c
  for i = 1, #a do
    local t = a[i] * m + carry
    carry = idiv(t, LB)
    a[i] = t - carry * LB
  end
  while carry > 0 do
    local q = idiv(carry, LB)
    a[#a + 1] = carry - q * LB
    carry = q
  end
  return a
end

local function big_divmod(a, m) -- a = a // m in place; returns a % m; m below 9e8
  local r = 0
  for i = #a, 1, -1 do
    local t = r * LB + a[i]
    local q = idiv(t, m)
    a[i] = q
    r = t - q * m
  end
  while #a > 1 and a[#a] == 0 do
    a[#a] = nil
  end
  return r
end

local function big_number(a) -- the value, when below 2^53
  local x = 0
  for i = #a, 1, -1 do
    x = x * LB + a[i]
  end
  return x
end

local function big_parse(s)
  local a, n = {}, #s
  while n > 0 do
    local first = n > 7 and n - 6 or 1
    a[#a + 1] = tonumber(string.sub(s, first, n))
    n = first - 1
  end
  return a
end

local function big_text(a)
  local parts = { string.format('%d', a[#a]) }
  for i = #a - 1, 1, -1 do
    parts[#parts + 1] = string.format('%07d', a[i])
  end
  return table.concat(parts)
end

-- Write a window state (fixed window, sliding window counter): head, then one count (or two),
-- packed into one integer (base limit + 1) while the counts are within the limit, else written as
-- "head:count[:count]" text (a charge beyond the limit). It lives ttl µs.
local function set_state(key, limit, ttl, head, first, second)
  local text
  if first > limit or (second and second > limit) then
    text = int(head) .. ':' .. int(first) .. (second and ':' .. int(second) or '')
  else
    local packed = big_muladd(big_of(head), limit + 1, first)
    if second then
      big_muladd(packed, limit + 1, second)
    end
    text = big_text(packed)
  end
  redis.call('SET', key, text, 'PX', ttl_ms(ttl))
end
