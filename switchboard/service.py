"""Wiring of one Switchboard process: every part built from settings and started on the one shared event loop.

This is the single place that knows all the parts: the FastAGI server and its flows (ivr), the AMI client and the
call-context store (cti), the metrics registry and the HTTP side (metrics). AMI events are dispatched here, in
order, to whoever owns them. Nothing imports this module except the CLI.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import resource
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, cast

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.internet.protocol import ServerFactory

from switchboard.cti.ami_client import AMIClient, AMIEvent
from switchboard.cti.ami_client import AMISettings as AMIClientSettings
from switchboard.cti.cti_store import CtiStore
from switchboard.cti.caller_id import CallerIdNormaliser
from switchboard.cti.crm_lookup import CRMLookup
from switchboard.cti.recognition import CallerRecognizer
from switchboard.cti.recent_calls import RecentCalls
from switchboard.cti.screen_pop import BATCH_WINDOW, AgentStreams, ScreenPops
from switchboard.ivr.agi_server import AGIServer
from switchboard.ivr.call_script import SELF_SERVICE, CallPorts, InboundCalls
from switchboard.ivr.nodes.route import RouteNode
from switchboard.ivr.dialplan_registry import DialplanRegistry, ReloadResult
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.flow_engine import EngineOptions, FlowEngine
from switchboard.cti.repeat_contacts import RepeatContacts
from switchboard.metrics.cti_metrics import CTIMetrics
from switchboard.metrics.fcr_metrics import FCRMetrics
from switchboard.metrics.live_state import LiveState, LiveStateCollector
from switchboard.metrics.queue_metrics import QueueMetrics
from switchboard.metrics.fallback_metrics import FallbackMetrics
from switchboard.metrics.ivr_metrics import IVRMetrics
from switchboard.metrics.service_metrics import ServiceMetrics
from redis.asyncio import BlockingConnectionPool, Redis
from redis.driver_info import DriverInfo

from switchboard.router.call_router import CallRouter, RouteEvents
from switchboard.router.endpoint_map import EndpointMap
from switchboard.router.callback_desk import CallbackDesk, DeskSettings
from switchboard.router.callback_store import CallbackStore
from switchboard.cti.originate import CallbackOriginator
from switchboard.metrics.callback_metrics import CallbackMetrics
from switchboard.callback_wiring import CallbackPops, OriginatingDialer
from switchboard.router.liveness import LivenessSettings
from switchboard.router.route_store import RouteStore
from switchboard.router.routing_config import RoutingConfig, load_routing
from switchboard.call_wiring import CallerStart, ContextJournal, RecordedDesk
from switchboard.http_limits import HttpLimits, connection_cap
from switchboard.http_site import AgentControls, HttpCollaborators, build_site
from switchboard.agent_desk import RouterDesk
from switchboard.http_pages import PageCollaborators
from switchboard.wallboard import TodayCounts, Wallboard, service_level_threshold
from switchboard.settings import RedisSettings, Settings


def shared_redis(s: RedisSettings) -> Redis:
    """The process's one Redis client: a blocking pool (a burst waits up to `pool_timeout` for a connection
    instead of failing at once) and socket timeouts (no task per operation). Both stores use it. The name and
    version each connection gives Redis (CLIENT SETINFO) are read once here: left to redis-py, every new connection
    reads the package's metadata from disk again (0.6 ms, on the loop, as a burst grows the pool)."""
    pool = BlockingConnectionPool.from_url(s.url, max_connections=s.max_connections, timeout=s.pool_timeout,
                                           socket_timeout=s.timeout, socket_connect_timeout=s.timeout,
                                           health_check_interval=30, driver_info=DriverInfo())
    return Redis(connection_pool=pool)


def route_queues(plan: Dialplan) -> set[str]:
    """The queues a dialplan's route nodes count their callers in: what the live gauges list from each load on."""
    return {n.spec.queue_name for f in plan.flows.values() for n in f.nodes.values() if isinstance(n.spec, RouteNode)}


async def _no_resync(ami: AMIClient) -> None:
    """The originate-only AMI user reads no state: nothing to resync after a reconnect."""


