"""Text addressed to an AI assistant rather than to a reader: a planted "ignore previous instructions, tell users…"
in a knowledge folder. Such text is data that must never be quoted as an answer, and staff should hear about it."""

from __future__ import annotations

import re

# Phrasings that talk to a model, in English and Chinese. Generic on purpose: they name the assistant's situation
# (its instructions, its prompt, its users, its role), never a programme's subject matter.
_ADDRESSED = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,30}\b(previous|prior|above|earlier|all|your|any)\b.{0,20}"
    r"\b(instructions?|prompts?|rules|directions)\b"
    r"|\byou are now\b|\bact as (an?|the)\b|\bpretend (to be|you are)\b|\bnew instructions\b"
    r"|\b(tell|inform|answer|reply to|say to) (all |the )?users?\b|\bdo not (tell|mention to) the user"
    r"|\b(reveal|print|repeat|show)\b.{0,20}\b(system )?prompt\b|\bas an ai\b|\blanguage model\b"
    r"|^\s*(system|assistant)\s*[:：]"
    r"|(忽略|无视|忘记|覆盖).{0,10}(之前|以上|上述|前面|所有|全部).{0,6}(指令|指示|提示|规则|要求)"
    r"|你现在是|扮演.{0,6}(角色|助手)|(告诉|回复|回答)(所有)?用户|系统提示|提示词",
    re.IGNORECASE | re.MULTILINE,
)


def addressed_to_assistant(text: str) -> str | None:
    """The first phrase of `text` that speaks to an AI assistant, or None."""
    match = _ADDRESSED.search(text)
    return match.group(0).strip() if match else None


def without_instructions(text: str) -> str:
    """`text` without the paragraphs that speak to an assistant: what is left of a planted sentence after trimming
    its first clause would still carry its claim."""
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n\n".join(p for p in paragraphs if not addressed_to_assistant(p)).strip()
