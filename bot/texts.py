"""Every sentence the assistant says to users, one table per language."""

from __future__ import annotations

from knowledge.language import Language

EN: dict[str, str] = {
    "not_found": (
        "I don't know: the programme documents I have don't answer this. Try naming the scheme, "
        "instrument or patent, or ask the GOI Service Centre (service@goi-sample.example.org)."
    ),
    "index_missing": "The knowledge base is not ready yet. Please try again in a few minutes.",
    "store_down": "I can't search the knowledge base right now. Please try again in a minute.",
    "from": "From",
    "row": "row {row}",
    "as_of": "as of",
    "expired": "Note: this policy expired on {date}; check with the Service Centre whether it was renewed.",
    "sources": "Sources",
    "also": "See also",
}

ZH: dict[str, str] = {
    "not_found": (
        "抱歉，我现有的项目文件里没有这个问题的答案。可以换个说法，写明政策、设备或专利的名称，"
        "或联系GOI服务中心（service@goi-sample.example.org）。"
    ),
    "index_missing": "知识库还没有准备好，请几分钟后再试。",
    "store_down": "暂时无法检索知识库，请稍后再试。",
    "from": "出处",
    "row": "第{row}行",
    "as_of": "日期",
    "expired": "注意：该政策已于{date}失效，请向服务中心确认是否延续。",
    "sources": "来源",
    "also": "另见",
}

TEXTS: dict[Language, dict[str, str]] = {"en": EN, "zh": ZH}


def text(language: Language, key: str, **values: object) -> str:
    """The sentence `key` in `language`, with its placeholders filled."""
    return TEXTS[language][key].format(**values)
