-- Shared by every script: prepended to each algorithm's file when it is registered.
--
-- Every algorithm script takes the same arguments:
--   KEYS[i]   the state of rate i of the limiter (all in one hash tag: one slot)
--   ARGV[1]   "hit" (consume, all rates or none) or "peek" (consume nothing)
--   ARGV[2]   cost, an integer >= 0
--   ARGV[3]   now in microseconds, or "" to read the server's clock (TIME)
--   ARGV[4]   the algorithm's parameters, comma-separated: PARAMS integers per
--             rate, in KEYS order
-- and returns one string of integers separated by spaces, four per rate, in
-- KEYS order: allowed (1/0), remaining, reset_after_us, retry_after_us (-1: never).
-- (One bulk string is cheaper for clients to read than an array.)
--
-- Lua numbers are doubles: integers are exact below 2^53. The helpers below
-- keep every quotient exact; larger numbers are split into base-1e9 limbs.

local BASE = 1000000000

-- floor(x / y) for integers x, y (y > 0) below 2^53, without float error.
local function idiv(x, y)
  local q = math.floor(x / y)
  if q * y > x then
    q = q - 1
  elseif (q + 1) * y <= x then
    q = q + 1
  end
  return q
end

-- ceil(x / y), same conditions.
local function cdiv(x, y)
  return -idiv(-x, y)
end

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

local function now_us()
  if ARGV[3] ~= '' then
    return tonumber(ARGV[3])
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Milliseconds for PX: at least 1, rounded up, so state outlives its use.
local function ttl_ms(us)
  if us < 1000 then
    return 1
  end
  return cdiv(us, 1000)
end

local MODE, COST, NOW = ARGV[1], tonumber(ARGV[2]), now_us()
local PARAM = {}
for value in string.gmatch(ARGV[4], '[^,]+') do
  PARAM[#PARAM + 1] = tonumber(value)
end

-- Integers to text without an exponent (Lua's tostring gives 1e+15).
local function int(x)
  return string.format('%d', x)
end

-- Runs the algorithm's step (defined by the script) for every rate, then writes
-- all or nothing. step(i, cost) -> allowed, write, remaining, reset_us, retry_us
-- where write is nil or a function that stores the new state of KEYS[i]. When
-- a step denies, or has cost 0, its write is nil or the repair of a state read
-- from the future (a clock that went back).
local function decide(step)
  local n = #KEYS
  local steps, all = {}, true
  for i = 1, n do
    local allowed, write, remaining, reset, retry = step(i, COST)
    steps[i] = { allowed, write, remaining, reset, retry }
    if not allowed then
      all = false
    end
  end
  local reply = {}
  if MODE == 'hit' and all then
    for i = 1, n do
      local s = steps[i]
      if s[2] then
        s[2]()
      end
      reply[#reply + 1] = '1'
      reply[#reply + 1] = int(s[3])
      reply[#reply + 1] = int(s[4])
      reply[#reply + 1] = '0'
    end
    return table.concat(reply, ' ')
  end
  -- A peek, or a denial: nothing is consumed; rates that would admit report
  -- what they hold now (their step at cost 0). A denial still writes back the
  -- reading of a state from the future (a step's write when it denies, or at
  -- cost 0, is only that repair).
  for i = 1, n do
    local s = steps[i]
    local remaining, reset, repair = s[3], s[4], s[2]
    if s[1] and COST > 0 then
      local _, r, r0, t0 = step(i, 0)
      remaining, reset, repair = r0, t0, r
    end
    if MODE == 'hit' and repair then
      repair()
    end
    reply[#reply + 1] = s[1] and '1' or '0'
    reply[#reply + 1] = int(remaining)
    reply[#reply + 1] = int(reset)
    reply[#reply + 1] = s[5] == nil and '-1' or int(s[5])
  end
  return table.concat(reply, ' ')
end
