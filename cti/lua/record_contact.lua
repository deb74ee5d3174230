-- Records one contact of a caller and finds the earlier contact it repeats (first-contact resolution).
-- Every key shares the caller's hash tag: KEYS[1] is `<caller prefix>contacts`, a zset uniqueid → time; each
-- contact's labels are a hash `<caller prefix><uniqueid>`. Both expire after the window.
-- ARGV: caller_prefix uid now window_s same_intent(1|0) intent queue segment flow.
-- Returns {queue, segment, flow} of the earlier contact, newly marked repeated, or {}.
local zkey = KEYS[1]
local prefix = ARGV[1]
local uid, now, window = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local same_intent, intent = ARGV[5] == '1', ARGV[6]
local ttl = math.ceil(window)
redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now - window)
local earlier = redis.call('ZREVRANGEBYSCORE', zkey, '(' .. now, now - window)
local found = nil
for _, other in ipairs(earlier) do
  if other ~= uid then
    local h = redis.call('HMGET', prefix .. other, 'queue', 'segment', 'flow', 'intent', 'repeated')
    if h[1] and (not same_intent or h[4] == intent) then
      if h[5] ~= '1' then
        redis.call('HSET', prefix .. other, 'repeated', '1')
        found = {h[1], h[2], h[3]}
      end
      break
    end
  end
end
if redis.call('ZSCORE', zkey, uid) then return found or {} end
redis.call('ZADD', zkey, now, uid)
redis.call('EXPIRE', zkey, ttl)
redis.call('HSET', prefix .. uid, 'queue', ARGV[7], 'segment', ARGV[8], 'flow', ARGV[9], 'intent', intent,
           'repeated', '0')
redis.call('EXPIRE', prefix .. uid, ttl)
return found or {}
