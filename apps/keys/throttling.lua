-- Sliding-window rate limit, atomically in Redis.
-- KEYS[1]: sorted set of admitted request times (microseconds).
-- ARGV: now (us), period (us), limit, member to add ('' = look only, record nothing).
-- Returns 0 when admitted, else the microseconds until a slot frees.
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  if ARGV[4] ~= '' then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(period / 1000))
  end
  return 0
end
-- Full: a slot frees when the oldest entry that keeps it full leaves the window.
local entry = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
if entry[2] == nil then return period end
return math.max(1, tonumber(entry[2]) + period - now)
