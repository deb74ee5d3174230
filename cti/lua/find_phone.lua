-- The customers with one phone number, in one round trip: the phone index, then each customer's hash.
-- cti_store puts `local P = '<directory prefix>'` before this body (every key shares the directory's hash tag).
-- KEYS[1]: the phone index set. Returns one flat HGETALL reply per customer id, ids in sorted order.
local ids = redis.call('SMEMBERS', KEYS[1])
table.sort(ids)
local rows = {}
for _, id in ipairs(ids) do
  local row = redis.call('HGETALL', P .. 'customer:' .. id)
  if #row > 0 then rows[#rows + 1] = row end
end
return rows
