"""Channel variable names Switchboard reads and writes, written once (the dialplan in asterisk-conf/ reads them)."""
from __future__ import annotations

STATUS = "SWITCHBOARD_STATUS"          # how the AGI script ended: DONE, FAILED, FALLBACK (the dialplan branches on it)
STATUS_DONE = "DONE"
STATUS_FAILED = "FAILED"
STATUS_FALLBACK = "FALLBACK"
FALLBACK_REASON = "SWITCHBOARD_REASON"  # why a FALLBACK status was chosen; the dialplan's fallback counts by it
CUSTOMER_ID = "SWITCHBOARD_CUSTOMER_ID"
SEGMENT = "SWITCHBOARD_SEGMENT"
CONFIDENCE = "SWITCHBOARD_CONFIDENCE"
SKILLS = "SWITCHBOARD_SKILLS"
AGENT = "SWITCHBOARD_AGENT"
CHANNEL_LANGUAGE = "CHANNEL(language)"
DIALSTATUS = "DIALSTATUS"
ANSWEREDTIME = "ANSWEREDTIME"
