-- Shared by every script: prepended to each algorithm's file when it is registered.
--
-- Every algorithm script takes the same arguments:
--   KEYS[i]   the state of rate i of the limiter (all in one hash tag: one slot);
--             the last key is the identity's block: the µs it ends, or none
--   ARGV[1]   "hit" (consume, all rates or none), "reserve" (a hit whose reply
--             ends with now, in µs), "peek" (consume nothing), "charge"
--             (consume on every rate, room or not) or "refund" (give back up
--             to cost on every rate); after a charge or a refund the reply is
--             what a peek of one unit says; or "block" (block the identity for
--             cost µs, or longer when it already is; replies the µs it lasts)
--   ARGV[2]   cost, an integer >= 0 (a cost beyond 2^53 reads as huge: it
--             never fits, and a charge of it saturates)
--   ARGV[3]   now in microseconds, or "" to read the server's clock (TIME)
--   ARGV[4]   the algorithm's parameters, comma-separated: PARAMS integers per
--             rate, in KEYS order
--   ARGV[5]   a refund's ending per rate, comma-separated: the µs at which the
--             refunded units stop weighing (the reserve's now plus the rate's
--             reset_after; the Store contract's "until"), or "" (the newest units)
-- and returns one string of integers separated by spaces, four per rate, in
-- KEYS order: allowed (1/0), remaining, reset_after_us, retry_after_us (-1: never).
--
-- A limiter with a concurrency cap adds a key after the rates', a sorted set of its slots
-- (member: the holder's token, score: the µs its lease lapses; a slot counts
-- while now < score), and three arguments:
--   ARGV[6]   the cap's limit    ARGV[7]   the lease in µs    ARGV[8]   the holder
-- and three modes: "acquire" (a hit that also takes a slot, all or nothing),
-- "release" (free the holder's slot; replies "") and "renew" (extend the
-- holder's lease; replies "1", or "0" when its slot is gone). A peek or an
-- acquire replies four more integers for the cap: allowed, free slots, 0, 0
-- (or -1 when denied: no wait is known to free a slot).
-- (One bulk string is cheaper for clients to read than an array.)
--
-- Lua numbers are doubles: integers are exact below 2^53. The helpers below
-- keep every quotient exact; larger numbers are split into base-1e9 limbs
-- (and, for the window states, into the big integers of bigint.lua, which
-- only the scripts that need them include).

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

local function now_us()
  if ARGV[3] ~= '' then
    return tonumber(ARGV[3])
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Milliseconds for PX: at least 1, rounded up, so state outlives its use. With a test's clock
-- (ARGV[3] given), keys live a day: Redis expires them on its own clock, which the test's does not
-- move (a state the test's clock still reads, after it stepped back, must still be there).
local function ttl_ms(us)
  if ARGV[3] ~= '' then
    return 86400000
  end
  if us < 1000 then
    return 1
  end
  return cdiv(us, 1000)
end

local MODE, COST, NOW = ARGV[1], tonumber(ARGV[2]), now_us()
local CAP, LEASE, HOLDER = tonumber(ARGV[6] or ''), tonumber(ARGV[7] or ''), ARGV[8]
local RATES = CAP and #KEYS - 2 or #KEYS - 1 -- then the cap's key, when there is one, then the block's
local SLOTS, BLOCK = KEYS[RATES + 1], KEYS[#KEYS]
local PARAM, ENDING = {}, {}
for value in string.gmatch(ARGV[4], '[^,]+') do
  PARAM[#PARAM + 1] = tonumber(value)
end
for value in string.gmatch(ARGV[5] or '', '[^,]+') do
  ENDING[#ENDING + 1] = tonumber(value)
end

-- Integers to text without an exponent (Lua's tostring gives 1e+15).
local function int(x)
  return string.format('%d', x)
end

-- The live slots of the cap (lapsed ones removed), as a count.
local function live_slots()
  redis.call('ZREMRANGEBYSCORE', SLOTS, '-inf', string.format('%d', NOW))
  return redis.call('ZCARD', SLOTS)
end

-- Give HOLDER a slot until now + LEASE; 1 when it held none before, else 0.
local function hold_until(key)
  local added = redis.call('ZADD', key, string.format('%d', NOW + LEASE), HOLDER)
  redis.call('PEXPIRE', key, ttl_ms(LEASE)) -- every slot lapses within a lease of now
  return added
end

-- The decision: the twin of ratelimit_core.executor, section by section (each
-- names the executor function it mirrors); the conformance suite pins the two
-- together. Each algorithm's script defines:
--   step(i, cost) -> allowed, write, remaining, reset_us, retry_us
--     where write is nil or a function that stores the new state of KEYS[i].
--     When a step denies, or has cost 0, its write is nil or the repair of a
--     state read from the future (a clock that went back).
--   account(i, cost, refund, ending) charges (or refunds) rate i, repairing as
--     a step does; a refund's ending is ENDING[i] (nil: the newest units).
--
-- decide is one function, longer than the rest, on purpose: a script's body
-- runs on every call, and each local function it defines is a closure made
-- anew each time (about 0.1 µs apiece in the server, measured with INFO
-- commandstats), so its sections are not functions of their own.
local function decide(step, account)
  local reply = {}
  -- concurrency.release and concurrency.renew: the holder's slot.
  if MODE == 'release' then
    redis.call('ZREM', SLOTS, HOLDER)
    return ''
  end
  if MODE == 'renew' then
    live_slots()
    if not redis.call('ZSCORE', SLOTS, HOLDER) then
      return '0'
    end
    hold_until(SLOTS)
    return '1'
  end

  -- executor.charge or executor.refund, then executor.peek of one unit.
  if MODE == 'charge' or MODE == 'refund' then
    for i = 1, RATES do
      account(i, COST, MODE == 'refund', ENDING[i])
      local allowed, _, _, _, retry = step(i, 1)
      local _, _, remaining, reset = step(i, 0)
      reply[i] = (allowed and '1 ' or '0 ') .. int(remaining) .. ' ' .. int(reset) .. ' ' .. (retry == nil and '-1' or int(retry))
    end
    return table.concat(reply, ' ')
  end
  -- executor.block_end: when the key's block ends (0: none), kept as "end start"; a clock gone
  -- back before the block was set does not lengthen it.
  local blocked, since = 0, nil
  local record = redis.call('GET', BLOCK)
  if record then
    local e, s = string.match(record, '^(-?%d+) (-?%d+)$')
    blocked, since = tonumber(e), tonumber(s)
    if NOW < since then
      blocked = NOW + blocked - since
    end
  end
  -- executor.blocking: the later end stands.
  if MODE == 'block' then
    local ends = math.max(blocked, NOW + COST)
    if ends <= NOW then
      return '0'
    end
    local start = (since == nil or ends == NOW + COST) and NOW or math.min(since, NOW)
    redis.call('SET', BLOCK, int(ends) .. ' ' .. int(start), 'PX', ttl_ms(ends - NOW))
    return int(ends - NOW)
  end
  -- executor.repaired: a decision writes back a block read from a clock that went back.
  if since and NOW < since and MODE ~= 'peek' then
    redis.call('SET', BLOCK, int(blocked) .. ' ' .. int(NOW), 'PX', ttl_ms(blocked - NOW))
  end
  -- The block's rest in µs: while it is above 0, every rate denies (executor.under_block).
  local wait = blocked - NOW
  -- executor.hit or executor.peek for one rate and no cap: the same answers, without the tables.
  if RATES == 1 and not CAP and MODE ~= 'reserve' and wait <= 0 then
    local allowed, write, remaining, reset, retry = step(1, COST)
    if allowed and COST > 0 then
      if MODE == 'hit' then
        if write then
          write()
        end
        return '1 ' .. int(remaining) .. ' ' .. int(reset) .. ' 0'
      end
      local _, _, r0, t0 = step(1, 0) -- a peek reports what the rate holds now
      return '1 ' .. int(r0) .. ' ' .. int(t0) .. ' 0'
    end
    if MODE == 'hit' and write then -- at cost 0 or on a denial, only a repair
      write()
    end
    return (allowed and '1 ' or '0 ') .. int(remaining) .. ' ' .. int(reset) .. ' ' .. (retry == nil and '-1' or int(retry))
  end
  -- executor.hit, executor.acquire (with a cap) and executor.peek.
  local held, room = 0, true
  if CAP then
    held = live_slots()
    room = held < CAP
  end
  local steps, all = {}, true
  for i = 1, RATES do
    local allowed, write, remaining, reset, retry = step(i, COST)
    steps[i] = { allowed, write, remaining, reset, retry }
    all = all and allowed
  end
  local consume = MODE ~= 'peek' -- a hit, a reserve or an acquire
  if consume and all and room and wait <= 0 then -- every rate admits, the cap has room: consume, take the slot
    for i = 1, RATES do
      local s = steps[i]
      if s[2] then
        s[2]()
      end
      reply[i] = '1 ' .. int(s[3]) .. ' ' .. int(s[4]) .. ' 0'
    end
    if CAP then
      reply[#reply + 1] = '1 ' .. int(CAP - held - hold_until(SLOTS)) .. ' 0 0'
    end
  else
    -- A peek, or a denial: nothing is consumed; rates that would admit report
    -- what they hold now (their step at cost 0). A denial still writes back the
    -- reading of a state from the future (a step's write when it denies, or at
    -- cost 0, is only that repair). Under a block (executor.under_block) every
    -- rate denies, with nothing left and at least the block's rest to wait.
    for i = 1, RATES do
      local s = steps[i]
      local allowed, remaining, reset, retry, repair = s[1], s[3], s[4], s[5], s[2]
      if allowed and COST > 0 then
        local _, r, r0, t0 = step(i, 0)
        remaining, reset, repair = r0, t0, r
      end
      if consume and repair then
        repair()
      end
      if wait > 0 then
        allowed, remaining, reset, retry = false, 0, math.max(reset, wait), retry and math.max(retry, wait)
      end
      reply[i] = (allowed and '1 ' or '0 ') .. int(remaining) .. ' ' .. int(reset) .. ' ' .. (retry == nil and '-1' or int(retry))
    end
    if CAP then
      reply[#reply + 1] = room and '1 ' .. int(CAP - held) .. ' 0 0' or '0 0 0 -1'
    end
  end
  if MODE == 'reserve' then
    reply[#reply + 1] = int(NOW)
  end
  return table.concat(reply, ' ')
end
