"""First-contact resolution by the repeat-contact method: every contact is recorded, and a repeat is detected.

A contact is keyed on who called: the CTI customer id when the caller was recognised or verified, else the
normalised caller ID (E.164); a withheld, unverified caller cannot be matched and is not counted. When the same
key contacts again within `window_days` (optionally only for the same intent), the earlier contact was not
resolved at first contact: it is marked repeated (once: three calls about one problem are one unresolved contact,
not two) and its own queue, segment and flow are returned, so the repeat is counted against the first contact.

Redis (one Lua script, atomic across instances; keys carry the caller key as a hash tag):
  switchboard:fcr:{<key>}:contacts  zset uniqueid → time;  switchboard:fcr:{<key>}:<uniqueid>  hash of labels
Both expire after the window. Keys hold a hashed caller key, never the raw number.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

RECORD = r"""
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
"""


@dataclass(frozen=True)
class FirstContact:
    """The labels of the contact a repeat counts against."""

    queue: str
    segment: str
    flow: str


class RepeatContacts:
    """Records contacts and tells which earlier contact a new one repeats."""

    def __init__(self, redis: Redis, window_days: float = 7.0, same_intent: bool = False) -> None:
        self._redis = redis
        self._window = window_days * 86400
        self._same_intent = same_intent
        self._script = redis.register_script(RECORD)

    @staticmethod
    def caller_key(customer_id: str | None, e164: str | None) -> str | None:
        """Who called, as a non-reversible key (no phone number or customer id ends up in Redis key names)."""
        raw = f"c:{customer_id}" if customer_id else (f"n:{e164}" if e164 else None)
        return hashlib.sha256(raw.encode()).hexdigest()[:32] if raw else None

    async def record(self, key: str, uniqueid: str, at: float, *, queue: str, segment: str, flow: str,
                     intent: str) -> FirstContact | None:
        """Adds this contact; returns the first contact it repeats (not yet counted as repeated), if any."""
        prefix = f"switchboard:fcr:{{{key}}}:"
        found = await self._script(keys=[prefix + "contacts"],
                                   args=[prefix, uniqueid, at, self._window, "1" if self._same_intent else "0",
                                         intent, queue, segment, flow])
        if not found:
            return None
        queue_, segment_, flow_ = (v.decode() if isinstance(v, bytes) else str(v) for v in found)
        return FirstContact(queue_, segment_, flow_)