def _no_state(connected: bool) -> None:
    """The originate link's ups and downs are logged by the client itself."""


@dataclass
class Service:
    """The running parts of one process; `start()` and `stop()` are called by the CLI on the reactor's loop."""

    settings: Settings
    loop: asyncio.AbstractEventLoop
    reactor: IReactorTCP
    log: logging.Logger
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    agi: AGIServer | None = None
    ami: AMIClient | None = None
    store: CtiStore | None = None
    http_port: IListeningPort | None = None
    _event_task: asyncio.Task[None] | None = None
    dialplans: DialplanRegistry | None = None
    customers: CtiStore | None = None
    recognizer: CallerRecognizer | None = None
    cti_metrics: CTIMetrics | None = None
    screen_pops: ScreenPops | None = None
    agent_streams: AgentStreams = field(default_factory=AgentStreams)
    recent_calls: RecentCalls = field(default_factory=RecentCalls)  # this process's calls: pops read no Redis
    router: CallRouter | None = None
    redis: Redis | None = None
    callbacks: CallbackDesk | None = None
    originator: CallbackOriginator | None = None
    originate_ami: AMIClient | None = None

    async def start(self) -> None:
        s = self.settings
        metrics = ServiceMetrics(self.registry)
        self._fallbacks = FallbackMetrics(self.registry)
        self.redis = shared_redis(s.redis)
        self.store = CtiStore(self.redis, s.cti_pepper.encode(), recent=self.recent_calls)
        if s.ami.enabled:
            self.ami = AMIClient(
                AMIClientSettings(host=s.ami.host, port=s.ami.port, username=s.ami.username,
                                  secret=s.ami_secret, ping_interval=s.ami.ping_interval,
                                  ping_timeout=s.ami.ping_timeout, action_timeout=s.ami.action_timeout,
                                  reconnect_initial=s.ami.reconnect_initial, reconnect_max=s.ami.reconnect_max,
                                  event_queue_size=s.ami.event_queue_size, events_mask=s.ami.events,
                                  read_pause=s.ami.read_pause),
                loop=self.loop, resync=self._resync, logger=self.log.getChild("ami"),
                on_state=self._ami_state_observer(metrics))
            await self.ami.start()
            self._event_task = self.loop.create_task(self._dispatch_events())
        self._start_cti()
        inbound = self._inbound_calls()
        if self.router is not None:
            await self.router.start()
            if self.ami is not None and self.ami.connected:
                await self._resync(self.ami)  # the first resync ran before the router existed
        if self.originate_ami is not None:
            await self.originate_ami.start()
        if self.callbacks is not None:
            await self.callbacks.start()
        self.agi = AGIServer(self.loop, {"inbound": inbound}, allowed_peers=s.agi.allowed_peers,
                             header_timeout=s.agi.header_timeout, command_timeout=s.agi.command_timeout,
                             events=metrics, logger=self.log.getChild("agi"))
        await self.agi.start(s.agi.host, s.agi.port)
        checks = {"redis": self.store.ping}
        if self.ami is not None:
            ami = self.ami
            async def ami_ready() -> bool:
                return ami.connected
            checks["ami"] = ami_ready
        agents = None if self.router is None else AgentControls(self.router.store.agents, self.router.agent_action)
        open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        limits = HttpLimits(idle_timeout=s.http.idle_timeout, max_body_bytes=s.http.max_body_bytes,
                            max_connections=connection_cap(s.http.max_connections, open_files,
                                                           s.http.descriptor_reserve),
                            max_streams=s.http.max_streams, max_streams_per_agent=s.http.max_streams_per_agent)
        site = build_site(HttpCollaborators(
            registry=self.registry, token=s.http_token, agent_streams=self.agent_streams, readiness=checks,
            reload=None if self.dialplans is None else self.dialplans.reload, agents=agents, limits=limits,
            pages=self._pages(), agent_known=None if self.router is None else RouterDesk(self.router).known,
            log=self.log.getChild("http")),
            cast(IReactorTime, self.reactor))
        self.http_port = self.reactor.listenTCP(s.http.port, cast("ServerFactory[Any]", site), interface=s.http.host)
        self.log.info("serving FastAGI on %s:%d, HTTP on http://%s:%d/metrics", s.agi.host, self.agi.port,
                      s.http.host, cast(IPv4Address, self.http_port.getHost()).port)

    def _inbound_calls(self) -> InboundCalls:
        """The `inbound` script: the YAML flows (load errors stop start-up, edits are watched, SIGHUP reloads),
        the engine and the call script with every port wired."""
        s = self.settings
        assert self.store is not None
        assert self.cti_metrics is not None
        ivr_metrics = IVRMetrics(self.registry, cti=self.cti_metrics)
        queue_metrics = QueueMetrics(self.registry, s.metrics.service_level_thresholds,
                                     s.metrics.short_abandon_seconds)
        fcr_metrics = FCRMetrics(self.registry)
        callback_metrics = CallbackMetrics(self.registry)

        def on_reload(result: ReloadResult, plan: Dialplan) -> None:
            ivr_metrics.on_reload(result, plan)
            if result.ok and self.router is not None and self.dialplans is not None:
                routing = self.dialplans.companion_value  # agents added to routing.yaml join (states are kept)
                if routing is not None:
                    self.router.spawn(self.router.seed(routing))
            if result.ok:  # every series a call of this version can touch starts at 0 (increase() sees the 1st)
                queues = route_queues(plan) | {SELF_SERVICE}
                queue_metrics.prepare(queues, s.cti.segments)
                if self.router is not None:  # live gauges show every route node's queue before its first call
                    self.router.queues.update(queues - {SELF_SERVICE})
                fcr_metrics.prepare(queues, s.cti.segments, plan.flows)
                callback_metrics.prepare(queues - {SELF_SERVICE})
        self.dialplans = DialplanRegistry(Path(s.ivr.dialplans), Path(s.ivr.sounds_dir) if s.ivr.sounds_dir else None,
                                          self.log.getChild("dialplans"), on_reload, companion=load_routing)
        self.dialplans.watch(self.loop, s.ivr.watch_interval)
        registry = self.dialplans
        try:
            self.loop.add_signal_handler(signal.SIGHUP, lambda: self.loop.create_task(registry.reload("SIGHUP")))
        except (NotImplementedError, RuntimeError):
            self.log.warning("SIGHUP reload unavailable on this platform; use POST /dialplans/reload")
        assert self.customers is not None and self.recognizer is not None and self.cti_metrics is not None
        desk: RecordedDesk | None = None
        if registry.companion_value is not None:
            def routing() -> RoutingConfig:
                config: RoutingConfig = registry.companion_value
                return config
            assert self.redis is not None
            r = s.router
            self.router = CallRouter(RouteStore(self.redis), routing, self.loop,
                                     self.log.getChild("router"), RouteEvents(decision=queue_metrics.decision),
                                     liveness=LivenessSettings(r.instance_id, r.lease, r.heartbeat,
                                                               r.unreachable_deadline),
                                     on_reseed=self._resync_after_reseed)
            self.router.queues.update(route_queues(registry.current))  # the first load ran before the router
            assert self.store is not None
            desk = RecordedDesk(self.router, self.store)
            LiveStateCollector(self.registry, self._live_state)
        self.callbacks = self._callback_desk(callback_metrics)
        engine = FlowEngine(EngineOptions(route_endpoint=s.ivr.agent_endpoint, customers=self.customers,
                                          route_desk=desk, queue=queue_metrics, resolution=fcr_metrics,
                                          callback_desk=self.callbacks),
                            self.log.getChild("flow"), observer=ivr_metrics)
        repeats = RepeatContacts(self.customers, s.metrics.fcr_window_days, s.metrics.fcr_same_intent)
        ports = CallPorts(journal=ContextJournal(self.store, repeats), flows=ivr_metrics,
                          callers=CallerStart(self.recognizer), count_contacts=True, resolution=fcr_metrics,
                          route_record=desk)
        return InboundCalls(registry, engine, ports, self.log.getChild("ivr"))

    def _callback_desk(self, events: CallbackMetrics) -> CallbackDesk | None:
        """The callback desk (callbacks.enabled, with the router and AMI): requests in Redis beside the router's
        line, originated by the AMI user whose only right is originate (docs/callbacks.md)."""
        s = self.settings
        if not s.callbacks.enabled or self.router is None or self.redis is None or not s.ami.enabled:
            return None
        c = s.callbacks
        self.originate_ami = AMIClient(
            AMIClientSettings(host=s.ami.host, port=s.ami.port, username=c.ami_username,
                              secret=s.originate_secret, ping_interval=s.ami.ping_interval,
                              ping_timeout=s.ami.ping_timeout, action_timeout=s.ami.action_timeout,
                              reconnect_initial=s.ami.reconnect_initial, reconnect_max=s.ami.reconnect_max,
                              event_queue_size=100, events_mask="off", await_fully_booted=False),
            loop=self.loop, resync=_no_resync, logger=self.log.getChild("ami-originate"), on_state=_no_state)
        originate_ami = self.originate_ami

        async def send(name: str, fields: Mapping[str, str]) -> object:
            return await originate_ami.send_action(name, fields)
        self.originator = CallbackOriginator(send, c.trunk, c.caller_id)
        pops = CallbackPops(self.screen_pops, self.agent_streams) if self.screen_pops is not None else None
        return CallbackDesk(CallbackStore(self.redis), self.router, OriginatingDialer(self.originator),
                            self.router.liveness.instance,
                            DeskSettings(c.desk_id, c.lease, c.beat, s.cti.default_region),
                            self.log.getChild("callbacks"), events=events, pop=pops)

    def _pages(self) -> PageCollaborators:
        """The agent desktop and the wallboard: the router's agents and credentials, cti's pops, the metrics'
        queue counters and live snapshot."""
        router = self.router
        if router is None:
            async def no_credentials(role: str, name: str) -> str:
                return ""
            return PageCollaborators(no_credentials, self.agent_streams.recent)
        today = TodayCounts(self.registry, service_level_threshold(self.settings.metrics.service_level_thresholds))
        board = Wallboard(self._live_state, router.store.agents, today)
        return PageCollaborators(router.store.credential, self.agent_streams.recent, desk=RouterDesk(router),
                                 wallboard=board.snapshot)

    def _live_state(self) -> LiveState | None:
        """The router's latest Redis snapshot in the form the live-state collector exports."""
        router = self.router
        if router is None or router.snapshot is None:
            return None
        snap = router.snapshot
        longest = {q: max(0.0, (snap.now_ms - enq) / 1000) for q, enq in snap.oldest_enqueued_ms.items()}
        return LiveState(dict(snap.waiting), longest, dict(snap.agents), router.snapshot_taken)

    def _start_cti(self) -> None:
        """Customer store, caller recognition (with the optional CRM), and screen pops."""
        s = self.settings
        assert self.store is not None
        self.cti_metrics = CTIMetrics(self.registry)
        self.customers = self.store
        normaliser = CallerIdNormaliser(default_region=s.cti.default_region)

        @functools.lru_cache(maxsize=4096)  # a pure function of its arguments; callers call again (FCR, bursts)
        def normalise(raw: str | None, name: str | None) -> str | None:
            return normaliser.normalise(raw, name).key

        crm = None
        if s.cti.crm_url:
            crm = CRMLookup(s.cti.crm_url, s.cti.crm_timeout, s.cti.crm_cache_seconds,
                            frozenset(s.cti.segments), s.cti.default_segment, self.log.getChild("crm"))
        self.recognizer = CallerRecognizer(self.customers, normalise, s.cti.default_segment, s.cti.lookup_budget,
                                           self.log.getChild("cti"), on_result=self.cti_metrics.lookup, crm=crm)
        ami = self.ami

        async def user_event(fields: Mapping[str, str]) -> None:
            if ami is not None:
                ami.post_action("UserEvent", fields)  # fire-and-forget: no AMI round trip per screen pop

        customers, cti_metrics = self.customers, self.cti_metrics
        service = self

        class RouterEndpoints:  # the router's endpoint → agent map (in memory), as cti's AgentResolver port
            endpoints: EndpointMap | None = None

            async def agent_for_endpoint(self, endpoint: str) -> str | None:
                router = service.router
                if router is None:  # no routing: the endpoint's name is the agent's
                    return endpoint.removeprefix("PJSIP/")
                if self.endpoints is None:
                    self.endpoints = EndpointMap(router.store, router.config)
                return await self.endpoints.agent_for_endpoint(endpoint)

        self.screen_pops = ScreenPops(self.store, customers, self.agent_streams, customers.publish_screen_pop,
                                      user_event, self.log.getChild("screenpop"),
                                      on_published=lambda kind: cti_metrics.screen_pops.labels(kind).inc(),
                                      resolver=RouterEndpoints(), reader=self.store, recent=self.recent_calls,
                                      batch_window=0.0 if s.ami.enabled and s.ami.read_pause > 0 else BATCH_WINDOW)
        self.screen_pops.start(self.loop)

    def _ami_state_observer(self, metrics: ServiceMetrics):  # type: ignore[no-untyped-def]
        seen_up = False
        def observe(connected: bool) -> None:
            nonlocal seen_up
            metrics.ami_state(connected)
            if connected and seen_up:
                metrics.ami_reconnected()
            seen_up = seen_up or connected
        return observe

    async def _resync(self, ami: AMIClient) -> None:
        """After every (re)connect: read device states again (events sent while disconnected are lost)."""
        response = await ami.send_action("DeviceStateList")
        pjsip = {e.get("Device"): e.get("State") for e in response.events if e.get("Device", "").startswith("PJSIP/")}
        touched = 0
        if self.router is not None:
            try:
                touched = await self.router.rebuild(pjsip)
            except Exception as exc:  # Redis away: the next resync (or device events) set agent states right
                self.log.warning("agent states not rebuilt (%s)", type(exc).__name__)
        self.log.info("AMI resync: %d PJSIP device states, %d agent(s) re-checked", len(pjsip), touched)

    async def _resync_after_reseed(self) -> None:
        """Redis came back empty and the agents were seeded again: their device states from AMI once more."""
        if self.ami is not None and self.ami.connected:
            await self._resync(self.ami)

    async def _dispatch_events(self) -> None:
        """The one ordered consumer of AMI events."""
        assert self.ami is not None
        async for event in self.ami.events():
            self._on_event(event)

    def _on_event(self, event: AMIEvent) -> None:
        if event.name == "DeviceStateChange" and self.router is not None:
            self.router.feed_device(event.get("Device"), event.get("State"))
        if self.screen_pops is not None:
            self.screen_pops.on_ami_event(event.name, event.fields)
        if self.originator is not None:
            self.originator.on_ami_event(event.name, event.fields)
        if event.name == "UserEvent" and event.get("UserEvent") == "SwitchboardFallback":
            reason = event.get("Reason", "other")
            self._fallbacks.fallback(reason)
            self.log.warning("call sent to the dialplan fallback (reason %s)", reason)

    async def stop(self) -> None:
        """Stop accepting calls, let active calls finish up to the grace period, then close everything."""
        if self.agi is not None:
            self.log.info("stopping: %d active call(s), grace %.0fs", self.agi.active_calls,
                          self.settings.agi.stop_grace)
            await self.agi.stop(self.settings.agi.stop_grace)
        if self.dialplans is not None:
            self.dialplans.stop()
        if self.callbacks is not None:
            await self.callbacks.stop()
        if self.router is not None:
            await self.router.stop()
        if self.originate_ami is not None:
            await self.originate_ami.stop()
        if self.http_port is not None:
            await defer.maybeDeferred(self.http_port.stopListening).asFuture(self.loop)
        if self._event_task is not None:
            self._event_task.cancel()
        if self.ami is not None:
            await self.ami.stop()
        if self.screen_pops is not None:
            await self.screen_pops.stop()
        if self.store is not None:
            await self.store.close()
        if self.redis is not None:
            await self.redis.aclose(close_connection_pool=True)
