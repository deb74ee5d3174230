-- Appends one entry to a customer's JSON list field (recent contacts, self-service history), keeping the newest
-- `max` entries, atomically. The stored text is never decoded and re-encoded (cjson would turn `[]` into `{}`):
-- top-level elements are found by scanning the text (strings, escapes and nesting respected).
-- cti_store puts `local P = '<directory prefix>'` before this body. Nothing is written for an unknown customer.
-- KEYS[1]: the customer hash. ARGV: field, entry (JSON text), max. Returns the list's new length (0: no customer).
local key, field, entry, max = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', key) == 0 then return 0 end
local text = redis.call('HGET', key, field) or ''
local items = {}
local depth, in_string, escaped, start = 0, false, false, nil
for i = 1, #text do
  local c = string.sub(text, i, i)
  if in_string then
    if escaped then escaped = false
    elseif c == '\\' then escaped = true
    elseif c == '"' then in_string = false end
  elseif c == '"' then
    in_string = true
    if depth == 1 and not start then start = i end
  elseif c == '[' or c == '{' then
    depth = depth + 1
    if depth == 2 and not start then start = i end
  elseif c == ']' or c == '}' then
    if depth == 1 and start then items[#items + 1] = string.sub(text, start, i - 1); start = nil end
    depth = depth - 1
  elseif depth == 1 then
    if c == ',' then
      if start then items[#items + 1] = string.sub(text, start, i - 1); start = nil end
    elseif not start and not string.find(c, '%s') then start = i end
  end
end
items[#items + 1] = entry
local first = math.max(1, #items - max + 1)
local kept = {}
for i = first, #items do kept[#kept + 1] = string.gsub(items[i], '%s+$', '') end
redis.call('HSET', key, field, '[' .. table.concat(kept, ', ') .. ']')
return #kept
