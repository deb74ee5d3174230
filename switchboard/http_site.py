"""The one HTTP layer of the service: the twisted.web resource tree and its site, built from typed collaborators.

Every URL the service answers is put together here, and every endpoint that needs the bearer token gets the same
`BearerToken` check:

    /metrics                         Prometheus exposition of the registry            (switchboard/http_monitoring.py)
    /healthz, /readyz                liveness; readiness of the named dependency checks
    /dialplans/reload                POST: validate and swap the dialplans (token)     (switchboard/http_dialplans.py)
    /agents, /agents/<id>/<action>   agent listing; login/logout/pause/resume (token)  (switchboard/http_agents.py)
    /cti/agents/<id>/events          an agent's screen pops as SSE (token)             (switchboard/http_screen_pops.py)

The site enforces the limits of switchboard/http_limits.py (idle timeout, connection cap, body limit, SSE cap).

The collaborators are plain callables and Protocols, so cti, ivr, router and metrics need no web framework.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from prometheus_client import CollectorRegistry
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource

from switchboard.http_agents import AgentAction, AgentsResource, ListAgents
from switchboard.http_auth import BearerToken
from switchboard.http_dialplans import Reload, ReloadResource
from switchboard.http_limits import HttpLimits, LimitedSite, StreamSlots
from switchboard.http_monitoring import (HealthResource, MetricsRenderer, MetricsResource, ReadinessCheck,
                                         ReadinessResource)
from switchboard.http_screen_pops import AgentEventStreams, AgentEventsResource


@dataclass(frozen=True)
class AgentControls:
    """What the agent API needs from the router: the listing and one state change."""

    listing: ListAgents
    act: AgentAction


@dataclass(frozen=True)
class HttpCollaborators:
    """Everything the HTTP side serves; optional parts leave their URLs out (404) when absent."""

    registry: CollectorRegistry
    token: str
    agent_streams: AgentEventStreams
    readiness: Mapping[str, ReadinessCheck] = field(default_factory=dict)
    reload: Reload | None = None
    agents: AgentControls | None = None
    limits: HttpLimits = field(default_factory=HttpLimits)


def build_root(parts: HttpCollaborators) -> Resource:
    """The resource tree served by the service."""
    auth = BearerToken(parts.token)
    root = Resource()
    root.putChild(b"metrics", MetricsResource(MetricsRenderer(parts.registry)))
    root.putChild(b"healthz", HealthResource())
    root.putChild(b"readyz", ReadinessResource(parts.readiness))
    if parts.reload is not None:
        dialplans = Resource()
        dialplans.putChild(b"reload", ReloadResource(parts.reload, auth))
        root.putChild(b"dialplans", dialplans)
    if parts.agents is not None:
        root.putChild(b"agents", AgentsResource(parts.agents.listing, parts.agents.act, auth))
    cti = Resource()
    slots = StreamSlots(parts.limits.max_streams, parts.limits.max_streams_per_agent)
    cti.putChild(b"agents", AgentEventsResource(parts.agent_streams, auth, slots))
    root.putChild(b"cti", cti)
    return root


def build_site(parts: HttpCollaborators, reactor: IReactorTime | None = None) -> LimitedSite:
    """The site to listen with (`reactor.listenTCP(port, build_site(parts, reactor), interface=host)`), with the
    idle timeout, connection cap and body limit of `parts.limits` (switchboard/http_limits.py)."""
    return LimitedSite(build_root(parts), parts.limits, reactor)
