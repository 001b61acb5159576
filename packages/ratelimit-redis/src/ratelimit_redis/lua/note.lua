-- A note (ratelimit_core.store.Noting): KEYS[1] the note of a limiter name and identity, kept as
-- "<expires µs> <text>" so that it follows the store's clock, as decisions do.
--   ARGV[1]  "write" or "read"
--   ARGV[2]  now in microseconds, or "" to read the server's clock (TIME)
--   ARGV[3]  the note's text (write)
--   ARGV[4]  its time to live in µs (write)
-- A write replies ""; a read replies the text, or nil when there is none (or it has expired).
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
if ARGV[1] == 'write' then
  local ttl = tonumber(ARGV[4])
  -- With a test's clock, the key lives a day on the server's (see ttl_ms in common.lua).
  local px = ARGV[2] ~= '' and 86400000 or math.max(1, math.ceil(ttl / 1000))
  redis.call('SET', KEYS[1], string.format('%d', now + ttl) .. ' ' .. ARGV[3], 'PX', px)
  return ''
end
local value = redis.call('GET', KEYS[1])
if not value then
  return false
end
local space = string.find(value, ' ', 1, true)
if tonumber(string.sub(value, 1, space - 1)) <= now then
  return false
end
return string.sub(value, space + 1)
