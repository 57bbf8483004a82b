"""Contacts people start: social comments and messages, chats, calls, help-desk tickets."""

from __future__ import annotations

from omnicx.demo import identifiers as ids
from omnicx.demo.campaigns import language
from omnicx.demo.catalog import SOCIAL_COMMENTS, TICKET_SUBJECTS, TICKET_TOPICS
from omnicx.demo.state import PersonState, Touchpoint
from omnicx.demo.timeline import DAY, HOUR, MINUTE

_SOCIAL_LIBRARY = {"name": "kervan-social-listener", "version": "0.9.4"}
_CHAT_LIBRARY = {"name": "kervan-chat-widget", "version": "3.2.1"}
_PHONE_LIBRARY = {"name": "kervan-telephony", "version": "5.0.0"}
_DESK_LIBRARY = {"name": "kervan-helpdesk", "version": "2024.4"}


def social(state: PersonState, instant: float) -> None:
    """A comment under a post, or a direct message to the brand's account."""
    rng, person = state.rng, state.person
    if state.social_id is None:
        platform = "instagram" if rng.random() < 0.7 else "facebook"
        state.social_id = f"{platform}:{ids.digits(rng, 17)}"
    platform = state.social_id.split(":")[0]
    handle = f"{ids.ascii_name(person.name.latin_first)}.{ids.ascii_name(person.name.latin_last)}"
    context = {
        "traits": {"username": f"{handle}{person.serial % 100}", "name": person.name.first},
        "library": _SOCIAL_LIBRARY,
    }
    listener = Touchpoint(state, "social", None, state.social_id, context)
    text = rng.choice(SOCIAL_COMMENTS[language(person.market)])
    if rng.random() < 0.6:
        post = f"post-{rng.randrange(1, 400)}"
        listener.track(
            instant, "Comment Posted", {"platform": platform, "post_id": post, "text": text}
        )
    else:
        conversation = f"dm-{person.serial}"
        listener.track(
            instant,
            "Message Sent",
            {"platform": platform, "conversation_id": conversation, "text": text},
        )


def support(state: PersonState, instant: float) -> None:
    """A customer asks for help on a channel they can use; the help desk often logs a ticket."""
    rng, person = state.rng, state.person
    media = ["email"] if person.email else []
    if person.phone:
        media += ["phone", "phone"]
    if any(d.channel == "web" for d in person.devices):
        media += ["chat", "chat"]
    if state.social_id is not None:
        media.append("social")
    if not media:
        return
    medium = rng.choice(media)
    topic = rng.randrange(len(TICKET_TOPICS))
    if medium == "chat":
        _chat(state, instant, topic)
    elif medium == "phone":
        _call(state, instant, topic)
    elif medium == "social":
        social(state, instant)
    if medium == "email" or rng.random() < 0.6:
        _ticket(state, instant + rng.uniform(1, 30) * MINUTE, topic, medium)


def _chat(state: PersonState, instant: float, topic: int) -> None:
    """The web chat widget: the browser's ids, and the e-mail typed in the pre-chat form."""
    rng, person = state.rng, state.person
    index = rng.choice([i for i, d in enumerate(person.devices) if d.channel == "web"])
    device = person.devices[index]
    traits = {"email": state.typed_email(), "name": person.name.first}
    context = {
        "ip": state.household.home_ip,
        "userAgent": device.user_agent,
        "locale": person.market.language,
        "traits": {k: v for k, v in traits.items() if v},
        "library": _CHAT_LIBRARY,
    }
    anonymous_id = device.anonymous_id(instant)
    widget = Touchpoint(state, "chat", state.signed_in.get(index), anonymous_id, context)
    conversation = f"chat-{state.next_reference()}"
    widget.track(
        instant, "Chat Started", {"conversation_id": conversation, "topic": TICKET_TOPICS[topic]}
    )
    duration = rng.uniform(2, 25) * MINUTE
    ended = {
        "conversation_id": conversation,
        "duration_seconds": round(duration),
        "agent_messages": rng.randrange(2, 12),
    }
    widget.track(instant + duration, "Chat Ended", ended)


def _call(state: PersonState, instant: float, topic: int) -> None:
    """The call centre: caller id in E.164; the agent finds the account half the time."""
    rng, person = state.rng, state.person
    caller = ids.e164(person.market, person.phone or "")
    context = {"traits": {"phone": caller}, "library": _PHONE_LIBRARY}
    recognised = state.user_id if rng.random() < 0.5 else None
    telephony = Touchpoint(state, "phone", recognised, caller, context)
    call = f"call-{state.next_reference()}"
    queue = TICKET_TOPICS[topic]
    telephony.track(
        instant, "Call Started", {"call_id": call, "direction": "inbound", "queue": queue}
    )
    duration = rng.uniform(1, 18) * MINUTE
    telephony.track(
        instant + duration, "Call Ended", {"call_id": call, "duration_seconds": round(duration)}
    )


def _ticket(state: PersonState, instant: float, topic: int, medium: str) -> None:
    """The help desk: its own requester id, the shop account when matched, e-mail or phone."""
    rng, person = state.rng, state.person
    if state.helpdesk_requester is None:
        state.helpdesk_requester = f"zd-{ids.digits(rng, 11)}"
    traits: dict[str, str] = {}
    if medium == "phone" and person.phone:
        traits["phone"] = ids.written_phone(person.market, person.phone, rng.randrange(4))
    elif person.email:
        traits["email"] = ids.written_email(rng, person.email, 0.2)
    user_id = state.user_id if rng.random() < 0.7 else None
    desk = Touchpoint(
        state,
        "support",
        user_id,
        state.helpdesk_requester,
        {"traits": traits, "library": _DESK_LIBRARY},
    )
    ticket = f"T-{state.next_reference()}"
    desk.track(
        instant,
        "Ticket Created",
        {
            "ticket_id": ticket,
            "subject": TICKET_SUBJECTS[language(person.market)][topic],
            "topic": TICKET_TOPICS[topic],
            "via": medium,
            "priority": rng.choice(("low", "normal", "normal", "high")),
        },
    )
    resolved = min(instant + rng.expovariate(1 / (20 * HOUR)) + 10 * MINUTE, instant + 9 * DAY)
    desk.track(
        resolved,
        "Ticket Resolved",
        {
            "ticket_id": ticket,
            "topic": TICKET_TOPICS[topic],
            "resolution_hours": round((resolved - instant) / HOUR, 1),
            "satisfaction": rng.choice(("good", "good", "good", "bad", None)),
        },
    )
