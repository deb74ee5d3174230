-- One customer and its indexes, atomically: index entries the customer no longer has are removed, a re-import
-- keeps the contact history it does not carry, and the secret hash is kept unless a new one is given.
-- cti_store puts `local P = '<directory prefix>'` before this body (every key shares the directory's hash tag).
-- KEYS: customer hash. ARGV: id name segment language account phones(,-separated) open_cases recent_contacts
-- self_service (JSON, '' = keep) secret_hash ('' = keep)
local key, id = KEYS[1], ARGV[1]
local account, phones = ARGV[5], ARGV[6]
local old = redis.call('HMGET', key, 'phones', 'account')
local keep = {}
for p in string.gmatch(phones, '[^,]+') do keep[p] = true end
if old[1] then
  for p in string.gmatch(old[1], '[^,]+') do
    if not keep[p] then redis.call('SREM', P .. 'phone:' .. p, id) end
  end
end
if old[2] and old[2] ~= '' and old[2] ~= account and redis.call('GET', P .. 'account:' .. old[2]) == id then
  redis.call('DEL', P .. 'account:' .. old[2])
end
redis.call('HSET', key, 'id', id, 'name', ARGV[2], 'segment', ARGV[3], 'language', ARGV[4], 'account', account,
           'phones', phones, 'open_cases', ARGV[7])
for i, name in ipairs({'recent_contacts', 'self_service'}) do
  if ARGV[7 + i] ~= '' then redis.call('HSET', key, name, ARGV[7 + i]) else redis.call('HSETNX', key, name, '[]') end
end
if ARGV[10] ~= '' then redis.call('HSET', key, 'secret', ARGV[10]) end
for p in pairs(keep) do redis.call('SADD', P .. 'phone:' .. p, id) end
if account ~= '' then redis.call('SET', P .. 'account:' .. account, id) end
return 1
