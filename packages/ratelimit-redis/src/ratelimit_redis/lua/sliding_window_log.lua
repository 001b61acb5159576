-- Sliding window log (see ratelimit_core.algorithms.sliding_window_log).
-- KEYS[i]: the log of rate i, one binary string: a 4-byte big-endian count of
--          dead entries, then one 8-byte big-endian timestamp (µs) per admitted
--          unit, oldest first. Appending is O(1); dead entries are compacted
--          away once they outnumber the live ones (and pass 64). The log is
--          never read whole: a decision reads the few timestamps its binary
--          search needs (GETRANGE), so its cost grows with log(limit).
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.

local PARAMS = 2
local COMPACT_AFTER = 64

local function stamp(key, j) -- the j-th timestamp (0-based, dead ones included)
  return (struct.unpack('>l', redis.call('GETRANGE', key, 4 + j * 8, 11 + j * 8)))
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
  if exists then
    total = (size - 4) / 8
    first = struct.unpack('>I4', redis.call('GETRANGE', key, 0, 3))
    if total > 0 then
      newest = stamp(key, total - 1)
    end
    if total > first and now < newest then
      now = newest -- the clock went back: never log out of order
    end
  end
  -- bisect: the first entry with a timestamp > now - period
  local lo, hi, cut = first, total, now - period
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if stamp(key, mid) <= cut then
      lo = mid + 1
    else
      hi = mid
    end
  end
  local live = lo
  local held = total - live
  local reset = 0
  if held > 0 then
    reset = newest + period - now
  end
  if held + cost <= limit then
    if cost == 0 then
      return true, nil, limit - held, reset, 0
    end
    local write = function()
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
    retry = stamp(key, live + held + cost - limit - 1) + period - now
  end
  return false, nil, limit - held, reset, retry
end

return decide(step)
