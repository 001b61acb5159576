-- Sliding window log (see ratelimit_core.algorithms.sliding_window_log).
-- KEYS[i]: the log of rate i, one binary string: a 4-byte big-endian count of
--          dead entries, then one 8-byte big-endian timestamp (µs) per admitted
--          unit, oldest first. Appending is O(1); dead entries are compacted
--          away once they outnumber the live ones (and pass 64). The log is
--          never read whole: a decision reads the few timestamps its binary
--          search needs (GETRANGE), so its cost grows with log(limit).
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.
-- Timestamps after now (the clock went back) are read as now, and that reading
-- is written back even by a denial, so the log stays in order.

local PARAMS = 2
local COMPACT_AFTER = 64

local function stamp(key, j) -- the j-th timestamp (0-based, dead ones included)
  return (struct.unpack('>l', redis.call('GETRANGE', key, 4 + j * 8, 11 + j * 8)))
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

local function step(i, cost)
  local at = (i - 1) * PARAMS
  local limit, period = PARAM[at + 1], PARAM[at + 2]
  local key = KEYS[i]
  local size = redis.call('STRLEN', key)
  local exists = size > 0
  local total, first = 0, 0
  local now = NOW
  local newest = nil
  local future = 0 -- entries from this index on are after now
  if exists then
    total = (size - 4) / 8
    first = struct.unpack('>I4', redis.call('GETRANGE', key, 0, 3))
    future = total
    if total > first then
      newest = stamp(key, total - 1)
      if newest > now then -- the clock went back: read those entries as now
        future = bisect(key, first, total, now)
        newest = now
      end
    end
  end
  local live = bisect(key, first, total, now - period)
  local held = total - live
  local reset = 0
  if held > 0 then
    reset = newest + period - now
  end
  local repair = nil
  if future < total then
    repair = function()
      redis.call('SETRANGE', key, 4 + future * 8, string.rep(struct.pack('>l', now), total - future))
      redis.call('PEXPIRE', key, ttl_ms(period))
    end
  end
  if held + cost <= limit then
    if cost == 0 then
      return true, repair, limit - held, reset, 0
    end
    local write = function()
      if repair then
        repair()
      end
      local entries = string.rep(struct.pack('>l', now), cost)
      if not exists then
        redis.call('SET', key, struct.pack('>I4', 0) .. entries, 'PX', ttl_ms(period))
      elseif live > COMPACT_AFTER and live * 2 > total then
        local kept = live < total and redis.call('GETRANGE', key, 4 + live * 8, -1) or ''
        redis.call('SET', key, struct.pack('>I4', 0) .. kept .. entries, 'PX', ttl_ms(period))
      else
        redis.call('SETRANGE', key, 0, struct.pack('>I4', live))
        redis.call('APPEND', key, entries)
        redis.call('PEXPIRE', key, ttl_ms(period))
      end
    end
    return true, write, limit - held - cost, period, 0
  end
  local retry = nil
  if cost <= limit then
    -- the oldest held + cost - limit units must leave the window first
    local oldest = stamp(key, live + held + cost - limit - 1)
    if oldest > now then
      oldest = now
    end
    retry = oldest + period - now
  end
  return false, repair, limit - held, reset, retry
end

return decide(step)
