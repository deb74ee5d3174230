"""The `identify` node: identify & verify, the caller keys an account number and a secret checked by the store."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchboard.ivr import channel_variables
from switchboard.ivr.nodes.field_checks import TIMEOUT, check_number, check_prompts
from switchboard.ivr.flow_model import NO_PROMPTS, NodeSpec, Prompts, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition
from switchboard.ivr.nodes.prompting import play_prompts, read_keys
from switchboard.ivr.nodes.step import Next, Step

if TYPE_CHECKING:
    from switchboard.ivr.call_ports import CustomerDirectory, CustomerLike


@dataclass(frozen=True)
class IdentifyNode(NodeSpec):
    """The fields of an identify node."""

    WAITS = True

    account_prompt: Prompts = NO_PROMPTS
    secret_prompt: Prompts = NO_PROMPTS
    invalid_prompt: Prompts | None = None
    attempts: int = 3
    account_digits: int = 16
    secret_digits: int = 12
    timeout: float = 5.0
    next: str = ""
    on_failure: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("next", self.next), ("on_failure", self.on_failure))


async def run(spec: IdentifyNode, step: Step) -> Next:
    """The account number (unless caller ID found the customer), then the secret."""
    state, channel = step.state, step.channel
    directory = step.options.customers
    if directory is None:
        step.log.error("identify node %s: no customer store configured", step.node)
        return spec.on_failure
    timeout = spec.timeout
    customer_id = state.customer_id  # caller ID found the customer: only the secret is asked
    found: CustomerLike | None = None
    for _attempt in range(spec.attempts):
        if customer_id is None:
            keys = await read_keys(step, spec.account_prompt, spec.account_digits + 1, timeout, timeout, "#")
            account = keys.rstrip("#")
            found = await _lookup_account(step, directory, account) if account.isdigit() else None
            if found is None:
                step.event("identify_unknown_account")
                await play_prompts(step, spec.invalid_prompt, False)
                continue
            customer_id = found.id
        keys = await read_keys(step, spec.secret_prompt, spec.secret_digits + 1, timeout, timeout, "#")
        if await _verify(step, directory, customer_id, keys.rstrip("#")):
            if found is not None:  # attached as caller-ID recognition does, for later `customer:` conditions
                state.attach_customer(found)
            state.confidence = "verified"
            await step.send_variables({channel_variables.CUSTOMER_ID: customer_id,
                                       channel_variables.CONFIDENCE: "verified",
                                       channel_variables.SEGMENT: state.segment})
            step.event("identify_verified")
            return spec.next
        step.event("identify_wrong_secret")
        await play_prompts(step, spec.invalid_prompt, False)
    step.event("identify_failed")
    return spec.on_failure


async def _lookup_account(step: Step, directory: CustomerDirectory, account: str) -> CustomerLike | None:
    try:
        return await directory.find_by_account(account)
    except Exception as exc:  # the store's trouble: treat as not found, the caller goes on
        step.log.warning("identify: account lookup failed (%s)", type(exc).__name__)
        return None


async def _verify(step: Step, directory: CustomerDirectory, customer_id: str, secret: str) -> bool:
    if not secret.isdigit():
        return False
    try:
        return await directory.verify(customer_id, secret)
    except Exception as exc:
        step.log.warning("identify: verification failed (%s)", type(exc).__name__)
        return False


DEFINITION = KindDefinition(
    name="identify", spec_type=IdentifyNode, run=run,
    summary="Identify & verify: an account number and a secret (PIN), checked against the customer store.",
    fields=(
        FieldRule("account_prompt", check_prompts, True, "prompts", note="required; interruptible"),
        FieldRule("secret_prompt", check_prompts, True, "prompts", note="required; interruptible"),
        FieldRule("invalid_prompt", check_prompts, False, "prompts", default_doc="none",
                  note="after an unknown account or a wrong secret"),
        FieldRule("attempts", check_number(1, 10, integer=True), False, "whole number", "1–10", "3",
                  "unknown accounts and wrong secrets together"),
        FieldRule("account_digits", check_number(4, 32, integer=True), False, "whole number", "4–32", "16",
                  "longest account number"),
        FieldRule("secret_digits", check_number(4, 32, integer=True), False, "whole number", "4–32", "12",
                  "longest secret"),
        FieldRule("timeout", TIMEOUT, False, "seconds", "0.5–60", "5", "for the first key and between keys"),
        FieldRule("next", NODE, True, "node", note="required; verified"),
        FieldRule("on_failure", NODE, True, "node", note="required"),
    ))
