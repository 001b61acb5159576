-- Sliding window log (see ratelimit_core.algorithms.sliding_window_log).
-- KEYS[i]: the log of rate i, one binary string: a 4-byte big-endian count of
--          dead entries, then one 8-byte big-endian timestamp (µs) per admitted
--          unit, oldest first. Appending is O(1); dead entries are compacted
--          away once they outnumber the live ones (and pass 64).
-- ARGV:    see common.lua; ARGV[4] holds 2 values per rate: limit, period (µs).
-- returns: see common.lua.

local PARAMS = 2
local COMPACT_AFTER = 64

local function stamp(log, j) -- the j-th timestamp (0-based, dead ones included)
  return struct.unpack('>l', log, 5 + j * 8)
end

local function step(i, cost)
  local at = (i - 1) * PARAMS
  local limit, period = PARAM[at + 1], PARAM[at + 2]
  local log = redis.call('GET', KEYS[i])
  local total, first = 0, 0
  local now = NOW
  if log then
    total = (#log - 4) / 8
    first = struct.unpack('>I4', log, 1)
    if total > first and now < stamp(log, total - 1) then
      now = stamp(log, total - 1) -- the clock went back: never log out of order
    end
  end
  -- bisect: the first entry with a timestamp > now - period
  local lo, hi, cut = first, total, now - period
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if stamp(log, mid) <= cut then
      lo = mid + 1
    else
      hi = mid
    end
  end
  local live = lo
  local held = total - live
  local reset = 0
  if held > 0 then
    reset = stamp(log, total - 1) + period - now
  end
  if held + cost <= limit then
    if cost == 0 then
      return true, nil, limit - held, reset, 0
    end
    local write = function()
      local entries = string.rep(struct.pack('>l', now), cost)
      if not log then
        redis.call('SET', KEYS[i], struct.pack('>I4', 0) .. entries, 'PX', ttl_ms(period))
      elseif live > COMPACT_AFTER and live * 2 > total then
        redis.call('SET', KEYS[i], struct.pack('>I4', 0) .. string.sub(log, 5 + live * 8) .. entries,
          'PX', ttl_ms(period))
      else
        redis.call('SETRANGE', KEYS[i], 0, struct.pack('>I4', live))
        redis.call('APPEND', KEYS[i], entries)
        redis.call('PEXPIRE', KEYS[i], ttl_ms(period))
      end
    end
    return true, write, limit - held - cost, period, 0
  end
  local retry = nil
  if cost <= limit then
    -- the oldest held + cost - limit units must leave the window first
    retry = stamp(log, live + held + cost - limit - 1) + period - now
  end
  return false, nil, limit - held, reset, retry
end

return decide(step)
