-- ARGV: desk holder lease_ms → the callback desk's lease: taken when free (or lapsed), renewed by its holder.
-- The desk id is an owner like an instance (`owner:<desk>` exists while the lease lives), so the reaper frees the
-- desk's calls when its holder dies. Returns 1 (this holder runs the desk) or 0 (another one does).
local key = P .. 'owner:' .. ARGV[1]
local holder = redis.call('GET', key)
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SET', key, ARGV[2], 'PX', tonumber(ARGV[3]))
redis.call('SADD', P .. 'owners', ARGV[1])
return 1
