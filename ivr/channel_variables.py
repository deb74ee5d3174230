"""The Asterisk channel variables Switchboard reads and writes, named once.

The Asterisk dialplan (`extensions.conf`) and the flows agree on these names; a typo in one place would silently
break the other, so code uses these constants instead of string literals.
"""
from __future__ import annotations

STATUS = "SWITCHBOARD_STATUS"            # DONE, FAILED or FALLBACK: what the dialplan does after the AGI
SKILLS = "SWITCHBOARD_SKILLS"            # a route node's skills: billing:3,general:1
CUSTOMER_ID = "SWITCHBOARD_CUSTOMER_ID"  # the recognised or verified customer
SEGMENT = "SWITCHBOARD_SEGMENT"          # the caller's segment
CONFIDENCE = "SWITCHBOARD_CONFIDENCE"    # none, ani or verified
AGENT = "SWITCHBOARD_AGENT"              # the agent a queued call was offered to
LANGUAGE = "CHANNEL(language)"           # the channel's language (Asterisk picks sounds/<language>/ prompts)
DIAL_STATUS = "DIALSTATUS"               # set by Dial: ANSWER, NOANSWER, BUSY, ...
ANSWERED_TIME = "ANSWEREDTIME"           # set by Dial: seconds the answered leg lasted
