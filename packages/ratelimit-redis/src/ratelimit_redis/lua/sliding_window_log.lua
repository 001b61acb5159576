-- Sliding window log (see ratelimit_core.algorithms.sliding_window_log).
-- KEYS[i]: the log of rate i, one binary string: a 4-byte big-endian count of
--          dead entries, an 8-byte big-endian debt (the units of an overdraft
--          beyond the entries kept, void once the oldest live entry it was kept
--          with has left the window), then one 8-byte big-endian timestamp (µs)
--          per admitted unit, oldest first. Appending is O(1); dead entries are
--          compacted away once they outnumber the live ones (and pass 64). The
--          log is never read whole: a decision reads the few timestamps its
--          binary search needs (GETRANGE), so its cost grows with log(limit).
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.
-- Timestamps after now (the clock went back) are read as now, and that reading
-- is written back even by a denial, so the log stays in order.

local PARAMS = 2
local COMPACT_AFTER = 64
local HEAD = 12 -- bytes before the first timestamp
local MAX_DEBT = 9007199254740991 -- 2^53 - 1

local function stamp(key, j) -- the j-th timestamp (0-based, dead ones included)
  return (struct.unpack('>l', redis.call('GETRANGE', key, HEAD + j * 8, HEAD + 7 + j * 8)))
end

-- the first index in [lo, hi) whose timestamp is > t (hi when none)
local function bisect(key, lo, hi, t)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if stamp(key, mid) <= t then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end

-- Rate i's log at now: limit, period, whether it exists, its entry count, the
-- first live entry, the first entry from the future, the newest time (nil when
-- none is live) and the debt (0 once void).
local function read(i)
  local limit, period = unpack(PARAM, (i - 1) * PARAMS + 1, i * PARAMS)
  local key = KEYS[i]
  local size = redis.call('STRLEN', key)
  local total, first, debt, newest = 0, 0, 0, nil
  local future = 0 -- entries from this index on are after now
  if size > 0 then
    total = (size - HEAD) / 8
    first, debt = struct.unpack('>I4l', redis.call('GETRANGE', key, 0, HEAD - 1))
    future = total
    if total > first then
      newest = stamp(key, total - 1)
      if newest > NOW then -- the clock went back: read those entries as now
        future = bisect(key, first, total, NOW)
        newest = NOW
      end
    end
  end
  local live = bisect(key, first, total, NOW - period)
  if live ~= first then
    debt = 0
  end
  return limit, period, size > 0, total, live, future, newest, debt
end

local function header(dead, debt)
  return struct.pack('>I4l', dead, debt)
end

-- Writes entries from the future as now.
local function repair_log(key, total, future, period)
  redis.call('SETRANGE', key, HEAD + future * 8, string.rep(struct.pack('>l', NOW), total - future))
  redis.call('PEXPIRE', key, ttl_ms(period))
end

-- Appends count entries at now, with entries before index kept dead (compacted away when they are many).
local function append(key, exists, total, kept, count, debt, period)
  local entries = string.rep(struct.pack('>l', NOW), count)
  if not exists then
    redis.call('SET', key, header(0, debt) .. entries, 'PX', ttl_ms(period))
  elseif kept > COMPACT_AFTER and kept * 2 > total then
    local body = kept < total and redis.call('GETRANGE', key, HEAD + kept * 8, -1) or ''
    redis.call('SET', key, header(0, debt) .. body .. entries, 'PX', ttl_ms(period))
  else
    redis.call('SETRANGE', key, 0, header(kept, debt))
    redis.call('APPEND', key, entries)
    redis.call('PEXPIRE', key, ttl_ms(period))
  end
end

local function step(i, cost)
  local limit, period, exists, total, live, future, newest, debt = read(i)
  local key = KEYS[i]
  local held = total - live
  local reset = 0
  if held > 0 then
    reset = newest + period - NOW
  end
  local repair = nil
  if future < total then
    repair = function()
      repair_log(key, total, future, period)
    end
  end
  local remaining = math.max(limit - held, 0)
  if cost == 0 then -- always admitted, even in an overdraft
    return true, repair, remaining, reset, 0
  end
  if held + cost <= limit then -- the log is not full: no debt counts
    local write = function()
      if repair then
        repair()
      end
      append(key, exists, total, live, cost, 0, period)
    end
    return true, write, limit - held - cost, period, 0
  end
  local retry = nil
  if cost <= limit then
    -- the oldest held + cost - limit units must leave the window first (the debt leaves before them)
    local oldest = stamp(key, live + held + cost - limit - 1)
    if oldest > NOW then
      oldest = NOW
    end
    retry = oldest + period - NOW
  end
  return false, repair, remaining, reset, retry
end

-- Charge: log cost units at now, keeping the newest limit entries; the rest is debt.
-- Refund: the debt first, then entries still in the window: the newest, or, given
-- ending (the units' hit time plus the period), those logged at that hit's time.
local function account(i, cost, refund, ending)
  local limit, period, exists, total, live, future, _, debt = read(i)
  local key = KEYS[i]
  if future < total then
    repair_log(key, total, future, period)
  end
  if not refund then
    local logged = cost < limit and cost or limit
    local dropped = total - live + logged - limit -- the oldest entries past the limit become debt
    if dropped < 0 then
      dropped = 0
    end
    debt = debt + dropped + (cost - logged)
    if debt > MAX_DEBT then
      debt = MAX_DEBT
    end
    append(key, exists, total, live + dropped, logged, debt, period)
    return
  end
  local taken = cost < debt and cost or debt
  cost = cost - taken
  local cut, n = total, 0 -- entries [cut, cut + n) go
  if ending then
    local at = ending - period
    cut = bisect(key, live, future, at - 1)
    n = bisect(key, cut, future, at) - cut
    if cost < n then
      n = cost
    end
  else
    n = total - live
    if cost < n then
      n = cost
    end
    cut = total - n
  end
  if taken == 0 and n == 0 then
    return
  end
  if n == 0 then
    redis.call('SETRANGE', key, 0, header(live, debt - taken))
    return
  end
  local before = cut > live and redis.call('GETRANGE', key, HEAD + live * 8, HEAD - 1 + cut * 8) or ''
  local after = cut + n < total and redis.call('GETRANGE', key, HEAD + (cut + n) * 8, -1) or ''
  redis.call('SET', key, header(0, debt - taken) .. before .. after, 'PX', ttl_ms(period))
end

return decide(step, account)
